"""The secrets this process has seen (keys, secret header values) and the logging filter that
keeps them out of the log file."""

from __future__ import annotations

import logging

from llama_tui.client.events import KEY_HIDDEN
from llama_tui.model import Endpoint

#: Every key this process has used, so that log records can be scrubbed of them.
_KEYS_USED: set[str] = set()


class HideKeys(logging.Filter):
    """Replaces every key this process has used in a log record: message, arguments and
    traceback (an exception message can quote a header, key included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _KEYS_USED:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for key in _KEYS_USED:
            text = text.replace(key, KEY_HIDDEN)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(key, KEY_HIDDEN)
        record.msg, record.args = text, None
        return True


def hide_keys_in_logs(logger: str = "llama_tui") -> None:
    """Put `HideKeys` on every handler of the app's logger (the log file)."""
    for handler in logging.getLogger(logger).handlers:
        if not any(isinstance(f, HideKeys) for f in handler.filters):
            handler.addFilter(HideKeys())


def remember_secrets(endpoint: Endpoint) -> Endpoint:
    """Register the endpoint's key and secret header values with `HideKeys`."""
    for secret in endpoint.secrets():
        if len(secret.strip()) >= 4:
            _KEYS_USED.update({secret, secret.strip()})
    return endpoint
