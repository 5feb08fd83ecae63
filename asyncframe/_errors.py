"""The exceptions asyncframe raises for protocol-level problems."""

from __future__ import annotations

__all__ = ["DataAfterEOF", "FrameTooLong", "ProtocolError", "SendAfterClose"]


class ProtocolError(Exception):
    """Base class of the errors asyncframe raises about the byte streams it handles.

    Errors about a bad argument are plain :exc:`TypeError` or :exc:`ValueError`;
    a :exc:`ProtocolError` means the stream itself, or the order of calls, is wrong.
    """


class FrameTooLong(ProtocolError):
    """A frame's payload grew beyond the channel's ``max_frame_size``, or a count
    or a record's header announced more than its ``max_record_size``.

    The offending bytes have been discarded when this is raised, and the rest of
    the frame (through its terminator) is skipped as it arrives, so the channel
    stays usable: catch it to skip the frame, or close the connection.

    :ivar size: for a bytes or tuple terminator, the payload bytes of the frame
        known when it was rejected (complete or not): more than
        ``max_frame_size``, and for an unterminated frame how many more depends on
        how the input was split; for a byte count, the declared count; for a
        record, the size its header announced.
    :ivar limit: the limit that was exceeded.
    :ivar limit_name: which limit it is: ``"max_frame_size"`` or ``"max_record_size"``.
    :ivar max_frame_size: the limit that was exceeded (the same as ``limit``,
        whichever limit it is).
    :ivar complete: true if the whole frame (and its terminator) had arrived and
        was dropped; false if the frame was still incomplete, in which case the
        rest of it, up to and including the next terminator (or the rest of the
        count, or of the record and its trailer), will be skipped too. Always
        false for a record: it is rejected at its header.
    """

    def __init__(
        self,
        size: int,
        max_frame_size: int,
        *,
        complete: bool,
        limit_name: str = "max_frame_size",
    ) -> None:
        self.size = size
        self.limit = self.max_frame_size = max_frame_size
        self.limit_name = limit_name
        self.complete = complete
        state = "complete frame" if complete else "unterminated frame"
        super().__init__(
            f"{state} of {size} bytes exceeds {limit_name}={max_frame_size}; "
            "it was discarded (catch FrameTooLong to skip it, or close the connection)"
        )


class DataAfterEOF(ProtocolError, ValueError):
    """:meth:`Channel.receive_data` was given bytes after it was told of EOF."""


class SendAfterClose(ProtocolError, ValueError):
    """Output was queued after :meth:`Channel.close_when_done` or after a close."""
