"""Events are small immutable values, compared by value."""

from __future__ import annotations

import attrs
import pytest

from asyncframe import NEED_DATA, ConnectionClosed, Data, NeedData, Terminator


def test_events_are_frozen_slotted_attrs_classes() -> None:
    for cls in (Data, Terminator, ConnectionClosed):
        assert attrs.has(cls)
        assert "__slots__" in cls.__dict__
    event = Data(b"x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.data = b"y"  # type: ignore[misc]


def test_events_compare_and_hash_by_value() -> None:
    assert Data(b"abc") == Data(b"abc")
    assert Data(b"abc") != Data(b"abd")
    assert hash(Data(b"abc")) == hash(Data(b"abc"))
    assert Terminator(b"\r\n") == Terminator(b"\r\n")
    assert Terminator(5) != Terminator(b"5")
    assert ConnectionClosed() == ConnectionClosed()
    assert Data(b"x") != Terminator(b"x")


def test_data_must_be_nonempty_bytes() -> None:
    with pytest.raises(ValueError, match=r"Data\.data must not be empty"):
        Data(b"")
    with pytest.raises(TypeError, match=r"Data\.data must be bytes, not str"):
        Data("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Data\.data must be bytes, not bytearray"):
        Data(bytearray(b"x"))  # type: ignore[arg-type]


def test_terminator_holds_bytes_or_int() -> None:
    assert Terminator(0).terminator == 0
    with pytest.raises(TypeError, match=r"Terminator\.terminator must be bytes or int"):
        Terminator("\r\n")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bool"):
        Terminator(True)


def test_need_data_is_a_sentinel_not_an_event() -> None:
    assert repr(NEED_DATA) == "NEED_DATA"
    assert isinstance(NEED_DATA, NeedData)
    assert NEED_DATA is NeedData.NEED_DATA
    assert not attrs.has(type(NEED_DATA))
