"""Tools for testing and fuzzing protocols built on asyncframe.

A sans-IO protocol can be tested without sockets: feed it chunks of bytes and look
at what it did. This module gives you the pieces:

- drivers, :func:`drive_channel` and :func:`drive_handler`, that feed a
  :class:`~asyncframe.Channel` or a :class:`~asyncframe.Handler` a list of chunks
  (then, by default, EOF) and return a :class:`Transcript` of what happened;
- `hypothesis <https://hypothesis.readthedocs.io>`_ strategies,
  :func:`chunkings` (every way to split bytes into ``receive_data`` calls) and
  :func:`terminators`, for property tests such as "my protocol answers the same
  whatever the chunking".

The drivers need nothing beyond asyncframe; the strategies need hypothesis
(``pip install "asyncframe[test]"``).

>>> from asyncframe import Channel
>>> from asyncframe.testing import drive_channel
>>> drive_channel(Channel(b"\\n"), [b"HEL", b"O\\nQU", b"IT\\n"]).frames()
[b'HELO', b'QUIT']
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._channel import Channel
from ._events import Data, Terminator, TerminatorSpec
from ._handler import Handler

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = ["Transcript", "chunkings", "drive_channel", "drive_handler", "terminators"]

_HYPOTHESIS_HINT = 'asyncframe.testing strategies need hypothesis: pip install "asyncframe[test]"'


@attrs.frozen
class Transcript:
    """What a driver saw: the events (or callbacks) in order, the output, the close.

    For :func:`drive_channel`, :attr:`events` holds the channel's events. For
    :func:`drive_handler` it holds one tuple per callback: ``("connect",)``,
    ``("data", bytes)``, ``("terminator", bytes | int)``, ``("eof",)``, ``("close",)``.
    """

    #: The events or callbacks, in order.
    events: tuple[Any, ...]
    #: Every byte the protocol asked to send, in order.
    output: bytes
    #: True if the protocol asked to close (close_when_done() reached, or close()).
    closed: bool

    def frames(self) -> list[bytes]:
        """The payload of each completed frame (the data between terminators)."""
        frames: list[bytes] = []
        current: list[bytes] = []
        for event in self.events:
            if type(event) is Data:
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

    Calls ``on_connect``; feeds each chunk, taking the output after each; stops
    feeding once the handler closes; at the end calls ``on_eof`` (if *eof*) and
    ``on_close``. Returns the transcript of the callbacks and all the output.
    """
    log: list[tuple[Any, ...]] = []

    def record(name: str, method: Callable[..., None]) -> Callable[..., None]:
        def wrapper(*args: Any) -> None:
            log.append((name, *args))
            method(*args)

        return wrapper

    # Instance attributes shadow the methods, so the handler's own dispatch is recorded.
    handler.on_connect = record("connect", handler.on_connect)  # type: ignore[method-assign]
    handler.on_data = record("data", handler.on_data)  # type: ignore[method-assign]
    handler.on_terminator = record("terminator", handler.on_terminator)  # type: ignore[method-assign]
    handler.on_eof = record("eof", handler.on_eof)  # type: ignore[method-assign]
    handler.on_close = record("close", handler.on_close)  # type: ignore[method-assign]
    output = bytearray()
    handler.connection_made()
    output += handler.take_output()
    for chunk in chunks:
        if handler.wants_close:
            break
        handler.data_received(chunk)
        output += handler.take_output()
    closed = handler.wants_close
    if eof and not closed:
        handler.eof_received()
        output += handler.take_output()
    closed = handler.wants_close
    handler.connection_lost()
    return Transcript(tuple(log), bytes(output), closed)


# -- hypothesis strategies ---------------------------------------------------------------


def _strategies() -> Any:
    try:
        from hypothesis import strategies
    except ImportError as exc:
        raise ImportError(_HYPOTHESIS_HINT) from exc
    return strategies


def chunkings(data: bytes, *, max_chunks: int | None = None) -> SearchStrategy[list[bytes]]:
    """A strategy for the ways to split *data* into non-empty chunks, in order.

    Every split is reachable; failures shrink towards fewer, larger chunks.
    Joining the chunks always gives *data* back.
    """
    st = _strategies()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) <= 1:
        return st.just([data] if data else [])  # type: ignore[no-any-return]
    positions = st.sets(
        st.integers(min_value=1, max_value=len(data) - 1),
        max_size=(max_chunks - 1) if max_chunks else len(data) - 1,
    )

    def split(cuts: set[int]) -> list[bytes]:
        bounds = [0, *sorted(cuts), len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds)]

    return positions.map(split)  # type: ignore[no-any-return]


def terminators(
    *,
    alphabet: bytes = b"\r\n.ab",
    max_size: int = 4,
    counts: bool = True,
    none: bool = True,
    tuples: bool = True,
) -> SearchStrategy[TerminatorSpec]:
    """A strategy for terminators as :meth:`~asyncframe.Channel.set_terminator` takes them.

    Non-empty bytes over *alphabet* (so that they overlap each other and
    themselves, where bugs hide), and, as allowed, byte counts, ``None``, and
    tuples of bytes.
    """
    st = _strategies()
    if not alphabet:
        raise ValueError("alphabet must not be empty")
    byte_terms = st.binary(min_size=1, max_size=max_size).map(
        lambda raw: bytes(alphabet[b % len(alphabet)] for b in raw)
    )
    options = [byte_terms, st.sampled_from([b"\r\n", b"\n", b"\r\n.\r\n"])]
    if counts:
        options.append(st.integers(min_value=0, max_value=64))
    if none:
        options.append(st.none())
    if tuples:
        options.append(st.lists(byte_terms, min_size=1, max_size=3).map(tuple))
    return st.one_of(*options)  # type: ignore[no-any-return]
