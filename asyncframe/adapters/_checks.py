"""Argument checks and the options every adapter takes, under the same names."""

from __future__ import annotations

import socket
import ssl as _ssl

from asyncframe._driver import (
    DEFAULT_BACKLOG,
    DEFAULT_HIGH_WATER,
    DEFAULT_INPUT_LIMIT,
    DEFAULT_READ_SIZE,
    Options,
)

# OpenSSL 3's option (0 where the ssl module lacks it: older OpenSSL reports a ragged
# EOF without breaking the connection).
_IGNORE_UNEXPECTED_EOF = getattr(_ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)

__all__ = [
    "DEFAULT_BACKLOG",
    "DEFAULT_HIGH_WATER",
    "DEFAULT_INPUT_LIMIT",
    "DEFAULT_READ_SIZE",
    "Options",
    "check_port",
    "check_sizes",
    "client_tls",
    "listening_socket",
    "options",
    "server_tls",
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
) -> Options:
    """Check the options every adapter takes; TypeError/ValueError name the bad one."""
    return Options(read_size, high_water, input_limit, idle_timeout, backlog)


def listening_socket(host: str | None, port: int, backlog: int) -> socket.socket:
    """A non-blocking listening TCP socket on *host*:*port*.

    *host* is an IPv4 or IPv6 address or a name (its first address); ``None`` or
    ``""`` listens on every interface, IPv6 too where one socket can take both.
    """
    check_port(port)
    if host:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
            0
        ][0]
        sock = socket.create_server((host, port), family=family, backlog=backlog)
    elif socket.has_dualstack_ipv6():
        sock = socket.create_server(
            ("", port), family=socket.AF_INET6, backlog=backlog, dualstack_ipv6=True
        )
    else:
        sock = socket.create_server(("", port), backlog=backlog)
    sock.setblocking(False)
    return sock


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
