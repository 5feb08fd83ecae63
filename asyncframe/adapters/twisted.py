"""Twisted adapter: run any :class:`~asyncframe.Handler` on a Twisted reactor.

- :func:`listen` serves a handler per connection and :func:`connect` runs one as a
  client; both take Twisted endpoints (an ``IStreamServerEndpoint`` or
  ``IStreamClientEndpoint``, or a string for :func:`~twisted.internet.endpoints.serverFromString`
  / :func:`~twisted.internet.endpoints.clientFromString`, such as ``"tcp:8025"`` or
  ``"unix:/run/app.sock"``), or the same ``host``/``port``/``path``/``sock``
  arguments as every other adapter, and return a :class:`~twisted.internet.defer.Deferred`.
- :class:`HandlerFactory` is the Twisted protocol factory behind :func:`listen`:
  hand it to any Twisted API that takes one (``reactor.listenTCP``, a service, an
  endpoint you made).

Each connection is a :class:`HandlerProtocol`. It is the transport's producer
(Twisted's ``registerProducer``): when the transport's buffer fills, the handler's
producers are not pulled until it drains, and reading is paused with the
transport's own ``pauseProducing()`` while the engine holds input back. A peer's
half-close is its EOF (the protocol is an ``IHalfCloseableProtocol``): the replies
still owed to it are sent before the connection closes.

TLS: ``ssl=`` takes an :class:`ssl.SSLContext`, as on every adapter, and
:meth:`~asyncframe.Handler.start_tls` upgrades a connection with one; the adapter
runs the standard library's TLS over memory BIOs on the Twisted transport (Twisted's
own ``startTLS`` takes pyOpenSSL contexts, which a Handler does not use). Twisted's
own TLS works too, from the first byte: a ``"ssl:..."`` endpoint string (it needs
pyOpenSSL) wraps the connection before the handler sees it. Every handshake the
adapter runs is bounded by ``tls_handshake_timeout``.

Twisted is an optional dependency: ``pip install "asyncframe[twisted]"``. The
reactor is the one installed when a function is first called (Twisted's default,
unless you installed another first), or the one passed as ``reactor=``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

try:
    from twisted.internet import address, defer, endpoints, interfaces, protocol
    from twisted.python import failure
    from zope.interface import classImplements
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "asyncframe.adapters.twisted needs Twisted, an optional dependency: "
        'pip install "asyncframe[twisted]"'
    ) from exc

from asyncframe import AcceptBackoff, Driver, Handler
from asyncframe._driver import (
    ABORTING,
    DRAINING,
    OPEN,
    UPGRADING,
    Options,
    start_handler,
)
from asyncframe.adapters._checks import (
    DEFAULT_BACKLOG,
    DEFAULT_HIGH_WATER,
    DEFAULT_INPUT_LIMIT,
    DEFAULT_READ_SIZE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    check_sizes,
    client_tls,
    connected_socket,
    nodelay,
    options,
    server_socket,
    server_tls,
    upgrade_context,
)

__all__ = ["HandlerFactory", "HandlerProtocol", "Listener", "connect", "listen"]

logger = logging.getLogger("asyncframe.adapters.twisted")

#: The most decrypted bytes taken from the TLS layer at once.
_TLS_READ = 65536


def _default_reactor(reactor: Any) -> Any:
    if reactor is not None:
        return reactor
    # Imported here, not at the top: importing it installs the default reactor, and
    # an application may want to install another one first.
    from twisted.internet import reactor as installed

    return installed


class _TLS:
    """The standard library's TLS over memory BIOs: ciphertext in and out by hand.

    The protocol feeds it what the transport received and writes what it has to
    send; nothing here touches a socket.
    """

    __slots__ = ("done", "incoming", "obj", "outgoing")

    def __init__(
        self, context: ssl_module.SSLContext, server_side: bool, server_hostname: str | None
    ) -> None:
        self.incoming = ssl_module.MemoryBIO()
        self.outgoing = ssl_module.MemoryBIO()
        self.obj = context.wrap_bio(
            self.incoming, self.outgoing, server_side=server_side, server_hostname=server_hostname
        )
        self.done = False  # the handshake completed

    def handshake(self) -> bool:
        """Go on with the handshake; True once it completed (raises ssl.SSLError if it
        failed)."""
        try:
            self.obj.do_handshake()
        except ssl_module.SSLWantReadError:
            return False
        self.done = True
        return True

    def read(self) -> tuple[bytes, bool]:
        """Every byte decrypted from what was fed; and True if the peer's close_notify
        came (raises ssl.SSLError if the stream is broken)."""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self.obj.read(_TLS_READ)
            except ssl_module.SSLWantReadError:
                return b"".join(chunks), False
            except ssl_module.SSLZeroReturnError:
                return b"".join(chunks), True
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)

    def close_notify(self) -> None:
        """Queue the close_notify alert (its answer is not waited for)."""
        # Sent, or the stream is broken already: nothing more to say either way.
        with contextlib.suppress(ssl_module.SSLError, ValueError):
            self.obj.unwrap()


class HandlerProtocol(protocol.Protocol):
    """A Twisted protocol that runs one :class:`~asyncframe.Handler`.

    Every decision is the core's :class:`~asyncframe.Driver`'s: this class tells it
    what the transport reported (``dataReceived``, ``readConnectionLost``,
    ``connectionLost``) and maps its answers to the transport (``write``,
    ``pauseProducing``, ``loseConnection``, ``abortConnection``). The protocol is
    also the transport's streaming producer: while Twisted has paused it (its write
    buffer is full), no output is pulled from the handler's producers.

    :param handler: the handler to run.
    :param ssl: an :class:`ssl.SSLContext` to start TLS with as soon as the
        connection is up (the handler starts once the handshake completed).
    :param server_side: the side of that handshake.
    :param server_hostname: the name the server's certificate must match (client).

    :ivar closed: a :class:`~twisted.internet.defer.Deferred` fired when the
        connection is gone.
    :ivar started: a :class:`~twisted.internet.defer.Deferred` fired with the
        handler once it started (after the TLS handshake, if any), or with the
        failure that ended the connection before it could start.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        idle_timeout: float | None = None,
        write_size: int = 65536,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        ssl: ssl_module.SSLContext | None = None,
        server_side: bool = False,
        server_hostname: str | None = None,
        reactor: Any = None,
    ) -> None:
        if not isinstance(handler, Handler):
            raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
        check_sizes(write_size=write_size)
        opts = options(
            read_size=read_size,
            high_water=high_water,
            input_limit=input_limit,
            idle_timeout=idle_timeout,
            tls_handshake_timeout=tls_handshake_timeout,
        )
        self._setup(handler, None, opts, _default_reactor(reactor), ssl, server_side)
        self._hostname = server_hostname
        self.write_size = write_size

    @classmethod
    def _deferred(
        cls,
        factory: Callable[[], object],
        opts: Options,
        reactor: Any,
        ssl: ssl_module.SSLContext | None,
    ) -> HandlerProtocol:
        """A server's protocol, whose handler ``factory()`` makes once the connection
        is up (after the TLS handshake, if any): a peer that never completes one
        costs no handler."""
        self = cls.__new__(cls)
        self._setup(None, factory, opts, reactor, ssl, True)
        self._hostname = None
        self.write_size = 65536
        # Nobody waits on a server connection's start: a failure to start is logged
        # (at debug) by the protocol, not reported as an unhandled error.
        self.started.addErrback(_ignore)
        return self

    def _setup(
        self,
        handler: Handler | None,
        factory: Callable[[], object] | None,
        opts: Options,
        reactor: Any,
        ssl: ssl_module.SSLContext | None,
        server_side: bool,
    ) -> None:
        self._opts = opts
        self._factory = factory
        self._reactor = reactor
        self.handler: Handler | None = handler
        self._driver: Driver | None = None
        if handler is not None:
            self._driver = self._make_driver(handler)
        self._ssl = ssl  # TLS from the first byte: the context
        self._server_side = server_side
        self._tls: _TLS | None = None
        self._paused = False  # the transport asked its producer (us) to pause
        self._reading = True
        self._lost = False
        self._soon: Any = None  # the scheduled update (a DelayedCall)
        self._timer: Any = None  # the idle timer
        self._handshake_timer: Any = None
        self.closed: defer.Deferred[None] = defer.Deferred()
        self.started: defer.Deferred[Handler] = defer.Deferred()

    def _make_driver(self, handler: Handler) -> Driver:
        return self._opts.driver(
            handler, clock=self._reactor.seconds, schedule=self._update_soon, log=logger
        )

    # -- the engine's answers, done on the transport ---------------------------------

    def _update_soon(self) -> None:
        # Coalesced: one scheduled update, whatever asked for it in the meantime.
        if self._soon is None and not self._lost:
            self._soon = self._reactor.callLater(0, self._scheduled_update)

    def _scheduled_update(self) -> None:
        self._soon = None
        self._update()

    def _write(self, data: bytes) -> None:
        tls = self._tls
        if tls is None:
            self._transport().write(data)
            return
        try:
            tls.obj.write(data)
        except ssl_module.SSLError as exc:
            logger.debug("TLS write failed: %r", exc)
            self._abort_transport()
            return
        self._flush_tls()

    def _flush_tls(self) -> None:
        tls = self._tls
        assert tls is not None
        if tls.outgoing.pending:
            self._transport().write(tls.outgoing.read())

    def _transport(self) -> Any:
        # Twisted types its transports by interface; the ones a protocol is given
        # provide more of them than ITransport says.
        return self.transport

    def _abort_transport(self) -> None:
        if not self._lost and self.transport is not None:
            self._transport().abortConnection()

    def _update(self) -> None:
        """Write what may be written, then close or pause reading as the driver says."""
        driver = self._driver
        transport: Any = self.transport
        if driver is None or transport is None or self._lost:
            return
        size = self.write_size
        while not self._paused:
            data = driver.take(size)
            if not data:
                break
            self._write(data)
            if self._lost:
                return
            if len(data) < size and driver.state is OPEN:
                break  # fewer bytes than asked for: nothing more is ready
        state = driver.state
        if state is ABORTING:
            self._abort_transport()
            return
        if state is DRAINING and not self._paused and driver.finished:
            if self._tls is not None:
                self._tls.close_notify()
                self._flush_tls()
            # Unregistered first: Twisted waits for a registered producer before it
            # closes, and this one has nothing more to give.
            transport.unregisterProducer()
            transport.loseConnection()  # Twisted sends what it holds, then closes
            return
        if state is UPGRADING and self._tls is None and driver.upgrade_due:
            upgrade = driver.tls_upgrade
            assert upgrade is not None
            # The clear text before it is in the transport's buffer already, in order:
            # from here on every byte goes through TLS.
            self._start_tls(upgrade_context(upgrade), upgrade.server_side, upgrade.server_hostname)
            return
        self._set_reading(driver.reading)

    def _set_reading(self, reading: bool) -> None:
        if reading != self._reading:
            self._reading = reading
            transport: Any = self.transport
            if reading:
                transport.resumeProducing()
            else:
                transport.pauseProducing()

    def _start_tls(
        self, context: ssl_module.SSLContext, server_side: bool, server_hostname: str | None
    ) -> None:
        try:
            self._tls = _TLS(context, server_side, server_hostname)
        except (ssl_module.SSLError, ValueError) as exc:
            self._tls_failed(exc)
            return
        timeout = self._opts.tls_handshake_timeout
        if timeout is not None:
            self._handshake_timer = self._reactor.callLater(timeout, self._handshake_expired)
        self._set_reading(True)  # the handshake reads, whatever the engine's state
        self._handshake(b"")

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        self._tls_failed(
            TimeoutError(f"the TLS handshake took over {self._opts.tls_handshake_timeout} s")
        )

    def _tls_failed(self, exc: BaseException) -> None:
        logger.debug("TLS handshake failed: %r", exc)
        if self._driver is not None:
            self._driver.tls_failed(exc)
        if not self.started.called:  # TLS from the first byte: the handler never started
            self.started.errback(failure.Failure(exc))
        self._abort_transport()

    def _handshake(self, data: bytes) -> None:
        """Feed the handshake; once it completed, start the handler or go on over TLS."""
        tls = self._tls
        assert tls is not None
        if data:
            tls.incoming.write(data)
        try:
            done = tls.handshake()
        except ssl_module.SSLError as exc:
            self._flush_tls()  # the alert that says why
            self._tls_failed(exc)
            return
        self._flush_tls()
        if not done:
            return
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        driver = self._driver
        if driver is not None and driver.state is UPGRADING:
            driver.tls_started(tls.obj)
        else:
            self._begin(tls.obj)
            if self._lost:
                return
        self._received_tls()

    def _begin(self, ssl_object: Any = None) -> None:
        """The connection is up (and its TLS, if any): start the handler."""
        transport: Any = self.transport
        if self._factory is not None:
            handler = start_handler(self._factory, logger)
            self._factory = None
            if handler is None:
                # Closed, not reset: there is nothing to drop, and a reset could reach
                # the peer before its connect() returned.
                self._transport().loseConnection()
                return
            self.handler = handler
            self._driver = self._make_driver(handler)
        driver = self._driver
        assert driver is not None
        if driver.idle_timeout is not None:
            self._timer = self._reactor.callLater(driver.idle_timeout, self._idle)
        if ssl_object is not None:
            assert self.handler is not None
            self.handler.ssl_object = ssl_object
        driver.start(_peername(transport))
        self._update()
        if not self.started.called:
            self.started.callback(driver.handler)

    def _received_tls(self) -> None:
        """Hand the driver what the TLS layer decrypted (and its close_notify)."""
        tls = self._tls
        driver = self._driver
        assert tls is not None
        if driver is None:
            return
        try:
            data, eof = tls.read()
        except ssl_module.SSLError as exc:
            logger.debug("TLS read failed: %r", exc)
            self._abort_transport()
            return
        self._flush_tls()  # the answer to a key update, a session ticket
        if data:
            driver.receive(data)
        if eof:
            driver.receive(b"")
        self._update()

    def _idle(self) -> None:
        self._timer = None
        driver = self._driver
        if driver is None or self._lost:
            return
        if self._tls is not None and not self._tls.done:
            # idle_timeout does not apply to a handshake (tls_handshake_timeout does);
            # the engine counts idleness again from its end.
            self._timer = self._reactor.callLater(driver.idle_timeout, self._idle)
            return
        delay = driver.idle_check(self._reactor.seconds())
        if delay is None:
            self._update()
        else:
            self._timer = self._reactor.callLater(delay, self._idle)

    # -- Twisted's protocol ----------------------------------------------------------

    def connectionMade(self) -> None:
        """Register as the transport's producer; start TLS or the handler."""
        transport: Any = self.transport
        # Twisted leaves Nagle's algorithm on: a reply's last segment could wait for
        # the peer's delayed ACK (40 ms) behind the one before it.
        set_nodelay = getattr(transport, "setTcpNoDelay", None)
        if set_nodelay is not None:
            with contextlib.suppress(OSError):  # a Unix socket has no Nagle
                set_nodelay(True)
        transport.registerProducer(self, True)
        if self._ssl is not None:
            self._start_tls(self._ssl, self._server_side, self._hostname)
        else:
            self._begin()

    def dataReceived(self, data: bytes) -> None:
        """Feed the received bytes to the handler (or to TLS), then write its reply."""
        tls = self._tls
        if tls is not None:
            if not tls.done:
                self._handshake(data)
                return
            tls.incoming.write(data)
            self._received_tls()
            return
        driver = self._driver
        if driver is None:
            return
        driver.receive(data)
        if driver.state is OPEN and not self._paused:
            # The common case, with no call it can avoid: one request, its reply.
            size = self.write_size
            data = driver.take(size)
            if len(data) < size and driver.state is OPEN:
                if data:
                    self._transport().write(data)
                return
            if data:
                self._transport().write(data)
        self._update()

    def readConnectionLost(self) -> None:
        """The peer closed its side: finish the handler's input, send its last output."""
        tls = self._tls
        if tls is not None and not tls.done:
            self._tls_failed(ConnectionError("the peer closed during the TLS handshake"))
            return
        driver = self._driver
        if driver is None:
            self._abort_transport()
            return
        # Under TLS, a TCP close without close_notify (a ragged EOF) is an EOF too:
        # the replies still owed to the peer are sent.
        driver.receive(b"")
        self._update()

    def writeConnectionLost(self) -> None:
        """Our side was closed for writing (not asked for by this protocol): nothing."""

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        """The connection is gone (closed, reset or aborted): tell the handler, once."""
        self._lost = True
        for name in ("_soon", "_timer", "_handshake_timer"):
            call = getattr(self, name)
            if call is not None:
                if call.active():
                    call.cancel()
                setattr(self, name, None)
        logger.debug("connection lost: %r", reason.value)
        driver, self._driver = self._driver, None
        self._tls = None
        if driver is not None:
            driver.lost()
        if not self.started.called:
            self.started.errback(reason)
        if not self.closed.called:
            self.closed.callback(None)

    # -- the transport's producer (Twisted calls these about writing) ----------------

    def pauseProducing(self) -> None:
        """The transport's buffer is full: stop pulling output."""
        self._paused = True

    def resumeProducing(self) -> None:
        """The transport's buffer drained: write again."""
        self._paused = False
        self._update()

    def stopProducing(self) -> None:
        """The transport is going away; ``connectionLost`` follows."""
        self._paused = True


