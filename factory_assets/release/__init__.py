"""Release requests: the queue model, its file, the state machine, retention and `add_release`."""
