"""The selectors adapter over real loopback sockets."""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asyncframe import Handler
from asyncframe.adapters.selectors import Loop

from .conftest import (
    TIMEOUT,
    Flood,
    check_accept_backoff,
    connect,
    idle_memory,
    many_requests_in_one_send,
    read_exactly,
    read_until_eof,
    wait_for,
    wait_steady,
)
from .handlers import BigReplies, LineHandler


class Server:
    """A Loop serving a Handler class in its own thread; records every handler."""

    def __init__(self, factory: Callable[[], Handler], **options: Any) -> None:
        self.handlers: list[Handler] = []

        def make() -> Handler:
            handler = factory()
            self.handlers.append(handler)
            return handler

        self.loop = Loop()
        self.host, self.port = self.loop.listen(make, "127.0.0.1", 0, **options)
        self.thread = threading.Thread(target=self.loop.run, kwargs={"timeout": 60})
        self.thread.start()

    def close(self) -> None:
        self.loop.stop()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "Loop.run() did not return after stop()"
        self.loop.close()


@pytest.fixture
def line_server() -> Iterator[Server]:
    server = Server(LineHandler)
    yield server
    server.close()


def test_one_byte_at_a_time(line_server: Server) -> None:
    with connect(line_server.port) as sock:
        for byte in b"ECHO hello\nBLOB 3\nxyz":
            sock.sendall(bytes([byte]))
        assert read_exactly(sock, 6) == b"hello\n"
        assert read_exactly(sock, len(b"GOT 3 363\n")) == b"GOT 3 363\n"


def test_close_when_done_sends_everything_first(line_server: Server) -> None:
    with connect(line_server.port) as sock:
        sock.sendall(b"ECHO one\nQUIT\nECHO ignored\n")
        assert read_until_eof(sock) == b"one\nBYE\n"


def test_close_after_close_when_done_ends_a_connection_whose_peer_does_not_read(
    line_server: Server,
) -> None:
    # close() means now, also after close_when_done() while the reply waits for a
    # peer that reads nothing (the socket's buffers full).
    with connect(line_server.port) as sock:
        sock.sendall(b"BIG 20000000\nQUIT\n")
        assert wait_for(lambda: bool(line_server.handlers))
        handler = line_server.handlers[0]
        assert isinstance(handler, LineHandler)
        assert wait_for(lambda: handler.lines == [b"BIG 20000000", b"QUIT"])
        assert not handler.closed
        line_server.loop.call_soon_threadsafe(handler.close)
        assert wait_for(lambda: handler.closed)


def test_backpressure_does_not_pull_a_large_producer_at_once(line_server: Server) -> None:
    size = 50_000_000
    with connect(line_server.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"BIG %d\n" % size)
        assert wait_for(lambda: line_server.handlers and line_server.handlers[0].pulled > 0)
        threading.Event().wait(0.5)  # the client reads nothing for a while
        pulled_while_paused = line_server.handlers[0].pulled
        assert pulled_while_paused < size // 5
        data = read_exactly(sock, size + 1)
    assert len(data) == size + 1
    assert data.count(b"x") == size
    assert data.endswith(b"\n")


@pytest.mark.slow
def test_a_peer_that_sends_without_reading_is_read_on_with_its_input_held() -> None:
    high_water = 65536
    server = Server(LineHandler, high_water=high_water)
    try:
        flood = Flood(server.port)
        # The replies pile up to the mark (the server holds its input there) ...
        assert wait_for(
            lambda: bool(server.handlers) and server.handlers[0].peak_buffered > high_water
        )
        handler = server.handlers[0]
        assert isinstance(handler, LineHandler)
        flood.drain()
        # ... and never further than one reply past it while the peer did not read:
        # no input is dispatched above it.
        assert high_water < handler.peak_buffered <= high_water + 1024
        assert len(handler.lines) == len(flood.payloads)
    finally:
        server.close()


class Client(LineHandler):
    """Sends two commands once connected; stops its loop when closed."""

    def __init__(self, loop: Loop) -> None:
        super().__init__()
        self.loop = loop

    def on_connect(self) -> None:
        super().on_connect()
        self.push(b"ECHO ECHO ping\nECHO QUIT\n")

    def on_close(self) -> None:
        super().on_close()
        self.loop.stop()


def test_client_side_connect_and_stop() -> None:
    with Loop() as loop:
        _, port = loop.listen(LineHandler, "127.0.0.1", 0)
        client = Client(loop)
        loop.connect(client, "127.0.0.1", port)
        loop.run(timeout=TIMEOUT)
    # The client echoes the server's replies back as commands: "ping" -> ERR, QUIT -> BYE.
    assert client.lines[:2] == [b"ECHO ping", b"QUIT"]
    assert client.events[0] == "connect"
    assert client.events[-1] == "close"