def _ignore(reason: failure.Failure) -> None:
    return None


classImplements(HandlerProtocol, interfaces.IHalfCloseableProtocol, interfaces.IPushProducer)


def _peername(transport: Any) -> Any:
    """The peer's address as the other adapters give it: ``(host, port)`` (IPv6:
    asyncio's 4-tuple), a Unix socket's path."""
    handle = getattr(transport, "getHandle", None)
    sock = handle() if handle is not None else None
    if isinstance(sock, socket.socket):
        try:
            return sock.getpeername()
        except OSError:
            return None
    peer = transport.getPeer()
    host = getattr(peer, "host", None)
    if host is not None:
        return (host, peer.port)
    return getattr(peer, "name", None)


class HandlerFactory(protocol.Factory):
    """A Twisted protocol factory: a :class:`HandlerProtocol` running
    ``handler_factory()`` for each connection.

    The options are :func:`listen`'s. The handler is made once the connection is up
    (after the TLS handshake *ssl* asks for); a factory that raises or returns
    something that is not a handler is logged and its connection closed.
    """

    # Twisted logs a noisy factory's start and stop with the factory in the event,
    # and keeps early events until logging begins: each server would stay alive there.
    noisy = False

    def __init__(
        self,
        handler_factory: Callable[[], Handler],
        *,
        read_size: int = DEFAULT_READ_SIZE,
        high_water: int = DEFAULT_HIGH_WATER,
        input_limit: int = DEFAULT_INPUT_LIMIT,
        idle_timeout: float | None = None,
        ssl: ssl_module.SSLContext | None = None,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        reactor: Any = None,
    ) -> None:
        if not callable(handler_factory):
            raise TypeError("handler_factory must be callable (a Handler subclass, say)")
        self._opts = options(
            read_size=read_size,
            high_water=high_water,
            input_limit=input_limit,
            idle_timeout=idle_timeout,
            tls_handshake_timeout=tls_handshake_timeout,
        )
        self._handler_factory = handler_factory
        self._ssl = server_tls(ssl)
        self._reactor = _default_reactor(reactor)

    def buildProtocol(self, addr: Any) -> HandlerProtocol:
        """A protocol for the connection from *addr*."""
        built = HandlerProtocol._deferred(
            self._handler_factory, self._opts, self._reactor, self._ssl
        )
        built.factory = self
        return built


