"""A chat room over line-delimited JSON: one JSON object per line, each way.

Run it, then join with the example client (or ``nc``, typing the JSON)::

    python -m examples.json_chat --adapter asyncio --port 7000

    # in two other terminals
    python -m examples.chat_client --port 7000 --name alice
    python -m examples.chat_client --port 7000 --name bob

What a client sends, one object per line (``\\n``-terminated, UTF-8)::

    {"type": "join", "name": "alice"}      first: the name to chat under
    {"type": "say", "text": "hello"}       a message for everyone
    {"type": "who"}                        who is here?

and what it receives: ``{"type": "joined", "name": ...}``, ``{"type": "said",
"name": ..., "text": ...}``, ``{"type": "left", "name": ...}``, ``{"type":
"members", "names": [...]}`` and ``{"type": "error", "error": ...}``.

What it shows: state shared between connections (the room); a server that sends
to other connections than the one that spoke (``member.push``, from any
callback); a per-line size limit; and what to do with a member that stops
reading: its output is bounded (``buffered_output``), past the bound it is
dropped, so one stalled client cannot make the server's memory grow.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from asyncframe import FrameTooLong, Handler

#: The longest line accepted, in bytes.
MAX_LINE = 16 * 1024
#: The most output that may wait for one member; past it the member is dropped.
MAX_QUEUED = 256 * 1024


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line: compact JSON, then ``\\n`` (JSON never holds a raw newline)."""
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


class Room:
    """Who is here, by name."""

    def __init__(self) -> None:
        self.members: dict[str, ChatHandler] = {}

    def broadcast(self, message: dict[str, Any]) -> None:
        line = encode(message)
        for member in list(self.members.values()):
            member.send_line(line)


class ChatHandler(Handler):
    """One member of the room (a member once it has joined)."""

    def __init__(self, room: Room) -> None:
        super().__init__(terminator=b"\n", max_frame_size=MAX_LINE)
        self.room = room
        self.name: str | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.send_line(encode(message))

    def send_line(self, line: bytes) -> None:
        if self.closing:
            return  # leaving: it gets nothing more
        self.push(line)
        if self.buffered_output > MAX_QUEUED:
            # It has stopped reading: drop it, and tell the others.
            self.close()

    def on_frame(self, frame: bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:  # bad JSON or bad UTF-8
            self.send({"type": "error", "error": "each line must be one JSON object"})
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if self.name is None and kind != "join":
            self.send({"type": "error", "error": 'join first: {"type": "join", "name": ...}'})
        elif kind == "join":
            self.join(message.get("name"))
        elif kind == "say" and isinstance(message.get("text"), str):
            self.room.broadcast({"type": "said", "name": self.name, "text": message["text"]})
        elif kind == "who":
            self.send({"type": "members", "names": sorted(self.room.members)})
        else:
            self.send({"type": "error", "error": f"unknown message: {frame[:100]!r}"})

    def join(self, name: object) -> None:
        if self.name is not None:
            self.send({"type": "error", "error": "already joined"})
        elif not isinstance(name, str) or not name.strip() or len(name) > 40:
            self.send({"type": "error", "error": "a name is 1 to 40 characters"})
        elif name in self.room.members:
            self.send({"type": "error", "error": f"{name!r} is taken"})
        else:
            self.name = name
            self.room.members[name] = self
            self.room.broadcast({"type": "joined", "name": name})

    def on_frame_too_long(self, error: FrameTooLong) -> None:
        # The line was dropped; answer, and read on from the next one.
        self.send({"type": "error", "error": f"a line is at most {MAX_LINE} bytes"})

    def on_close(self) -> None:
        # Whoever closed (the client, a drop, a reset): leave the room once.
        if self.name is not None and self.room.members.get(self.name) is self:
            del self.room.members[self.name]
            self.room.broadcast({"type": "left", "name": self.name})


def main(argv: list[str] | None = None) -> int:
    from examples._run import run_server

    room = Room()  # one room, shared by every connection
    return run_server(lambda: ChatHandler(room), __doc__, 7000, argv)


if __name__ == "__main__":
    sys.exit(main())
