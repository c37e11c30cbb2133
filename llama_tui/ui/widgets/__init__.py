"""Widgets, one module per region of the screen. They post messages; screens call the core."""