def _where(endpoint: object, host: object, port: object, path: object, sock: object) -> None:
    if endpoint is not None and (
        host is not None or port is not None or path is not None or sock is not None
    ):
        raise ValueError("give endpoint, or host and port, path= or sock=: not both")


def listen(
    handler_factory: Callable[[], Handler],
    endpoint: str | Any = None,
    *,
    host: str | None = None,
    port: int | None = None,
    path: str | os.PathLike[str] | None = None,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
    read_size: int = DEFAULT_READ_SIZE,
    high_water: int = DEFAULT_HIGH_WATER,
    input_limit: int = DEFAULT_INPUT_LIMIT,
    idle_timeout: float | None = None,
    backlog: int = DEFAULT_BACKLOG,
    ssl: ssl_module.SSLContext | None = None,
    tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    reactor: Any = None,
) -> defer.Deferred[Any]:
    """Serve ``handler_factory()`` for each connection; a Deferred fires with the
    listening port (an ``IListeningPort``: ``port.getHost()``, ``port.stopListening()``).

    Where to listen: *endpoint*, an ``IStreamServerEndpoint`` or a string for
    :func:`twisted.internet.endpoints.serverFromString` (``"tcp:0:interface=127.0.0.1"``,
    ``"unix:/run/app.sock"``, ``"ssl:..."`` for Twisted's own TLS); or, as on every
    adapter, *host* and *port* (port 0: the system picks one; *reuse_port* sets
    ``SO_REUSEPORT``), *path* (a Unix domain socket; a stale socket file there is
    removed first) or *sock* (a listening socket you have, which the server then
    owns). The options are the other adapters': *read_size*, *high_water*,
    *input_limit*, *idle_timeout*, *backlog* (host/port and path only: an endpoint
    string says its own), and *ssl*, an :class:`ssl.SSLContext` whose handshake must
    complete within *tls_handshake_timeout* seconds before ``handler_factory()`` is
    called. *read_size* is checked, but Twisted's transports read with their own
    size (64 KiB).
    """
    _where(endpoint, host, port, path, sock)
    reactor = _default_reactor(reactor)
    opts = options(
        read_size=read_size,
        high_water=high_water,
        input_limit=input_limit,
        idle_timeout=idle_timeout,
        backlog=backlog,
        tls_handshake_timeout=tls_handshake_timeout,
    )
    factory = HandlerFactory(
        handler_factory,
        read_size=opts.read_size,
        high_water=opts.high_water,
        input_limit=opts.input_limit,
        idle_timeout=opts.idle_timeout,
        ssl=ssl,
        tls_handshake_timeout=opts.tls_handshake_timeout,
        reactor=reactor,
    )
    if endpoint is not None:
        if isinstance(endpoint, str):
            endpoint = endpoints.serverFromString(reactor, endpoint)
        elif not interfaces.IStreamServerEndpoint.providedBy(endpoint):
            kind = type(endpoint).__name__
            raise TypeError(f"endpoint must be a str or an IStreamServerEndpoint, not {kind}")
        listening: defer.Deferred[Any] = endpoint.listen(factory)
        return listening
    listener = server_socket(host, port, opts.backlog, path=path, sock=sock, reuse_port=reuse_port)
    if listener.family == getattr(socket, "AF_UNIX", None):
        accepting = Listener(reactor, listener, factory)
        accepting.startListening()
        return defer.succeed(accepting)
    try:
        # Twisted takes a duplicate of the descriptor: the original is ours to close.
        adopted = reactor.adoptStreamPort(listener.fileno(), listener.family, factory)
    finally:
        listener.close()
    return defer.succeed(adopted)


