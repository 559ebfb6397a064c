"""AliECS ids: Sonyflake layout, indigo base58, seeded determinism, uniqueness and order."""

from __future__ import annotations

import pytest

from nomadctl.manifest.expr import UidGenerator
from nomadctl.manifest.expr.uid import decode_uid, encode_base58

ALPHABET = set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
EPOCH = 1257894000


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("number", "text"), [(0, "1"), (57, "z"), (58, "21"), (58 * 58, "211")])
def test_base58_alphabet(number, text):
    assert encode_base58(number) == text


def test_seeded_generators_repeat():
    a = UidGenerator(seed=3)
    b = UidGenerator(seed=3)
    assert [a.new() for _ in range(300)] == [b.new() for _ in range(300)]
    assert UidGenerator(seed=4).new() != UidGenerator(seed=3).new()


def test_ids_look_like_aliecs_ids():
    gen = UidGenerator(seed=1)
    for _ in range(50):
        uid = gen.new()
        assert len(uid) == 11
        assert set(uid) <= ALPHABET


def test_layout_elapsed_sequence_machine():
    clock = Clock(EPOCH + 123.456)
    gen = UidGenerator(clock=clock, machine_id=0xBEEF)
    first, second = gen.new(), gen.new()
    assert decode_uid(first) == (12345, 0, 0xBEEF)
    assert decode_uid(second) == (12345, 1, 0xBEEF)
    clock.now += 0.01
    assert decode_uid(gen.new()) == (12346, 0, 0xBEEF)


def test_unique_and_sorted_through_sequence_overflow_and_clock_skew():
    clock = Clock(1_700_000_000.0)
    gen = UidGenerator(clock=clock, machine_id=7)
    ids = [gen.new() for _ in range(600)]  # 600 ids in one 10 ms tick: borrows two ticks
    clock.now -= 5  # the wall clock steps back
    ids += [gen.new() for _ in range(10)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert decode_uid(ids[256])[1] == 0


def test_seeded_machine_number_comes_from_the_seed():
    assert decode_uid(UidGenerator(seed=0x1234).new())[2] == 0x1234


def test_decode_rejects_garbage():
    with pytest.raises(ValueError, match="invalid character"):
        decode_uid("0OIl")
