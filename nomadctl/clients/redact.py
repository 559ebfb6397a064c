"""Keep tokens out of logs: every client registers its token here, and a filter masks it.

The clients never format a token into a message in the first place (they log method, path,
status and timings); this filter is the second line, for text that reaches a log from elsewhere
(an error body that echoes a header, a library's debug line). It runs when a log record is
created (a record factory), so it covers every logger — child loggers such as
``httpcore.http11`` included, whose records a logger-level filter on ``httpcore`` would never see
— whatever handlers the application installs.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["MASK", "RedactingFilter", "register_secret"]

MASK = "<redacted>"
# Shorter strings are not plausible tokens and masking them would garble every message (a
# one-letter "secret" masks each occurrence of that letter); Vault's dev "root" still counts.
MIN_SECRET_LENGTH = 4


class RedactingFilter(logging.Filter):
    """Replaces every registered secret in a record's message (and arguments) by ``MASK``."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Mask ``secret`` from now on (strings shorter than ``MIN_SECRET_LENGTH`` are ignored)."""
        if len(secret) >= MIN_SECRET_LENGTH:
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
_make_record = logging.getLogRecordFactory()


def _redacting_record_factory(*args: object, **kwargs: object) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    REDACTOR.filter(record)
    return record


logging.setLogRecordFactory(_redacting_record_factory)


def register_secret(secret: str | None) -> None:
    """Have ``secret`` (a token) masked in every log record of the clients and HTTP libraries."""
    if secret:
        REDACTOR.add(secret)
