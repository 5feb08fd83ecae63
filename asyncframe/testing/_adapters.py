"""The adapter-under-test protocol, and ready-made implementations for asyncframe's adapters."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

from asyncframe import Handler

__all__ = [
    "Address",
    "AdapterUnderTest",
    "AnyioAdapter",
    "AsyncioAdapter",
    "SelectorsAdapter",
    "ThreadedAdapter",
    "TrioAdapter",
    "TwistedAdapter",
    "running_reactor",
    "UvloopAdapter",
    "serving",
]

_T = TypeVar("_T")

#: A bound ``(host, port)``.
Address = tuple[str, int]

#: How long starting or stopping a server may take before the kit gives up.
START_STOP_TIMEOUT = 20.0


class AdapterUnderTest(Protocol):
    """What the conformance checks need from an adapter: a server they can start and stop.

    Implement it for your own adapter (subclassing :class:`ThreadedAdapter` is the
    short way). The checks call :meth:`start` and :meth:`stop` in pairs, from one
    thread, as often as they need; the server runs in the background meanwhile.
    The server should log through :mod:`logging` (the checks read the records of
    level WARNING and above on the root logger).
    """

    def start(self, handler_factory: Callable[[], Handler], **options: Any) -> Address:
        """Start a server on a loopback address that runs ``handler_factory()`` for each
        connection, with *options* (``read_size``, ``high_water``, ``input_limit``,
        ``idle_timeout``, ``tls_handshake_timeout``, and ``ssl``, an
        :class:`ssl.SSLContext` to serve TLS with); return once it accepts
        connections, with its ``(host, port)``. With ``path=`` in *options* it
        listens on that Unix domain socket instead, and returns the path; with
        ``sock=``, on that listening socket.

        Some checks hand a factory whose result cannot run (``None``, a Handler
        whose ``__init__`` skipped ``super().__init__()``): the server must log it,
        close that connection and go on serving."""
        ...

    def stop(self) -> None:
        """Stop the server started last and wait until it has stopped.

        Raises :class:`AssertionError` if the server does not stop (a wedged loop).
        """
        ...


class ThreadedAdapter:
    """An :class:`AdapterUnderTest` whose server runs in a thread of its own.

    Subclasses implement :meth:`run_server`; the thread, the hand-over of the
    address and errors raised in the thread are handled here.

    :param host: the loopback address to listen on (``"127.0.0.1"`` or ``"::1"``).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] | None = None
        self._ready = threading.Event()
        self._address: Address | None = None
        self._error: BaseException | None = None

    def run_server(
        self,
        handler_factory: Callable[[], Handler],
        options: dict[str, Any],
        ready: Callable[[Address, Callable[[], None]], None],
    ) -> None:
        """Serve until stopped, in the server thread.

        Call ``ready(address, stop)`` once listening; *stop* is then called from
        another thread to make this method return.
        """
        raise NotImplementedError

    def start(self, handler_factory: Callable[[], Handler], **options: Any) -> Address:
        """Run :meth:`run_server` in a new thread; return its address once it listens."""
        if self._thread is not None:
            raise RuntimeError("this adapter is serving already: stop() it first")
        self._ready.clear()
        self._address = self._stop = self._error = None

        def ready(address: Any, stop: Callable[[], None]) -> None:
            # (host, port) for TCP, kept as it is for a Unix socket (its path).
            if isinstance(address, tuple):
                address = (address[0], address[1])
            self._address, self._stop = address, stop
            self._ready.set()

        def target() -> None:
            try:
                self.run_server(handler_factory, options, ready)
            except BaseException as exc:  # handed to start() or stop()
                self._error = exc
            finally:
                self._ready.set()

        self._thread = threading.Thread(target=target, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_STOP_TIMEOUT):
            raise AssertionError(f"the server did not start within {START_STOP_TIMEOUT} s")
        if self._address is None:
            self._thread.join(START_STOP_TIMEOUT)
            self._thread = None
            error, self._error = self._error, None
            if error is not None:
                raise error
            raise AssertionError("the server thread ended without listening")
        return self._address

    def stop(self) -> None:
        """Ask the server to stop; wait for its thread; re-raise what it raised."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._stop is not None:
            self._stop()
        thread.join(START_STOP_TIMEOUT)
        if thread.is_alive():
            raise AssertionError(
                f"the server did not stop within {START_STOP_TIMEOUT} s of being asked"
                " (is its loop wedged?)"
            )
        error, self._error = self._error, None
        if error is not None:
            raise error


@contextlib.contextmanager
def serving(
    adapter: AdapterUnderTest, handler_factory: Callable[[], Handler], **options: Any
) -> Iterator[Address]:
    """Start *adapter* with *handler_factory* and *options*; yield its address; stop it."""
    address = adapter.start(handler_factory, **options)
    try:
        yield address
    finally:
        adapter.stop()


def _where(host: str, options: dict[str, Any]) -> dict[str, Any]:
    """Where a server listens: a loopback TCP port, unless *options* say ``path=`` (a
    Unix domain socket) or ``sock=`` (a listening socket)."""
    if "path" in options or "sock" in options:
        return {}
    return {"host": host, "port": 0}


class SelectorsAdapter(ThreadedAdapter):
    """:class:`~asyncframe.adapters.selectors.Loop` under test."""

    def run_server(
        self,
        handler_factory: Callable[[], Handler],
        options: dict[str, Any],
        ready: Callable[[Address, Callable[[], None]], None],
    ) -> None:
        """Listen on a :class:`~asyncframe.adapters.selectors.Loop`; run it until stopped."""
        from asyncframe.adapters.selectors import Loop

        with Loop() as loop:
            address = loop.listen(handler_factory, **_where(self.host, options), **options)
            ready(address, loop.stop)
            loop.run()


def run_on_loop(main: Coroutine[Any, Any, _T], loop_factory: Callable[[], Any] | None = None) -> _T:
    """Run *main* to completion on a new loop from *loop_factory*, then close the loop.

    With no *loop_factory* this is :func:`asyncio.run`. Otherwise it does what
    :func:`asyncio.run` does at the end, on every supported Python (3.10 has no
    ``loop_factory=``): the tasks left are cancelled and awaited, asynchronous
    generators and the default executor are shut down, and the loop is closed.
    """
    import asyncio

    if loop_factory is None:
        return asyncio.run(main)
    loop = loop_factory()
    try:
        return loop.run_until_complete(main)  # type: ignore[no-any-return]
    finally:
        try:
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    loop.call_exception_handler(
                        {
                            "message": "unhandled exception during shutdown",
                            "exception": task.exception(),
                            "task": task,
                        }
                    )
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


class AsyncioAdapter(ThreadedAdapter):
    """:func:`asyncframe.adapters.asyncio.serve` under test, on a new event loop.

    :param host: the loopback address to listen on.
    :param loop_factory: makes the event loop to serve on (``uvloop.new_event_loop``,
        say); ``None`` for :func:`asyncio.run`'s own.
    """

    def __init__(
        self, host: str = "127.0.0.1", *, loop_factory: Callable[[], Any] | None = None
    ) -> None:
        super().__init__(host)
        self.loop_factory = loop_factory

    def run_server(
        self,
        handler_factory: Callable[[], Handler],
        options: dict[str, Any],
        ready: Callable[[Address, Callable[[], None]], None],
    ) -> None:
        """Run :func:`~asyncframe.adapters.asyncio.serve` on a new loop until stopped."""
        import asyncio

        from asyncframe.adapters.asyncio import serve

        # asyncio's Server does not own the connections it accepted: closing it
        # leaves them open, and a transport still flushing when the loop ends is
        # never closed. So the handlers are remembered, and closed at the stop, as
        # the selectors Loop and trio's nursery close theirs.
        handlers: weakref.WeakSet[Handler] = weakref.WeakSet()

        def remembered() -> Handler:
            handler = handler_factory()
            if isinstance(handler, Handler):
                handlers.add(handler)
            return handler

        async def main() -> None:
            loop = asyncio.get_running_loop()
            done = asyncio.Event()
            server = await serve(remembered, **_where(self.host, options), **options)
            try:

                def stop() -> None:
                    loop.call_soon_threadsafe(done.set)

                ready(server.sockets[0].getsockname(), stop)
                await done.wait()
            finally:
                server.close()
                for handler in list(handlers):
                    # A handler that skipped super().__init__() has no connection
                    # (the adapter refused it): nothing of it to close.
                    with contextlib.suppress(AttributeError):
                        handler.close()
                await asyncio.sleep(0)  # the aborted transports close on the next pass

        run_on_loop(main(), self.loop_factory)


class UvloopAdapter(AsyncioAdapter):
    """:func:`asyncframe.adapters.asyncio.serve` under test, on a uvloop event loop.

    :class:`AsyncioAdapter` with ``loop_factory=uvloop.new_event_loop``; it needs
    uvloop (``pip install "asyncframe[test]"`` installs it where it has wheels).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        try:
            import uvloop
        except ImportError as exc:
            raise ImportError('UvloopAdapter needs uvloop: pip install "asyncframe[test]"') from exc
        super().__init__(host, loop_factory=uvloop.new_event_loop)


