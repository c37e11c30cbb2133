"""Entry points of the command line, one module per command (no Textual import here)."""