def test_connection_refused_calls_on_close() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    handler = LineHandler()
    with Loop() as loop:
        loop.connect(handler, "127.0.0.1", port)
        loop.run(timeout=TIMEOUT)
    assert handler.events == ["close"]


def test_push_from_a_timer_is_sent() -> None:
    class Ticker(LineHandler):
        def on_connect(self) -> None:
            super().on_connect()
            loop.call_later(0.05, lambda: self.push(b"tick\n"))

    with Loop() as loop:
        _, port = loop.listen(Ticker, "127.0.0.1", 0)
        thread = threading.Thread(target=loop.run, kwargs={"timeout": TIMEOUT})
        thread.start()
        try:
            with connect(port) as sock:
                assert read_exactly(sock, 5) == b"tick\n"
        finally:
            loop.stop()
            thread.join(TIMEOUT)


def test_run_returns_when_no_socket_remains() -> None:
    with Loop() as loop:
        loop.run(timeout=TIMEOUT)  # nothing to do: returns at once
        assert loop.connections == 0


def test_bad_arguments() -> None:
    with Loop() as loop:
        with pytest.raises(ValueError, match="read_size must be > 0"):
            loop.listen(LineHandler, "127.0.0.1", 0, read_size=0)
        with pytest.raises(TypeError, match="backlog must be an int"):
            loop.listen(LineHandler, "127.0.0.1", 0, backlog="big")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="high_water must be > 0"):
            loop.listen(LineHandler, "127.0.0.1", 0, high_water=-1)
        with pytest.raises(ValueError, match="idle_timeout must be > 0"):
            loop.listen(LineHandler, "127.0.0.1", 0, idle_timeout=0)
        with pytest.raises(TypeError, match="handler must be a Handler"):
            loop.connect(object(), "127.0.0.1", 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="handler_factory must be callable"):
            loop.listen(None, "127.0.0.1", 0)  # type: ignore[arg-type]
        assert not loop._listeners  # nothing was half set up
    with pytest.raises(RuntimeError, match="closed"):
        loop.run()


@pytest.mark.parametrize(
    ("port", "error", "message"),
    [
        (-1, ValueError, "port must be from 0 to 65535"),
        (65536, ValueError, "port must be from 0 to 65535"),
        ("abc", TypeError, "port must be an int from 0 to 65535, not str"),
        ("0", TypeError, "port must be an int from 0 to 65535, not str"),
        (True, TypeError, "port must be an int from 0 to 65535, not bool"),
    ],
)
def test_a_bad_port_is_named(port: object, error: type[Exception], message: str) -> None:
    with Loop() as loop:
        with pytest.raises(error, match=message):
            loop.listen(LineHandler, "127.0.0.1", port)  # type: ignore[arg-type]
        with pytest.raises(error, match=message):
            loop.connect(LineHandler(), "127.0.0.1", port)  # type: ignore[arg-type]
        assert not loop._listeners
        assert loop.connections == 0


@pytest.mark.parametrize(
    ("timeout", "error", "message"),
    [
        ("1", TypeError, "timeout must be a number of seconds or None, not str"),
        (-1, ValueError, "timeout must be >= 0 seconds, not -1"),
        (float("nan"), ValueError, "timeout must be >= 0 seconds, not nan"),
    ],
)
def test_a_bad_run_timeout_is_named(timeout: object, error: type[Exception], message: str) -> None:
    with Loop() as loop:
        loop.call_soon(loop.stop)
        with pytest.raises(error, match=message):
            loop.run(timeout=timeout)  # type: ignore[arg-type]
        loop.run(timeout=TIMEOUT)  # unchanged: the callback is still there, and stops it


# -- hardening ---------------------------------------------------------------------------


def test_high_water_bounds_the_output_of_one_read() -> None:
    server = Server(BigReplies, high_water=65536)
    try:
        with many_requests_in_one_send(server.port) as sock:
            assert wait_for(lambda: server.handlers and server.handlers[0].requests > 0)
            handler = server.handlers[0]
            assert isinstance(handler, BigReplies)
            # The peer reads nothing: the server stops at the mark plus one reply,
            # once the socket's buffers are full (the server thread runs meanwhile).
            assert wait_steady(lambda: (handler.requests, handler.buffered_output))
            first = handler.requests
            sock.recv(1)  # the reader takes one byte: nothing more may be dispatched
            assert handler.peak <= 65536 + BigReplies.REPLY
            assert handler.requests == first < 200
    finally:
        server.close()


def test_stop_before_run_is_not_lost() -> None:
    with Loop() as loop:
        loop.listen(LineHandler, "127.0.0.1", 0)
        loop.stop()
        thread = threading.Thread(target=loop.run)
        thread.start()
        thread.join(TIMEOUT)
        returned = not thread.is_alive()
        if not returned:
            loop.stop()
            thread.join(TIMEOUT)
        assert returned, "run() ignored the stop() made before it"
        loop.run(timeout=0)  # a later run() is not stopped by the old stop()


