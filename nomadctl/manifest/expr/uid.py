"""AliECS identifiers (``common/utils/uid``): Sonyflake numbers in base58, as ``indigo`` makes them.

An id is ``elapsed << 24 | sequence << 16 | machine``, where ``elapsed`` counts 10 ms ticks since
2009-11-10 23:00:00 UTC, ``sequence`` numbers ids within a tick and ``machine`` identifies the host
(two bytes of ``/etc/machine-id``, 42 when unreadable, as AliECS does). Encoded with the Bitcoin
base58 alphabet that gives 11 characters such as ``2oDvieFrVTi``, which sort like the numbers.

Seeded generators are deterministic (golden tests, reproducible renders): a fixed virtual clock
and a machine number derived from the seed. Unseeded ones follow the wall clock; when more than
256 ids are needed in one tick they borrow the next tick instead of sleeping like Sonyflake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["UidGenerator", "decode_uid", "encode_base58"]

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_EPOCH = 1257894000  # indigo.StartTime in AliECS: "Go epoch"
_TICK = 0.01
_SEQUENCE_BITS = 8
_MACHINE_BITS = 16
_TIME_BITS = 39
# the virtual clock of seeded generators starts at 2024-01-01T00:00:00Z
_SEEDED_START_TICK = int((1704067200 - _EPOCH) / _TICK)


def encode_base58(number: int) -> str:
    """indigo's base58 (most significant digit first; 0 is ``"1"``)."""
    if number == 0:
        return _ALPHABET[0]
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def decode_uid(text: str) -> tuple[int, int, int]:
    """(elapsed ticks, sequence, machine) of an id; raises ``ValueError`` on a malformed one."""
    number = 0
    for ch in text:
        digit = _ALPHABET.find(ch)
        if digit < 0 or not text:
            raise ValueError(f"base58: invalid character = {ch}")
        number = number * 58 + digit
    if not text or number >= 1 << 63:
        raise ValueError(f"not an AliECS id: {text!r}")
    return number >> 24, (number >> 16) & 0xFF, number & 0xFFFF


def _machine_id_from_host() -> int:
    """Two bytes of the machine id, as AliECS reads them (the UUID's NodeID, first two bytes)."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            text = Path(path).read_text(encoding="ascii").strip().replace("-", "")
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) == 32:
            try:
                return int(text[20:24], 16)
            except ValueError:
                continue
    return 42


class UidGenerator:
    """Makes AliECS ids (``uid.New()`` in templates, environment ids).

    ``UidGenerator(seed)`` is deterministic: the same seed yields the same sequence. Without a seed
    the ids follow ``clock`` (seconds, default ``time.time``) on ``machine_id`` (default: from
    ``/etc/machine-id``); ids from one generator are unique and sort in creation order.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        clock: Callable[[], float] | None = None,
        machine_id: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._seeded = seed is not None
        if seed is not None:
            self._machine = (seed if machine_id is None else machine_id) & 0xFFFF
            start = _SEEDED_START_TICK + ((seed >> _MACHINE_BITS) % (1 << 20)) * 1000
            self._clock: Callable[[], float] = lambda: _EPOCH + start * _TICK
        else:
            self._machine = (_machine_id_from_host() if machine_id is None else machine_id) & 0xFFFF
            self._clock = clock or time.time
        self._elapsed = -1
        self._sequence = (1 << _SEQUENCE_BITS) - 1

    def new(self) -> str:
        """A new id, e.g. ``2oDvieFrVTi``."""
        with self._lock:
            now = int((self._clock() - _EPOCH) / _TICK)
            if now > self._elapsed:
                self._elapsed = now
                self._sequence = 0
            else:
                self._sequence = (self._sequence + 1) & ((1 << _SEQUENCE_BITS) - 1)
                if self._sequence == 0:
                    # the tick is used up: borrow the next one (Sonyflake would sleep)
                    self._elapsed += 1
            elapsed = self._elapsed % (1 << _TIME_BITS)
            number = (
                elapsed << (_SEQUENCE_BITS + _MACHINE_BITS) | self._sequence << _MACHINE_BITS | self._machine
            )
        return encode_base58(number)
