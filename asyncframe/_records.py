"""Record kinds: terminators that frame length-prefixed records, record after record.

A record kind is set like any terminator and stays in force until another is
set. Each names how a record's payload length is announced; the readers that
parse them live in ``_readers``.
"""

from __future__ import annotations

import struct

import attrs

__all__ = [
    "DEFAULT_MAX_RECORD_SIZE",
    "MAX_DIGITS",
    "DecimalPrefix",
    "MarkedLines",
    "RecordKind",
    "StructPrefix",
]

#: The default ``max_record_size`` of a channel: 16 MiB.
DEFAULT_MAX_RECORD_SIZE = 16 * 1024 * 1024

#: The most digits a decimal length may have (any count below 10**19).
MAX_DIGITS = 19


def _nonempty_bytes(instance: object, attribute: attrs.Attribute[bytes], value: object) -> None:
    if type(value) is not bytes:
        raise TypeError(f"{attribute.name} must be bytes, not {type(value).__name__}")
    if not value and attribute.name != "trailer":
        raise ValueError(f"{attribute.name} must not be empty")


def _to_bytes(value: object) -> object:
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


class RecordKind:
    """Base class of the record kinds: terminators that frame length-prefixed records.

    A record kind stays in force record after record until another terminator
    is set. :meth:`~asyncframe.Channel.frames` yields each record's payload
    (its header and trailer excluded); :meth:`~asyncframe.Channel.next_event`
    reports the payload as :class:`~asyncframe.Data`, then
    ``Terminator(kind)``. A header announcing more than ``max_record_size``
    bytes raises :exc:`~asyncframe.FrameTooLong` at once; a malformed header or
    trailer raises :exc:`~asyncframe.ProtocolError` and leaves the channel in
    its error state.
    """

    __slots__ = ()


@attrs.frozen(slots=True, repr=False)
class StructPrefix(RecordKind):
    """Records of a struct-packed unsigned length, then that many bytes.

    *fmt* is a :mod:`struct` format of one unsigned integer: ``"!I"`` (4 bytes,
    network order), ``">H"``, ``"<Q"``, ``"B"``... The payload is yielded.
    """

    fmt: str = attrs.field()

    @fmt.validator
    def _check_fmt(self, attribute: attrs.Attribute[str], value: object) -> None:
        if type(value) is not str:
            raise TypeError(f"fmt must be a str, not {type(value).__name__}")
        code = value[1:] if value[:1] in ("!", ">", "<", "=", "@") else value
        if code not in ("B", "H", "I", "L", "Q"):
            raise ValueError(
                f"fmt must be one unsigned integer struct format such as '!I', '>H', '<Q' "
                f"or 'B', not {value!r}"
            )

    @property
    def size(self) -> int:
        """The header's length in bytes."""
        return struct.calcsize(self.fmt)

    def __repr__(self) -> str:
        return f"StructPrefix({self.fmt!r})"


@attrs.frozen(slots=True, repr=False)
class DecimalPrefix(RecordKind):
    """Records of a decimal length, a separator, that many bytes, then a trailer.

    The defaults are netstrings (``b"5:hello,"``); ``DecimalPrefix(b"\\r\\n", b"")``
    is a ``%d\\r\\n`` header line before the payload. The length has 1 to 19
    digits. The payload is yielded.
    """

    separator: bytes = attrs.field(default=b":", converter=_to_bytes, validator=_nonempty_bytes)
    trailer: bytes = attrs.field(default=b",", converter=_to_bytes, validator=_nonempty_bytes)

    def __repr__(self) -> str:
        return f"DecimalPrefix(separator={self.separator!r}, trailer={self.trailer!r})"


@attrs.frozen(slots=True, repr=False)
class MarkedLines(RecordKind):
    """Lines, where a line of the marker then a decimal count announces a counted payload.

    Each line (without its line end) is a frame. A line such as ``$5`` (the
    marker, then 1 to 19 digits, then the line end) is not: it announces that
    the next 5 bytes are a payload, followed by a line end; the payload is the
    frame. This is RESP's framing: ``*1\\r\\n$4\\r\\nPING\\r\\n`` yields
    ``b"*1"`` and ``b"PING"``. A marker followed by ``-`` (RESP's null
    ``$-1``) is an ordinary line. Lines are limited by ``max_frame_size``,
    payloads by ``max_record_size``. :meth:`~asyncframe.Channel.next_event`
    ends a line with ``Terminator(line)`` and a payload with ``Terminator(kind)``.
    """

    marker: bytes = attrs.field(default=b"$", converter=_to_bytes, validator=_nonempty_bytes)
    line: bytes = attrs.field(default=b"\r\n", converter=_to_bytes, validator=_nonempty_bytes)

    def __repr__(self) -> str:
        return f"MarkedLines(marker={self.marker!r}, line={self.line!r})"
