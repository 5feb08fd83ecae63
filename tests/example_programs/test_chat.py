"""The JSON chat on every adapter, with asyncframe's own client (examples.chat_client)
on both FramedStream classes."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from asyncframe.adapters import asyncio as asyncio_adapter
from asyncframe.adapters import trio as trio_adapter
from examples import json_chat
from examples.chat_client import ChatClient, show

from .conftest import Serve

TIMEOUT = 20.0

Connect = Callable[[int], Awaitable[ChatClient]]


async def conversation(connect: Connect, port: int) -> list[dict[str, Any]]:
    """alice and bob join; alice says hello; bob asks who is here; alice leaves.
    Returns what bob received."""
    alice = await connect(port)
    assert await alice.join("alice") == {"type": "joined", "name": "alice"}
    bob = await connect(port)
    assert await bob.join("bob") == {"type": "joined", "name": "bob"}
    assert await alice.receive() == {"type": "joined", "name": "bob"}
    taken = await connect(port)
    assert (await taken.join("alice"))["type"] == "error"  # the name is taken
    await taken.aclose()
    await alice.say("hello, bob")
    got = [await bob.receive()]
    await bob.who()
    got.append(await bob.receive())
    await alice.aclose()
    got.append(await bob.receive())
    await bob.aclose()
    return got


EXPECTED = [
    {"type": "said", "name": "alice", "text": "hello, bob"},
    {"type": "members", "names": ["alice", "bob"]},
    {"type": "left", "name": "alice"},
]


def test_chat_with_the_asyncio_client(serve: Serve) -> None:
    room = json_chat.Room()
    port = serve(lambda: json_chat.ChatHandler(room))

    async def connect(port: int) -> ChatClient:
        stream = await asyncio_adapter.FramedStream.connect("127.0.0.1", port, terminator=b"\n")
        return ChatClient(stream)

    async def main() -> list[dict[str, Any]]:
        return await asyncio.wait_for(conversation(connect, port), TIMEOUT)

    assert asyncio.run(main()) == EXPECTED


def test_chat_with_the_trio_client(serve: Serve) -> None:
    room = json_chat.Room()
    port = serve(lambda: json_chat.ChatHandler(room))

    async def connect(port: int) -> ChatClient:
        stream = await trio_adapter.FramedStream.connect("127.0.0.1", port, terminator=b"\n")
        return ChatClient(stream)

    async def main() -> list[dict[str, Any]]:
        with trio.fail_after(TIMEOUT):
            return await conversation(connect, port)

    assert trio.run(main) == EXPECTED


def test_chat_answers_bad_lines_and_goes_on(serve: Serve) -> None:
    room = json_chat.Room()
    port = serve(lambda: json_chat.ChatHandler(room))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        reader = sock.makefile("rb")
        lines = [
            b"not json\n",
            b'{"type": "say", "text": "before joining"}\n',
            b"x" * (json_chat.MAX_LINE + 10) + b"\n",
            b'{"type": "join", "name": "carol"}\n',
        ]
        sock.sendall(b"".join(lines))
        answers = [json.loads(reader.readline()) for _ in lines]
        assert [answer["type"] for answer in answers] == ["error", "error", "error", "joined"]


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ({"type": "said", "name": "a", "text": "hi"}, "<a> hi"),
        ({"type": "joined", "name": "a"}, "* a joined"),
        ({"type": "left", "name": "a"}, "* a left"),
        ({"type": "members", "names": ["a", "b"]}, "* here: a, b"),
        ({"type": "error", "error": "no"}, "! no"),
    ],
)
def test_the_client_shows_each_message(message: dict[str, Any], line: str) -> None:
    assert show(message) == line
