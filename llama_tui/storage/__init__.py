"""Conversation files on disk (no UI, no HTTP)."""
