"""The readers, one per terminator kind: where payload ends, what is held back, what matched."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncframe import Channel, Data, Terminator, find_prefix_at_end
from asyncframe._readers import READERS, BytesReader, CountReader, RawReader, TupleReader, held_back


def test_the_reader_is_picked_by_the_terminator_kind() -> None:
    assert type(READERS[bytes](b"\n")) is BytesReader
    assert type(READERS[tuple]((b"\n",))) is TupleReader
    assert type(READERS[int](3)) is CountReader
    assert type(READERS[type(None)](None)) is RawReader


def test_a_tuple_holds_back_at_most_its_longest_alternative_minus_one() -> None:
    ch = Channel((b"\n", b"<END>"))
    ch.receive_data(b"abc<END")
    assert list(ch.events()) == [Data(b"abc")]
    assert ch.buffered_input == 4  # len(b"<END>") - 1
    ch.receive_data(b">x\n")
    assert list(ch.events()) == [Terminator(b"<END>"), Data(b"x"), Terminator(b"\n")]


def test_bytes_reader_scan_is_repeatable_and_holds_back_a_prefix() -> None:
    reader = BytesReader(b"\r\n")
    data = bytearray(b"ab\r")
    assert reader.scan(data, 0, 3, False) == (2, -1, None)
    assert reader.scan(data, 0, 3, False) == (2, -1, None)  # scanning consumes nothing
    assert reader.scan(data, 0, 3, True) == (3, -1, None)  # at EOF nothing is held back
    data += b"\n"
    assert reader.scan(data, 0, 4, False) == (2, 4, Terminator(b"\r\n"))


def test_count_reader_reports_the_bytes_still_expected() -> None:
    reader = CountReader(5)
    data = bytearray(b"abc")
    assert reader.spec(0) == 5
    assert reader.scan(data, 0, 3, False) == (3, -1, None)
    assert reader.spec(3) == 2
    assert CountReader(0).scan(data, 1, 3, False) == (1, 1, Terminator(0))


@settings(max_examples=300)
@given(
    haystack=st.binary(max_size=40).map(lambda b: bytes(b"ab"[x % 2] for x in b)),
    needle=st.binary(min_size=1, max_size=8).map(lambda b: bytes(b"ab"[x % 2] for x in b)),
)
def test_held_back_is_the_classic_find_prefix_at_end(haystack: bytes, needle: bytes) -> None:
    """The automaton agrees with the naive definition (asynchat's loop)."""
    naive = len(needle) - 1
    while naive and not haystack.endswith(needle[:naive]):
        naive -= 1
    assert held_back(haystack, 0, len(haystack), needle) == naive
    assert find_prefix_at_end(haystack, needle) == naive


@settings(max_examples=200)
@given(
    data=st.binary(max_size=60).map(lambda b: bytes(b"ab"[x % 2] for x in b)),
    term=st.binary(min_size=1, max_size=6).map(lambda b: bytes(b"ab"[x % 2] for x in b)),
    step=st.integers(min_value=1, max_value=7),
)
def test_bytes_reader_finds_the_first_match_whatever_the_steps(
    data: bytes, term: bytes, step: int
) -> None:
    """Fed *step* bytes at a time (the automaton and the find paths), the first match is found."""
    reader = BytesReader(term)
    buf = bytearray()
    found = -1
    for end in range(step, len(data) + step, step):
        buf[:] = data[:end]
        pay_end, term_end, _ = reader.scan(buf, 0, len(buf), False)
        if term_end >= 0:
            found = pay_end
            break
        assert len(buf) - pay_end <= len(term) - 1
    assert found == data.find(term)
