"""Start a handler factory on the adapter a command line names; stop on Ctrl-C.

Every example server ends with ``raise SystemExit(run_server(Factory, __doc__))``:
this module turns ``--adapter``, ``--host`` and ``--port`` into the calls each
adapter takes, and shows that they are the only difference between adapters. The
handler class is the same on all three.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial

from asyncframe import Handler

ADAPTERS = ("selectors", "asyncio", "trio")

Factory = Callable[[], Handler]


def parse(doc: str | None, default_port: int, argv: Sequence[str] | None) -> argparse.Namespace:
    """The options every example server takes."""
    first = (doc or "").strip().splitlines()[0] if doc else None
    parser = argparse.ArgumentParser(description=first)
    parser.add_argument("--adapter", choices=ADAPTERS, default="selectors")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, help="0: any free port")
    return parser.parse_args(argv)


def ready(adapter: str, host: str, port: int) -> None:
    # One line a script (or a test) can wait for, with the port actually bound.
    print(f"listening on {host}:{port} ({adapter}); Ctrl-C stops", flush=True)


def serve_selectors(factory: Factory, host: str, port: int) -> None:
    """The selectors adapter: a loop of asyncframe's own."""
    from asyncframe.adapters.selectors import Loop

    with Loop() as loop:
        bound_host, bound_port = loop.listen(factory, host, port)
        # Loop.stop() may be called from a signal handler.
        signal.signal(signal.SIGTERM, lambda *_: loop.stop())
        signal.signal(signal.SIGINT, lambda *_: loop.stop())
        ready("selectors", bound_host, bound_port)
        loop.run()


def serve_asyncio(factory: Factory, host: str, port: int) -> None:
    """The asyncio adapter: ``serve()`` returns an :class:`asyncio.Server`."""
    import asyncio

    from asyncframe.adapters.asyncio import serve

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = await serve(factory, host, port)
        async with server:
            bound_host, bound_port = server.sockets[0].getsockname()[:2]
            ready("asyncio", bound_host, bound_port)
            await stop.wait()

    asyncio.run(main())


def serve_trio(factory: Factory, host: str, port: int) -> None:
    """The trio adapter: ``serve()`` runs in a nursery, as :func:`trio.serve_tcp` does."""
    import trio

    from asyncframe.adapters.trio import serve

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(serve, factory, port, host=host))
            bound_host, bound_port = listeners[0].socket.getsockname()[:2]
            ready("trio", bound_host, bound_port)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)


def run_server(
    factory: Factory, doc: str | None, default_port: int, argv: Sequence[str] | None = None
) -> int:
    """Parse the command line, serve *factory* until Ctrl-C; return the exit status."""
    args = parse(doc, default_port, argv)
    if args.adapter == "selectors":
        serve_selectors(factory, args.host, args.port)
    elif args.adapter == "asyncio":
        serve_asyncio(factory, args.host, args.port)
    else:
        try:
            serve_trio(factory, args.host, args.port)
        except ImportError:
            print('the trio adapter needs trio: pip install "asyncframe[trio]"', file=sys.stderr)
            return 2
    return 0
