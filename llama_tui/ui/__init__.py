"""The Textual app: the only package that imports textual. It calls the core; never HTTP or files directly."""
