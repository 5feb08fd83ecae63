"""A small event loop on :mod:`selectors` that runs :class:`~asyncframe.Handler` objects.

::

    from asyncframe import Handler
    from asyncframe.adapters.selectors import Loop

    class Echo(Handler):
        def on_frame(self, frame):
            self.push(frame + b"\\r\\n")

    with Loop() as loop:
        host, port = loop.listen(Echo, "127.0.0.1", 0)
        loop.run()          # until loop.stop(), from any thread

Sockets are non-blocking; the reply to a read is written before the loop waits
again and, when the socket's buffer is full, as soon as it has room, so a large
producer is pulled only as fast as the peer reads. The connection policy (guarded
callbacks, output-bounded dispatch, reading on while a pipeline waits, the close
after the peer's EOF once output is flushed, the idle timeout, accept backoff) is
the core's :class:`~asyncframe.Driver`; this package is the transport loop, in
three parts: the :class:`Loop` with its timers and wakeups (``_loop``), one
connection with its phase (``_connection``), and the listener (``_listener``).

TLS: pass an :class:`ssl.SSLContext` as ``ssl=`` to :meth:`Loop.listen` or
:meth:`Loop.connect`. The handshake runs in the loop, without blocking it, bounded
by ``tls_handshake_timeout``; the handler starts once it has completed. A handler
upgrades a connection with :meth:`~asyncframe.Handler.start_tls` (STARTTLS): the
loop wraps the connection's socket once the output before it is sent.

Unix domain sockets and existing sockets: ``loop.listen(factory, path="/run/app.sock")``
serves a Unix socket (returning the path; a stale socket file there is removed
first), ``loop.listen(factory, sock=listening_socket)`` a socket you already have
(from systemd's socket activation, say; the loop owns it from then on), and
``loop.connect(handler, path=...)`` or ``loop.connect(handler, sock=connected)``
are the client side. ``reuse_port=True`` lets several processes listen on one port.
"""

from ._loop import Loop, TimerHandle

__all__ = ["Loop", "TimerHandle"]
