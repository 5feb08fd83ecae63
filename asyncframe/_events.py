"""The events a :class:`~asyncframe.Channel` reports, and the ``NEED_DATA`` sentinel."""

from __future__ import annotations

import enum
from typing import Final, Union

import attrs

from ._records import RecordKind

__all__ = ["NEED_DATA", "ConnectionClosed", "Data", "Event", "NeedData", "Terminator"]


def _check_data(instance: object, attribute: attrs.Attribute[bytes], value: object) -> None:
    if type(value) is not bytes:
        raise TypeError(f"Data.data must be bytes, not {type(value).__name__}")
    if not value:
        raise ValueError("Data.data must not be empty")


def _check_terminator(
    instance: object, attribute: attrs.Attribute[bytes | int | RecordKind], value: object
) -> None:
    if isinstance(value, bool) or not isinstance(value, (bytes, int, RecordKind)):
        raise TypeError(
            "Terminator.terminator must be bytes or int (or a record kind), "
            f"not {type(value).__name__}"
        )


@attrs.frozen(slots=True)
class Data:
    """Payload bytes that arrived before the next terminator (never empty).

    One frame's payload may be reported as several :class:`Data` events; only
    the :class:`Terminator` events mark frame boundaries.
    """

    data: bytes = attrs.field(validator=_check_data)


@attrs.frozen(slots=True)
class Terminator:
    """The current terminator was reached.

    :attr:`terminator` is the bytes that matched (for a tuple of terminators,
    the one that matched), for a byte count, the count that completed, and for
    a record kind (:class:`~asyncframe.RecordKind`) the kind whose record ended
    (a :class:`~asyncframe.MarkedLines` line ends with its line end's bytes).
    """

    terminator: bytes | int | RecordKind = attrs.field(validator=_check_terminator)


@attrs.frozen(slots=True)
class ConnectionClosed:
    """The peer closed the stream (EOF) and every buffered byte has been reported."""


class NeedData(enum.Enum):
    """The type of :data:`NEED_DATA`."""

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by :meth:`Channel.next_event` when the buffer holds nothing more to
#: report: feed more bytes with :meth:`Channel.receive_data`, then ask again.
NEED_DATA: Final = NeedData.NEED_DATA

#: Anything :meth:`Channel.next_event` can return that is an event.
Event = Union[Data, Terminator, ConnectionClosed]  # noqa: UP007 - a runtime alias on 3.10

#: A terminator as :meth:`Channel.set_terminator` accepts it.
TerminatorSpec = Union[bytes, int, None, tuple[bytes, ...], RecordKind]  # noqa: UP007
