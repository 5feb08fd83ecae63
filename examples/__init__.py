"""Small servers and a client built on asyncframe, to run and to read.

Run each from the root of a checkout, on the adapter of your choice::

    python -m examples.smtp_receiver --adapter selectors --port 8025
    python -m examples.redis_server --adapter asyncio --port 6380
    python -m examples.memcached_server --adapter trio --port 11311
    python -m examples.json_chat --port 7000
    python -m examples.chat_client --port 7000 --name alice
    python -m examples.tls_servers smtp --cert cert.pem --key key.pem --port 8025

``--help`` lists the options of each; Ctrl-C stops it. The servers are one
:class:`~asyncframe.Handler` subclass each, and the same class runs on every
adapter; :mod:`examples._run` is the few lines that start it on the one you
name. ``tests/example_programs`` runs each against a client written elsewhere: the
standard library's ``smtplib``, redis-py and pymemcache.

:mod:`examples.tls_servers` holds four servers (SMTP, POP3, IMAP, FTP's control
connection) that upgrade to TLS with :meth:`~asyncframe.Handler.start_tls`, on the
selectors loop; ``tests/adapters/test_tls_clients.py`` runs them on every adapter
against ``smtplib``, ``poplib``, ``imaplib`` and ``ftplib``.
"""
