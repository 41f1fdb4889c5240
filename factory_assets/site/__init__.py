"""The evidence dashboard: a static site built from the evidence index, published to gh-pages."""