class Listener:
    """The listening port :func:`listen` makes for a Unix domain socket (*path*, or a
    Unix *sock*): it accepts on the socket itself and hands each connection to Twisted.

    Twisted's own Unix port is not used: it makes the socket file world-writable and
    removes it when it stops, where every adapter leaves a socket file's permissions
    and its removal to the caller. Out of file descriptors it backs off
    (:class:`~asyncframe.AcceptBackoff`) as the other adapters do. It provides
    Twisted's ``IListeningPort``: ``getHost()``, ``stopListening()``. (TCP listens on
    Twisted's own port, with Twisted's policy out of descriptors.)
    """

    def __init__(self, reactor: Any, sock: socket.socket, factory: Any) -> None:
        self._reactor = reactor
        self._sock = sock
        self._factory = factory
        self._backoff = AcceptBackoff(logger)
        self._resume: Any = None  # the DelayedCall that ends a back-off
        self._listening = False

    def __repr__(self) -> str:
        where = self._sock.getsockname() if self._sock.fileno() >= 0 else "a closed socket"
        return f"<asyncframe.adapters.twisted.Listener on {where!r}>"

    def startListening(self) -> None:
        """Accept connections (called by :func:`listen`)."""
        self._resume = None
        if self._sock.fileno() >= 0:
            self._listening = True
            self._reactor.addReader(self)

    def stopListening(self) -> defer.Deferred[None]:
        """Stop accepting and close the listening socket (the connections stay)."""
        if self._resume is not None and self._resume.active():
            self._resume.cancel()
        self._resume = None
        if self._listening:
            self._listening = False
            self._reactor.removeReader(self)
        self._sock.close()
        return defer.succeed(None)

    def getHost(self) -> Any:
        """The bound address, as a Twisted ``IPv4Address``, ``IPv6Address`` or
        ``UNIXAddress``."""
        where = self._sock.getsockname()
        return address.UNIXAddress(where)

    # -- what the reactor calls (IReadDescriptor) ------------------------------------

    def fileno(self) -> int:
        """The listening socket's descriptor (-1 once closed)."""
        return self._sock.fileno()

    def doRead(self) -> None:
        """Accept what waits (at most 100 at once, so that connections are served too)."""
        if not self._listening:
            return  # stopped in this turn of the reactor, after the socket was polled
        for _ in range(100):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                delay = self._backoff.failed(exc)
                if delay is None:
                    continue
                self._listening = False
                self._reactor.removeReader(self)
                self._resume = self._reactor.callLater(delay, self.startListening)
                return
            self._backoff.succeeded()
            try:
                conn.setblocking(False)
                nodelay(conn)
                # Twisted takes a duplicate of the descriptor: the original is closed.
                self._reactor.adoptStreamConnection(conn.fileno(), conn.family, self._factory)
            except OSError as exc:
                logger.debug("connection failed to start: %r", exc)
            finally:
                conn.close()

    def connectionLost(self, reason: failure.Failure) -> None:
        """The reactor dropped the socket (it is shutting down): stop listening."""
        self._listening = False
        self._sock.close()

    def logPrefix(self) -> str:
        """How Twisted's log names this port."""
        return "asyncframe.Listener"


