"""Keep tokens out of logs: every client registers its token here, and a filter masks it.

The clients never format a token into a message in the first place (they log method, path,
status and timings); this filter is the second line, for text that reaches a log from elsewhere
(an error body that echoes a header, a library's debug line). It sits on the ``nomadctl.clients``
logger and on the HTTP libraries' loggers.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["MASK", "RedactingFilter", "register_secret"]

MASK = "<redacted>"
_LOGGERS = ("nomadctl.clients", "httpx", "httpcore", "urllib3", "hvac", "consul")


class RedactingFilter(logging.Filter):
    """Replaces every registered secret in a record's message (and arguments) by ``MASK``."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Mask ``secret`` from now on (empty strings are ignored)."""
        if secret:
            with self._lock:
                self._secrets = self._secrets | {secret}

    def redact(self, text: str) -> str:
        """``text`` with every registered secret masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


REDACTOR = RedactingFilter()
for _name in _LOGGERS:
    logging.getLogger(_name).addFilter(REDACTOR)


def register_secret(secret: str | None) -> None:
    """Have ``secret`` (a token) masked in every log record of the clients and HTTP libraries."""
    if secret:
        REDACTOR.add(secret)
