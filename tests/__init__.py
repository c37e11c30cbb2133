"""Test suite of llama-tui (a package so that ``tests.fakeserver`` is importable)."""
