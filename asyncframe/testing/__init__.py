"""Tools for testing protocols built on asyncframe, and adapters that run them.

A sans-IO protocol can be tested without sockets: feed it chunks of bytes and look
at what it did. This package gives you the pieces:

- drivers, :func:`drive_channel` and :func:`drive_handler`, that feed a
  :class:`~asyncframe.Channel` or a :class:`~asyncframe.Handler` a list of chunks
  (then, by default, EOF) and return a :class:`Transcript` of what happened;
- `hypothesis <https://hypothesis.readthedocs.io>`_ strategies,
  :func:`chunkings` (every way to split bytes into ``receive_data`` calls) and
  :func:`terminators`, for property tests such as "my protocol answers the same
  whatever the chunking";
- the adapter conformance kit: behavioural checks (``check_*``, all of them in
  :data:`CHECKS`, run by :func:`check_adapter`) that an adapter runs against
  itself over real loopback sockets, through an :class:`AdapterUnderTest`;
  :class:`SelectorsAdapter`, :class:`AsyncioAdapter` (and :class:`UvloopAdapter`,
  the same on a uvloop loop), :class:`TrioAdapter` and :class:`AnyioAdapter` are
  asyncframe's own, and :class:`TwistedAdapter` (on the process's one reactor,
  :func:`running_reactor`).

The drivers and the kit need nothing beyond asyncframe (:class:`TrioAdapter`
needs trio when it runs, :class:`UvloopAdapter` uvloop, :class:`AnyioAdapter`
anyio, :class:`TwistedAdapter` Twisted); the strategies need hypothesis
(``pip install "asyncframe[test]"``).

>>> from asyncframe import Channel
>>> from asyncframe.testing import drive_channel
>>> drive_channel(Channel(b"\\n"), [b"HEL", b"O\\nQU", b"IT\\n"]).frames()
[b'HELO', b'QUIT']
"""

from ._adapters import (
    AdapterUnderTest,
    Address,
    AnyioAdapter,
    AsyncioAdapter,
    SelectorsAdapter,
    ThreadedAdapter,
    TrioAdapter,
    TwistedAdapter,
    UvloopAdapter,
    running_reactor,
    serving,
)
from ._conformance import (
    CHECKS,
    check_adapter,
    check_blocked_writer_closes,
    check_echo_under_awkward_chunkings,
    check_endless_producer_peer_leaves,
    check_factory_returning_none,
    check_frame_too_long,
    check_half_close_with_tail,
    check_handler_without_super_init,
    check_idle_timeout,
    check_input_limit,
    check_many_concurrent_clients,
    check_never_reading_peer,
    check_peername,
    check_pipeline_before_reading,
    check_raising_callbacks,
    check_replies_flushed_at_eof,
    check_replies_flushed_at_ragged_eof,
    check_reset_mid_frame,
    check_starttls,
    check_starttls_close_notify,
    check_starttls_handshake_failure,
    check_starttls_injection,
    check_tls_big_reply_then_close_notify,
    check_tls_close_notify,
    check_tls_echo,
    check_tls_ragged_eof_after_request,
    check_unix_socket,
)
from ._drivers import Transcript, drive_channel, drive_handler
from ._strategies import chunkings, terminators

__all__ = [
    "CHECKS",
    "AdapterUnderTest",
    "Address",
    "AnyioAdapter",
    "AsyncioAdapter",
    "SelectorsAdapter",
    "ThreadedAdapter",
    "Transcript",
    "TrioAdapter",
    "TwistedAdapter",
    "UvloopAdapter",
    "check_adapter",
    "check_blocked_writer_closes",
    "check_echo_under_awkward_chunkings",
    "check_endless_producer_peer_leaves",
    "check_factory_returning_none",
    "check_frame_too_long",
    "check_half_close_with_tail",
    "check_handler_without_super_init",
    "check_idle_timeout",
    "check_input_limit",
    "check_many_concurrent_clients",
    "check_never_reading_peer",
    "check_peername",
    "check_pipeline_before_reading",
    "check_raising_callbacks",
    "check_replies_flushed_at_eof",
    "check_replies_flushed_at_ragged_eof",
    "check_reset_mid_frame",
    "check_starttls",
    "check_starttls_close_notify",
    "check_starttls_handshake_failure",
    "check_starttls_injection",
    "check_tls_big_reply_then_close_notify",
    "check_tls_close_notify",
    "check_tls_echo",
    "check_tls_ragged_eof_after_request",
    "check_unix_socket",
    "chunkings",
    "drive_channel",
    "drive_handler",
    "running_reactor",
    "serving",
    "terminators",
]
