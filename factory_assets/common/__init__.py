"""Small helpers shared by every domain: file I/O, time, errors."""
