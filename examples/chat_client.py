"""A client for the JSON chat (examples.json_chat), on ``FramedStream``.

Start the chat server, then::

    python -m examples.chat_client --adapter asyncio --port 7000 --name alice

Each line you type is said to the room; ``/who`` lists who is here; an empty
line or Ctrl-D leaves. What others say is printed as it arrives.

What it shows: the client side. :class:`ChatClient` is protocol code written
once against the two ``FramedStream`` classes, asyncio's and trio's (the same
methods: ``connect``, ``send``, ``receive_frame``, ``aclose``); only starting a
task and reading the terminal differ, in :func:`run_asyncio` and
:func:`run_trio`. (The selectors adapter has no ``FramedStream``: it runs
callbacks, not coroutines.)
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Protocol


class Stream(Protocol):
    """What :class:`ChatClient` uses of a ``FramedStream``."""

    async def send(self, data: bytes) -> None: ...

    async def receive_frame(self) -> bytes: ...

    async def aclose(self) -> None: ...


class ChatClient:
    """One member of the chat, over a ``FramedStream`` whose terminator is ``b"\\n"``."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    async def send(self, message: dict[str, Any]) -> None:
        await self.stream.send(json.dumps(message).encode("utf-8") + b"\n")

    async def receive(self) -> dict[str, Any]:
        """The next message from the server; :exc:`EOFError` once it has closed."""
        message: dict[str, Any] = json.loads(await self.stream.receive_frame())
        return message

    async def join(self, name: str) -> dict[str, Any]:
        """Join as *name*; return the server's answer (``joined``, or an ``error``)."""
        await self.send({"type": "join", "name": name})
        while True:
            answer = await self.receive()
            # Others may be joining at the same time: wait for our own answer.
            if answer["type"] == "error" or answer.get("name") == name:
                return answer

    async def say(self, text: str) -> None:
        await self.send({"type": "say", "text": text})

    async def who(self) -> None:
        await self.send({"type": "who"})

    async def aclose(self) -> None:
        await self.stream.aclose()


def show(message: dict[str, Any]) -> str:
    """A message as a line for the terminal."""
    kind = message.get("type")
    if kind == "said":
        return f"<{message['name']}> {message['text']}"
    if kind == "joined":
        return f"* {message['name']} joined"
    if kind == "left":
        return f"* {message['name']} left"
    if kind == "members":
        return "* here: " + ", ".join(message["names"])
    return f"! {message.get('error', message)}"


async def print_messages(client: ChatClient) -> None:
    try:
        while True:
            print(show(await client.receive()), flush=True)
    except EOFError:
        print("* the server closed the connection (Enter leaves)", flush=True)


def run_asyncio(host: str, port: int, name: str) -> None:
    import asyncio

    from asyncframe.adapters.asyncio import FramedStream

    async def main() -> None:
        stream = await FramedStream.connect(host, port, terminator=b"\n")
        client = ChatClient(stream)

        async def read_line() -> str:
            return await asyncio.to_thread(sys.stdin.readline)

        answer = await client.join(name)
        print(show(answer), flush=True)
        printer = asyncio.create_task(print_messages(client))
        try:
            while line := (await read_line()).rstrip("\n"):
                await (client.who() if line == "/who" else client.say(line))
        finally:
            printer.cancel()
            await client.aclose()

    asyncio.run(main())


def run_trio(host: str, port: int, name: str) -> None:
    import trio

    from asyncframe.adapters.trio import FramedStream

    async def main() -> None:
        stream = await FramedStream.connect(host, port, terminator=b"\n")
        client = ChatClient(stream)

        async def read_line() -> str:
            return await trio.to_thread.run_sync(sys.stdin.readline)

        answer = await client.join(name)
        print(show(answer), flush=True)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(print_messages, client)
            while line := (await read_line()).rstrip("\n"):
                await (client.who() if line == "/who" else client.say(line))
            nursery.cancel_scope.cancel()
        await client.aclose()

    trio.run(main)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A client for examples.json_chat.")
    parser.add_argument("--adapter", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    run = run_asyncio if args.adapter == "asyncio" else run_trio
    run(args.host, args.port, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