classImplements(Listener, interfaces.IReadDescriptor, interfaces.IListeningPort)


def connect(
    handler: Handler,
    endpoint: str | Any = None,
    *,
    host: str | None = None,
    port: int | None = None,
    path: str | os.PathLike[str] | None = None,
    sock: socket.socket | None = None,
    read_size: int = DEFAULT_READ_SIZE,
    high_water: int = DEFAULT_HIGH_WATER,
    input_limit: int = DEFAULT_INPUT_LIMIT,
    idle_timeout: float | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    reactor: Any = None,
) -> defer.Deferred[Handler]:
    """Connect, run *handler* on the connection; a Deferred fires with the handler
    once it started (with *ssl*, once the handshake completed), or fails with why
    it could not.

    Where to: *endpoint*, an ``IStreamClientEndpoint`` or a string for
    :func:`twisted.internet.endpoints.clientFromString` (``"tcp:host=example.org:port=25"``);
    or *host* and *port*, *path* (a Unix domain socket) or *sock* (a connected
    socket; the handler's connection then owns a duplicate, and *sock* is closed).
    *ssl* is an :class:`ssl.SSLContext` (``True``: :func:`ssl.create_default_context`)
    for TLS from the first byte, checked against *server_hostname* (by default
    *host*). ``handler.on_close()`` is called when the connection ends; the options
    are :func:`listen`'s.
    """
    if not isinstance(handler, Handler):
        raise TypeError(f"handler must be a Handler, not {type(handler).__name__}")
    _where(endpoint, host, port, path, sock)
    reactor = _default_reactor(reactor)
    context = client_tls(ssl, server_hostname)
    if context is not None and server_hostname is None and context.check_hostname:
        if host is None:
            raise ValueError("server_hostname is needed: the context checks host names")
        server_hostname = host
    target = None if endpoint is not None else connected_socket(host, port, path, sock)
    built = HandlerProtocol(
        handler,
        read_size=read_size,
        high_water=high_water,
        input_limit=input_limit,
        idle_timeout=idle_timeout,
        tls_handshake_timeout=tls_handshake_timeout,
        ssl=context,
        server_side=False,
        server_hostname=server_hostname,
        reactor=reactor,
    )

    if endpoint is not None:
        if isinstance(endpoint, str):
            endpoint = endpoints.clientFromString(reactor, endpoint)
        elif not interfaces.IStreamClientEndpoint.providedBy(endpoint):
            kind = type(endpoint).__name__
            raise TypeError(f"endpoint must be a str or an IStreamClientEndpoint, not {kind}")
    elif sock is not None:
        given: socket.socket = sock
        given.setblocking(False)
        try:
            reactor.adoptStreamConnection(given.fileno(), given.family, _Once(built))
        finally:
            given.close()
        return built.started
    elif path is not None:
        assert target is not None
        endpoint = endpoints.UNIXClientEndpoint(reactor, os.fsdecode(target))
    else:
        assert host is not None
        assert port is not None
        endpoint = endpoints.HostnameEndpoint(reactor, host, port)

    connecting = endpoints.connectProtocol(endpoint, built)

    def failed(reason: failure.Failure) -> None:
        if not built.started.called:
            built.started.errback(reason)

    connecting.addErrback(failed)
    return built.started


class _Once(protocol.Factory):
    """A factory for one connection, whose protocol is made already."""

    def __init__(self, built: HandlerProtocol) -> None:
        self._built = built

    def buildProtocol(self, addr: Any) -> HandlerProtocol:
        return self._built
