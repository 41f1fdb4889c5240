"""The `factory` command line: one module per command group, same functions as the assets."""
