"""Screens: the main chat screen, settings, and small modal dialogs."""
