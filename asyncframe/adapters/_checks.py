"""Argument checks and the options every adapter takes, under the same names."""

from __future__ import annotations

import os
import socket
import ssl as _ssl
import stat
from typing import Any

from asyncframe._driver import (
    DEFAULT_BACKLOG,
    DEFAULT_HIGH_WATER,
    DEFAULT_INPUT_LIMIT,
    DEFAULT_READ_SIZE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    Options,
    TLSUpgrade,
)

# OpenSSL 3's option (0 where the ssl module lacks it: older OpenSSL reports a ragged
# EOF without breaking the connection).
_IGNORE_UNEXPECTED_EOF = getattr(_ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)

__all__ = [
    "DEFAULT_BACKLOG",
    "DEFAULT_HIGH_WATER",
    "DEFAULT_INPUT_LIMIT",
    "DEFAULT_READ_SIZE",
    "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
    "Options",
    "check_port",
    "check_sizes",
    "client_tls",
    "connected_socket",
    "listening_socket",
    "nodelay",
    "server_socket",
    "unix_listening_socket",
    "options",
    "server_tls",
    "upgrade_context",
]


def check_sizes(**sizes: int) -> None:
    """Raise TypeError/ValueError, naming the argument, unless every value is an int > 0."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be > 0, not {value}")


def check_port(port: object) -> int:
    """Return *port* if it is a TCP port number (an int from 0 to 65535; 0: the system
    chooses), else raise TypeError/ValueError naming ``port``."""
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int from 0 to 65535, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be from 0 to 65535 (0: any free port), not {port}")
    return port


def options(
    *,
    read_size: int = DEFAULT_READ_SIZE,
    high_water: int = DEFAULT_HIGH_WATER,
    input_limit: int = DEFAULT_INPUT_LIMIT,
    idle_timeout: float | None = None,
    backlog: int = DEFAULT_BACKLOG,
    tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
) -> Options:
    """Check the options every adapter takes; TypeError/ValueError name the bad one."""
    return Options(read_size, high_water, input_limit, idle_timeout, backlog, tls_handshake_timeout)


def listening_socket(
    host: str | None, port: int, backlog: int, *, reuse_port: bool = False
) -> socket.socket:
    """A non-blocking listening TCP socket on *host*:*port*.

    *host* is an IPv4 or IPv6 address or a name (its first address); ``None`` or
    ``""`` listens on every interface, IPv6 too where one socket can take both.
    With *reuse_port*, ``SO_REUSEPORT`` is set (several processes may then listen
    on one port; the system shares the connections between them); a platform
    without it raises :exc:`ValueError`.
    """
    check_port(port)
    if not isinstance(reuse_port, bool):
        raise TypeError(f"reuse_port must be a bool, not {type(reuse_port).__name__}")
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port=True: this platform has no SO_REUSEPORT")
    if host:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
            0
        ][0]
        sock = socket.create_server(
            (host, port), family=family, backlog=backlog, reuse_port=reuse_port
        )
    elif socket.has_dualstack_ipv6():
        sock = socket.create_server(
            ("", port),
            family=socket.AF_INET6,
            backlog=backlog,
            dualstack_ipv6=True,
            reuse_port=reuse_port,
        )
    else:
        sock = socket.create_server(("", port), backlog=backlog, reuse_port=reuse_port)
    sock.setblocking(False)
    return sock


def _check_path(path: object) -> str | bytes:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str, bytes or os.PathLike, not {type(path).__name__}")
    value: str | bytes = os.fspath(path)
    if not value:
        raise ValueError("path must not be empty")
    return value


def unix_listening_socket(path: object, backlog: int) -> socket.socket:
    """A non-blocking listening Unix domain socket bound to *path*.

    As asyncio does: a socket file left at *path* (by a server that did not remove
    it) is removed first; any other file there makes the bind fail. The file's
    permissions are left to the caller (the umask applies), and it is not removed
    when the server closes.
    """
    if not hasattr(socket, "AF_UNIX"):
        raise ValueError("path=: this platform has no Unix domain sockets")
    where = _check_path(path)
    if where[:1] not in ("\0", b"\0"):  # not Linux's abstract namespace
        try:
            if stat.S_ISSOCK(os.stat(where).st_mode):
                os.remove(where)
        except FileNotFoundError:
            pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(where)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _check_sock(sock: object) -> socket.socket:
    if not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"sock must be a SOCK_STREAM socket, not {sock.type!r}")
    if sock.fileno() < 0:
        raise ValueError("sock is closed")
    return sock


def _only_one(host: object, port: object, path: object, sock: object) -> None:
    if path is not None and sock is not None:
        raise ValueError("give path= or sock=, not both")
    if (path is not None or sock is not None) and (host is not None or port is not None):
        which = "path" if path is not None else "sock"
        raise ValueError(f"host and port are not used with {which}=: leave them out")


def server_socket(
    host: str | None,
    port: int | None,
    backlog: int,
    *,
    path: object = None,
    sock: object = None,
    reuse_port: bool = False,
) -> socket.socket:
    """The non-blocking listening socket a server serves on: TCP on *host*:*port*
    (see :func:`listening_socket`), a Unix domain socket at *path* (see
    :func:`unix_listening_socket`), or *sock*, a listening socket the caller
    already has (inherited, pre-bound, from systemd's socket activation); the
    server then owns it and closes it. Exactly one of the three is given."""
    _only_one(host, port, path, sock)
    if (path is not None or sock is not None) and reuse_port:
        raise ValueError("reuse_port is for the TCP socket a server makes from host and port")
    if sock is not None:
        given = _check_sock(sock)
        if not given.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ValueError("sock must be a listening socket (call its listen() first)")
        given.setblocking(False)
        return given
    if path is not None:
        return unix_listening_socket(path, backlog)
    if port is None:
        raise TypeError("a port is needed (0: the system picks one), or path= or sock=")
    return listening_socket(host, port, backlog, reuse_port=reuse_port)


def connected_socket(host: object, port: object, path: object, sock: object) -> Any:
    """Check a client's target: *host* and *port*, a Unix socket *path*, or *sock*,
    a connected socket. Returns the checked path or socket (``None`` for TCP)."""
    _only_one(host, port, path, sock)
    if sock is not None:
        given = _check_sock(sock)
        try:
            given.getpeername()
        except OSError:
            raise ValueError("sock must be a connected socket") from None
        return given
    if path is not None:
        if not hasattr(socket, "AF_UNIX"):
            raise ValueError("path=: this platform has no Unix domain sockets")
        return _check_path(path)
    if host is None or port is None:
        raise TypeError("a host and a port are needed, or path= or sock=")
    check_port(port)
    return None


def nodelay(sock: socket.socket) -> None:
    """Disable Nagle's algorithm on a TCP socket (a Unix socket has none)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def server_tls(ssl: object) -> _ssl.SSLContext | None:
    """Check a server's *ssl* argument: a server-side :class:`ssl.SSLContext` or ``None``.

    A client-side context (one that checks host names, as
    :func:`ssl.create_default_context` makes by default) cannot serve: every
    handshake would fail, so it is refused here, when the server starts.

    The context gets :data:`ssl.OP_IGNORE_UNEXPECTED_EOF`, so that a peer's ragged
    EOF (TCP closed without a close_notify) is its EOF, as a close_notify is, and
    the replies still owed to it are sent.
    """
    if ssl is None:
        return None
    if not isinstance(ssl, _ssl.SSLContext):
        raise TypeError(f"ssl must be an ssl.SSLContext or None, not {type(ssl).__name__}")
    if ssl.check_hostname or ssl.protocol == _ssl.PROTOCOL_TLS_CLIENT:
        raise ValueError(
            "ssl is a client-side context (it checks host names), so every TLS client "
            "would fail: make a server context with "
            "ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) and load_cert_chain()"
        )
    # Without it, OpenSSL 3 answers a ragged EOF with a fatal alert and refuses every
    # write after it: the replies to the peer's last requests would be lost.
    ssl.options |= _IGNORE_UNEXPECTED_EOF
    return ssl


def upgrade_context(upgrade: TLSUpgrade) -> _ssl.SSLContext:
    """The context to start the TLS that :meth:`~asyncframe.Handler.start_tls` asked
    for with: on the server's side it gets :data:`ssl.OP_IGNORE_UNEXPECTED_EOF`, as
    :func:`server_tls` gives a server's context, so that after the upgrade too a
    ragged EOF is an EOF and the replies owed to the peer are sent."""
    context: _ssl.SSLContext = upgrade.context
    if upgrade.server_side:
        context.options |= _IGNORE_UNEXPECTED_EOF
    return context


def client_tls(ssl: object, server_hostname: object) -> _ssl.SSLContext | None:
    """Check a client's *ssl* (an :class:`ssl.SSLContext`, ``True`` for
    :func:`ssl.create_default_context`, or ``None``) and *server_hostname*; return
    the context, or ``None`` for no TLS."""
    if ssl is not None and not isinstance(ssl, (bool, _ssl.SSLContext)):
        raise TypeError(f"ssl must be an ssl.SSLContext, True or None, not {type(ssl).__name__}")
    if server_hostname is not None:
        if not isinstance(server_hostname, str):
            kind = type(server_hostname).__name__
            raise TypeError(f"server_hostname must be a str or None, not {kind}")
        if not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
    return _ssl.create_default_context() if ssl is True else ssl or None