class TrioAdapter(ThreadedAdapter):
    """:func:`asyncframe.adapters.trio.serve` under test, in :func:`trio.run`."""

    def run_server(
        self,
        handler_factory: Callable[[], Handler],
        options: dict[str, Any],
        ready: Callable[[Address, Callable[[], None]], None],
    ) -> None:
        """Run :func:`~asyncframe.adapters.trio.serve` in a nursery until stopped."""
        from functools import partial

        try:
            import trio
        except ImportError as exc:
            raise ImportError('TrioAdapter needs trio: pip install "asyncframe[trio]"') from exc

        from asyncframe.adapters.trio import serve

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(
                    partial(serve, handler_factory, **_where(self.host, options), **options)
                )
                token = trio.lowlevel.current_trio_token()
                cancel = nursery.cancel_scope.cancel
                # Under TLS the listener wraps the socket listener.
                listener = getattr(listeners[0], "transport_listener", listeners[0])
                ready(listener.socket.getsockname(), lambda: token.run_sync_soon(cancel))

        trio.run(main)


_reactor_lock = threading.Lock()
_reactor_thread: threading.Thread | None = None


def running_reactor() -> Any:
    """Twisted's global reactor, running in a daemon thread of its own.

    A reactor cannot be started again once stopped, so the first call starts it
    for the rest of the process and every later call returns the same one. Use it
    from other threads with :func:`twisted.internet.threads.blockingCallFromThread`
    or ``reactor.callFromThread``, as :class:`TwistedAdapter` does.

    Unless the process has begun Twisted's logging already, the first call sends
    Twisted's log events to :mod:`logging` (logger ``"twisted"``), where the checks
    see its errors; otherwise Twisted would keep its first events, and the objects
    they name, in a buffer until logging begins.
    """
    global _reactor_thread
    try:
        from twisted.internet import reactor as installed
    except ImportError as exc:
        raise ImportError(
            'TwistedAdapter needs Twisted: pip install "asyncframe[twisted]"'
        ) from exc
    reactor: Any = installed  # typed by Twisted as the interfaces it provides, not all
    with _reactor_lock:
        if _reactor_thread is None:
            from twisted.logger import STDLibLogObserver, globalLogBeginner

            # Twisted's beginner holds a temporary observer until logging begins.
            if getattr(globalLogBeginner, "_temporaryObserver", None) is not None:
                # (An observer by interface, which mypy cannot see without zope's plugin.)
                observer: Any = STDLibLogObserver(name="twisted")
                globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
            started = threading.Event()
            reactor.callWhenRunning(started.set)
            _reactor_thread = threading.Thread(
                target=reactor.run,
                kwargs={"installSignalHandlers": False},
                name="twisted-reactor",
                daemon=True,
            )
            _reactor_thread.start()
            if not started.wait(START_STOP_TIMEOUT):
                raise AssertionError(f"the reactor did not start within {START_STOP_TIMEOUT} s")
    return reactor