def test_stop_from_another_thread_ends_run() -> None:
    with Loop() as loop:
        loop.listen(LineHandler, "127.0.0.1", 0)  # something to wait for, for ever
        running = threading.Event()
        loop.call_soon(running.set)
        stopper = threading.Thread(target=lambda: running.wait(TIMEOUT) and loop.stop())
        stopper.start()
        finished = threading.Event()

        def run() -> None:
            loop.run(timeout=2 * TIMEOUT)  # bounded, in case stop() were lost
            finished.set()

        runner = threading.Thread(target=run)
        runner.start()
        assert running.wait(TIMEOUT)
        stopper.join(TIMEOUT)
        # run() returns because of stop(), well before its own timeout.
        assert finished.wait(TIMEOUT), "stop() from another thread did not end run()"
        runner.join(TIMEOUT)


def _sleeps_in_epoll(native_id: int) -> bool:
    with open(f"/proc/self/task/{native_id}/wchan") as wchan:
        return "epoll" in wchan.read()


@pytest.mark.skipif(
    not os.path.exists(f"/proc/self/task/{threading.get_native_id()}/wchan"),
    reason="needs Linux's /proc to see the loop asleep in epoll_wait",
)
def test_a_signal_whose_handler_stops_the_loop_wakes_it_up() -> None:
    # Python runs a signal's handler in the main thread, between bytecodes. When the
    # signal arrives just before the main thread enters epoll_wait (or in another
    # thread, as here, deterministically), nothing interrupts the wait: only a write
    # to the signal wakeup fd wakes the loop up to run the handler.
    main = threading.get_native_id()
    returned = threading.Event()
    fallback: list[str] = []

    with Loop() as loop:
        loop.listen(LineHandler, "127.0.0.1", 0)  # something to wait for, for ever

        def signaller() -> None:
            if wait_for(lambda: _sleeps_in_epoll(main)):
                signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
            if not returned.wait(TIMEOUT):
                fallback.append("stop() from a thread")  # so that the test ends
                loop.stop()

        previous = signal.signal(signal.SIGUSR1, lambda signum, frame: loop.stop())
        thread = threading.Thread(target=signaller)
        thread.start()
        try:
            loop.run()
        finally:
            returned.set()
            thread.join(TIMEOUT)
            signal.signal(signal.SIGUSR1, previous)
    assert not fallback, "the signal did not wake run() up: its handler waited for another event"
    # The previous wakeup fd (none) is back once run() returns.
    assert signal.set_wakeup_fd(-1) == -1


def test_run_waits_for_pending_timers() -> None:
    fired: list[str] = []
    with Loop() as loop:
        loop.call_later(0.01, lambda: fired.append("first"))
        cancelled = loop.call_later(0.01, lambda: fired.append("cancelled"))
        cancelled.cancel()
        loop.run(timeout=TIMEOUT)
    assert fired == ["first"]


def test_listen_on_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    with Loop() as loop:
        host, port = loop.listen(LineHandler, "::1", 0)
        assert host == "::1"
        thread = threading.Thread(target=loop.run, kwargs={"timeout": TIMEOUT})
        thread.start()
        try:
            with socket.create_connection(("::1", port), timeout=TIMEOUT) as sock:
                sock.sendall(b"ECHO six\n")
                assert read_exactly(sock, 4) == b"six\n"
        finally:
            loop.stop()
            thread.join(TIMEOUT)


def test_default_backlog_holds_a_burst_of_1000_connects() -> None:
    with Loop() as loop:
        _, port = loop.listen(LineHandler, "127.0.0.1", 0)
        # The loop is not running: every connect waits in the listen backlog.
        socks = [socket.socket() for _ in range(1000)]
        try:
            for sock in socks:
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
            pending = {sock.fileno(): sock for sock in socks}
            poller = select.poll()
            for fd in pending:
                poller.register(fd, select.POLLOUT)
            deadline = time.monotonic() + TIMEOUT
            while pending and time.monotonic() < deadline:
                for fd, _ in poller.poll(100):
                    poller.unregister(fd)
                    pending.pop(fd)
            connected = sum(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                and sock.fileno() not in pending
                for sock in socks
            )
            assert connected == 1000
        finally:
            for sock in socks:
                sock.close()


def test_accept_backs_off_when_out_of_descriptors() -> None:
    check_accept_backoff("selectors")


def test_memory_per_idle_connection() -> None:
    # RSS growth over 2,000 idle connections, the server in its own process.
    assert idle_memory("selectors") <= 3.0
