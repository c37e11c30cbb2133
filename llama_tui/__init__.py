"""llama-tui: a terminal chat client for Llama 2 and OpenAI-compatible endpoints.

Importing this package must stay cheap and must not import Textual.
"""

__version__ = "0.1.0"