class TwistedAdapter:
    """:func:`asyncframe.adapters.twisted.listen` under test, on Twisted's global
    reactor (see :func:`running_reactor`: one reactor for the process, so servers
    are started and stopped on it rather than each in a reactor of its own).

    :param host: the loopback address to listen on (``"127.0.0.1"`` or ``"::1"``).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._port: Any = None
        self._handlers: weakref.WeakSet[Handler] = weakref.WeakSet()

    def start(self, handler_factory: Callable[[], Handler], **options: Any) -> Address:
        """Listen on the reactor; return the address once it accepts connections."""
        from twisted.internet.threads import blockingCallFromThread

        from asyncframe.adapters.twisted import listen

        if self._port is not None:
            raise RuntimeError("this adapter is serving already: stop() it first")
        reactor = running_reactor()
        handlers = self._handlers = weakref.WeakSet()

        def remembered() -> Handler:
            handler = handler_factory()
            if isinstance(handler, Handler):
                handlers.add(handler)
            return handler

        where = _where(self.host, options)
        self._port = blockingCallFromThread(reactor, lambda: listen(remembered, **where, **options))
        address = self._port.getHost()
        if hasattr(address, "port"):
            return (address.host, address.port)
        return os.fsdecode(address.name)  # type: ignore[return-value]

    def stop(self) -> None:
        """Stop listening, close the connections left, and wait until they are gone."""
        from twisted.internet import defer, task
        from twisted.internet.threads import blockingCallFromThread

        port, self._port = self._port, None
        if port is None:
            return
        reactor = running_reactor()
        handlers = list(self._handlers)

        @defer.inlineCallbacks
        def stop_now() -> Any:
            yield port.stopListening()
            for handler in handlers:
                # A handler that skipped super().__init__() has no connection (the
                # adapter refused it): nothing of it to close.
                with contextlib.suppress(AttributeError):
                    handler.close()
            # The aborted connections are lost on a later turn of the reactor.
            deadline = reactor.seconds() + START_STOP_TIMEOUT
            while any(getattr(h, "driver", None) is not None for h in handlers):
                if reactor.seconds() > deadline:
                    raise AssertionError("connections still open after the server stopped")
                yield task.deferLater(reactor, 0.01, lambda: None)

        blockingCallFromThread(reactor, stop_now)


class AnyioAdapter(ThreadedAdapter):
    """:func:`asyncframe.adapters.anyio.serve` under test, in :func:`anyio.run`.

    :param backend: the event loop anyio runs on, ``"asyncio"`` or ``"trio"``.
    :param host: the loopback address to listen on.
    """

    def __init__(self, backend: str = "asyncio", host: str = "127.0.0.1") -> None:
        if backend not in ("asyncio", "trio"):
            raise ValueError(f'backend must be "asyncio" or "trio", not {backend!r}')
        super().__init__(host)
        self.backend = backend

    def run_server(
        self,
        handler_factory: Callable[[], Handler],
        options: dict[str, Any],
        ready: Callable[[Address, Callable[[], None]], None],
    ) -> None:
        """Run :func:`~asyncframe.adapters.anyio.serve` in a task group until stopped."""
        from functools import partial

        try:
            import anyio
            import anyio.abc
            import anyio.to_thread
        except ImportError as exc:
            raise ImportError('AnyioAdapter needs anyio: pip install "asyncframe[anyio]"') from exc

        from asyncframe.adapters.anyio import serve

        # Set from the stopping thread; a worker thread waits for it, so the stop
        # works the same on either backend.
        stopping = threading.Event()

        async def main() -> None:
            async with anyio.create_task_group() as tg:
                listeners = await tg.start(
                    partial(serve, handler_factory, **_where(self.host, options), **options)
                )
                ready(listeners[0].extra(anyio.abc.SocketAttribute.local_address), stopping.set)
                await anyio.to_thread.run_sync(stopping.wait)
                tg.cancel_scope.cancel()

        anyio.run(main, backend=self.backend)
