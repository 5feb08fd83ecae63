"""Each example starts from the command line on each adapter (``--adapter``), serves a
real client, and stops on SIGTERM with status 0."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from asyncframe.adapters.selectors import Loop
from examples import json_chat

ROOT = Path(__file__).resolve().parents[2]  # where examples/ is, in a checkout or an sdist
TIMEOUT = 20.0

# One request each example answers, and the start of its answer.
EXCHANGES = {
    "smtp_receiver": (b"NOOP\r\n", b"220 "),
    "redis_server": (b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"),
    "memcached_server": (b"version\r\n", b"VERSION "),
    "json_chat": (b'{"type": "join", "name": "nc"}\n', b'{"type":"joined","name":"nc"}\n'),
    "record_echo": (b"\x00\x00\x00\x02hi", b"\x00\x00\x00\x02hi"),
}


@contextmanager
def running(*args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


@pytest.mark.parametrize("adapter", ["selectors", "asyncio", "trio"])
@pytest.mark.parametrize("example", list(EXCHANGES))
def test_the_example_runs_on_the_adapter_named(example: str, adapter: str) -> None:
    request, answer = EXCHANGES[example]
    with running(f"examples.{example}", "--adapter", adapter, "--port", "0") as process:
        assert process.stdout is not None
        first = process.stdout.readline()  # a line: it waits no longer than the start
        found = re.match(r"listening on 127\.0\.0\.1:(\d+) \((\w+)\)", first)
        assert found, first + process.stderr.read() if process.stderr else first
        assert found[2] == adapter
        with socket.create_connection(("127.0.0.1", int(found[1])), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            got = b""
            while len(got) < len(answer) and (chunk := sock.recv(4096)):
                got += chunk
            assert got.startswith(answer)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0


@pytest.mark.parametrize("adapter", ["asyncio", "trio"])
def test_the_chat_client_runs_on_the_adapter_named(adapter: str) -> None:
    room = json_chat.Room()
    with Loop() as loop:
        _, port = loop.listen(lambda: json_chat.ChatHandler(room), "127.0.0.1", 0)
        thread = threading.Thread(target=loop.run, kwargs={"timeout": TIMEOUT})
        thread.start()
        try:
            args = ["--adapter", adapter, "--port", str(port), "--name", "dana"]
            with running("examples.chat_client", *args) as process:
                assert process.stdin is not None
                assert process.stdout is not None
                assert process.stdout.readline() == "* dana joined\n"
                # Typed a line at a time, each answer read before the next line.
                for typed, shown in [
                    ("hello there", "<dana> hello there"),
                    ("/who", "* here: dana"),
                ]:
                    process.stdin.write(typed + "\n")
                    process.stdin.flush()
                    assert process.stdout.readline() == shown + "\n"
                process.stdin.write("\n")  # an empty line leaves
                process.stdin.flush()
                assert process.wait(timeout=TIMEOUT) == 0
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(TIMEOUT)
