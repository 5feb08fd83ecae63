"""What the adapters do with the exceptions a broken connection raises."""

from __future__ import annotations

__all__ = ["drop_tracebacks"]


def drop_tracebacks(exc: BaseException) -> None:
    """Clear the traceback of *exc* and of every exception chained to it.

    A peer fault caught from a stream chains the socket's error, whose traceback
    holds the frames of the calls that raised it (one of which may hold the error
    itself: a cycle), and so the connection's runner, driver and handler, until the
    cyclic collector runs. Seen on trio, and on anyio's backends, under TLS too.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        chained = todo.pop()
        if chained is not None and id(chained) not in seen:
            seen.add(id(chained))
            chained.__traceback__ = None
            todo += (chained.__cause__, chained.__context__)
