"""The Python calls one request and its reply cost through the engine: counted, not timed.

A request/response server pays this path for every request, so it is held under a
budget. The count is deterministic (``sys.setprofile`` sees every Python-level call,
generator resumes included); a change that adds a call to the path fails here, and
has to say why it is worth it by raising the budget.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from asyncframe import Driver, Handler, MarkedLines


class EchoFrame(Handler):
    def on_frame(self, frame: bytes) -> None:
        self.push(frame + b"\r\n")


class EchoBatch(Handler):
    def on_frames(self, frames: list[bytes]) -> None:
        self.push(b"".join(frame + b"\r\n" for frame in frames))


class EchoStream(Handler):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []

    def on_data(self, data: bytes) -> None:
        self.parts.append(data)

    def on_terminator(self, terminator: bytes | int) -> None:
        self.push(b"".join(self.parts) + b"\r\n")
        self.parts.clear()


class RespBatch(Handler):
    """RESP framed by a record kind: the ``$len`` headers are read in the core."""

    def __init__(self) -> None:
        super().__init__(terminator=MarkedLines(b"$"))
        self.frames = 0

    def on_frames(self, frames: list[bytes]) -> None:
        # A SET is four frames (*3, SET, key, value): answer each one completed.
        before, self.frames = self.frames, self.frames + len(frames)
        done = self.frames // 4 - before // 4
        if done:
            self.push(b"+OK\r\n" * done)


def python_calls(func: Callable[[], object]) -> list[str]:
    """The Python functions *func* calls (itself excluded), in order."""
    calls: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            calls.append(
                frame.f_code.co_qualname if sys.version_info >= (3, 11) else frame.f_code.co_name
            )

    # A collection during the count would run other objects' finalizers (a
    # transport's __del__ left by an earlier test), and they would be counted.
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    sys.setprofile(profile)
    try:
        func()
    finally:
        sys.setprofile(None)
        if was_enabled:
            gc.enable()
    return calls[1:]  # the first is func itself


SET = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"


def one_request(handler: Handler) -> list[str]:
    """The calls of one request and its reply, on a connection warmed up: a line
    echoed, or for the RESP handler a SET answered."""
    request_bytes, reply = (
        (SET, b"+OK\r\n") if isinstance(handler, RespBatch) else (b"GET key\r\n", b"GET key\r\n")
    )
    driver = Driver(handler)
    driver.start()
    for _ in range(3):  # past the first batches (their windows and sizes settle)
        driver.receive(request_bytes)
        assert driver.take(65536) == reply

    def request() -> None:
        driver.receive(request_bytes)
        assert driver.take(65536) == reply

    return python_calls(request)


# The budgets, each the count of today's path: the engine's own calls (receive,
# dispatch, the style's delivery loop, gathering the replies, take) are about ten;
# the rest is the channel's parse of one line (for on_frames one split of the whole
# read) and the handler's callback and push (for on_frames, its generator too).
@pytest.mark.parametrize(
    ("handler", "budget"),
    [(EchoFrame, 20), (EchoBatch, 20), (EchoStream, 23), (RespBatch, 20)],
    ids=["on_frame", "on_frames", "on_data/on_terminator", "RESP SET via MarkedLines"],
)
def test_one_request_and_its_reply_stay_within_the_call_budget(
    handler: type[Handler], budget: int
) -> None:
    calls = one_request(handler())
    assert len(calls) <= budget, f"{len(calls)} calls (budget {budget}): {calls}"
