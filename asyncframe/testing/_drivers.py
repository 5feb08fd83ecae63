"""Drivers that run a Channel or a Handler on chunks of bytes, without I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from asyncframe import Channel, Data, Driver, Handler, Terminator
from asyncframe.adapters._checks import DEFAULT_HIGH_WATER

__all__ = ["Transcript", "drive_channel", "drive_handler"]


@attrs.frozen
class Transcript:
    """What a driver saw: the events (or callbacks) in order, the output, the close.

    For :func:`drive_channel`, :attr:`events` holds the channel's events. For
    :func:`drive_handler` it holds one tuple per callback: ``("connect",)``,
    ``("data", bytes)``, ``("terminator", bytes | int)``, ``("frame", bytes)``,
    ``("frames", list[bytes])``, ``("frame_too_long", FrameTooLong)``, ``("eof",)``,
    ``("close",)``.

    Its fields (``help()`` lists them here; they are read-only):

    - ``events``: the events or callbacks, in order;
    - ``output``: every byte the protocol asked to send, in order;
    - ``closed``: whether the connection was over at the end of the run. For
      :func:`drive_handler`: true once the handler closed
      (:meth:`~asyncframe.Handler.close_when_done` reached, or
      :meth:`~asyncframe.Handler.close`), a callback raised, or the peer's EOF
      was handled (a connection closes once its output after ``on_eof`` is
      sent); false only if it would stay open for more input. For
      :func:`drive_channel`: true if :meth:`~asyncframe.Channel.close_when_done`
      was reached (a channel makes no decision at EOF, its owner does).
    """

    #: The events or callbacks, in order.
    events: tuple[Any, ...]
    #: Every byte the protocol asked to send, in order.
    output: bytes
    #: Whether the connection was over at the end of the run (see above).
    closed: bool

    def frames(self) -> list[bytes]:
        """The payload of each completed frame (the data between terminators).

        For a handler in the whole-frame style, the frames its ``on_frame`` got.
        """
        frames: list[bytes] = []
        current: list[bytes] = []
        for event in self.events:
            if isinstance(event, tuple) and event[0] == "frame":
                frames.append(event[1])
            elif type(event) is Data:
                current.append(event.data)
            elif type(event) is Terminator:
                frames.append(b"".join(current))
                current.clear()
            elif isinstance(event, tuple) and event[0] == "data":
                current.append(event[1])
            elif isinstance(event, tuple) and event[0] == "terminator":
                frames.append(b"".join(current))
                current.clear()
        return frames

    def tail(self) -> bytes:
        """The data reported after the last terminator (an unterminated tail)."""
        current: list[bytes] = []
        for event in self.events:
            if type(event) is Terminator or (isinstance(event, tuple) and event[0] == "terminator"):
                current.clear()
            elif type(event) is Data:
                current.append(event.data)
            elif isinstance(event, tuple) and event[0] == "data":
                current.append(event[1])
        return b"".join(current)


def drive_channel(
    channel: Channel,
    chunks: Sequence[bytes],
    *,
    eof: bool = True,
    on_event: Callable[[Channel, Any], None] | None = None,
) -> Transcript:
    """Feed *chunks* (then EOF, unless *eof* is false) to *channel*; return the transcript.

    After each chunk every event the channel has is read. *on_event*, if given, is
    called with the channel and each event as it comes, so it can react as a
    protocol would (change the terminator, push a reply).
    """
    events: list[Any] = []

    def drain() -> None:
        for event in channel.events():
            events.append(event)
            if on_event is not None:
                on_event(channel, event)

    for chunk in chunks:
        channel.receive_data(chunk)
        drain()
    if eof:
        channel.receive_data(b"")
        drain()
    output = channel.data_to_send()
    return Transcript(tuple(events), output, channel.wants_close)


def drive_handler(handler: Handler, chunks: Sequence[bytes], *, eof: bool = True) -> Transcript:
    """Run *handler* as an adapter would, on *chunks* (then EOF unless *eof* is false).

    The handler runs under the same :class:`~asyncframe.Driver` as on every
    adapter: ``on_connect``, then each chunk, taking all the output after each (a
    peer that reads everything); feeding stops once the handler closes or a
    callback raised (the exception is logged, as an adapter would); then EOF (if
    *eof*) and ``on_close``. Returns the transcript of the callbacks, all the
    output, and whether the connection was over.
    """
    log: list[tuple[Any, ...]] = []

    def record(name: str, method: Callable[..., None]) -> Callable[..., None]:
        def wrapper(*args: Any) -> None:
            log.append((name, *(list(arg) if name == "frames" else arg for arg in args)))
            method(*args)

        return wrapper

    # Instance attributes shadow the methods, so the handler's own dispatch is recorded.
    for name in ("connect", "data", "terminator", "frame", "frames", "frame_too_long", "eof"):
        setattr(handler, f"on_{name}", record(name, getattr(handler, f"on_{name}")))
    handler.on_close = record("close", handler.on_close)  # type: ignore[method-assign]
    driver = Driver(handler, high_water=DEFAULT_HIGH_WATER)
    output = bytearray()

    def take_all() -> None:
        # Taking output lets input held back by high_water be dispatched: repeat.
        while data := driver.take(None):
            output.extend(data)

    driver.start()
    take_all()
    for chunk in chunks:
        if driver.aborting or handler.closing:
            break
        driver.receive(chunk)
        take_all()
    if eof and not (driver.aborting or handler.closing):
        driver.receive(b"")
        take_all()
    # Over: aborting, or draining with nothing left to send (a close the handler
    # asked for, a failure, or the peer's EOF after on_eof).
    closed = driver.finished
    driver.lost()
    return Transcript(tuple(log), bytes(output), closed)
