"""An echo server for binary records: each a 4-byte big-endian length, then that many bytes.

Run it, then send it records from Python::

    python -m examples.record_echo --adapter asyncio --port 7001

    # in another terminal
    python -c 'import socket, struct
    s = socket.create_connection(("127.0.0.1", 7001))
    s.sendall(struct.pack("!I", 5) + b"hello")
    print(s.recv(100))'

What it shows: a length-prefixed record kind. ``StructPrefix("!I")`` stays the
terminator record after record: each frame is one record's payload (any bytes:
no delimiter to escape), and the length is read in the core, with no terminator
switch per record. ``max_record_size`` bounds what a header may announce: a peer
that announces more is refused at once, before its bytes arrive.
"""

from __future__ import annotations

import struct
import sys

from asyncframe import FrameTooLong, Handler, StructPrefix

#: The largest record accepted (the header could announce up to 4 GiB).
MAX_RECORD = 1 << 20

HEADER = struct.Struct("!I")


def record(payload: bytes) -> bytes:
    """*payload* as a record: its length, then its bytes."""
    return HEADER.pack(len(payload)) + payload


class RecordEcho(Handler):
    """Answers every record with the same record; the replies to one read in one push."""

    def __init__(self) -> None:
        super().__init__(terminator=StructPrefix("!I"), max_record_size=MAX_RECORD)

    def on_frames(self, frames: list[bytes]) -> None:
        self.push(b"".join(record(payload) for payload in frames))

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        # The header announced more than MAX_RECORD: close, sending what was queued.
        self.close_when_done()


def main(argv: list[str] | None = None) -> int:
    from examples._run import run_server

    return run_server(RecordEcho, __doc__, 7001, argv)


if __name__ == "__main__":
    sys.exit(main())
