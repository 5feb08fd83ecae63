"""The conversation suite: its RESP servers answer right, and a tiny run gives every row."""

from __future__ import annotations

import importlib.util
import math
import stat
from pathlib import Path

import pytest

from asyncframe import Driver
from benchmarks import conversation
from benchmarks.common import Result, format_table
from benchmarks.conversation import (
    MiniRedis,
    ServerProcess,
    Sizes,
    check_resp,
    execute,
    parse_commands,
    redis_benchmark,
)

#: A pipeline of every command shape: inline, multi-bulk, an empty value, a value
#: holding CRLF, a missing key.
PIPELINE = (
    b"PING\r\n"
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"
    b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    b"*3\r\n$3\r\nset\r\n$1\r\ne\r\n$0\r\n\r\n"
    b"*2\r\n$3\r\nGET\r\n$1\r\ne\r\n"
    b"*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n"
    b"*1\r\n$6\r\nCONFIG\r\n"
)
REPLIES = (
    b"+PONG\r\n+OK\r\n$4\r\na\r\nb\r\n+OK\r\n$0\r\n\r\n$-1\r\n"
    b"-ERR unknown command or wrong number of arguments\r\n"
)


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 8, len(PIPELINE)])
def test_the_mini_redis_handler_answers_a_pipeline_however_it_is_cut(piece: int) -> None:
    driver = Driver(MiniRedis({}))
    driver.start()
    output = b""
    for i in range(0, len(PIPELINE), piece):
        driver.receive(PIPELINE[i : i + piece])
        output += driver.take(None) or b""
    assert output == REPLIES


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 8, len(PIPELINE)])
def test_the_hand_written_parser_answers_a_pipeline_however_it_is_cut(piece: int) -> None:
    store: dict[bytes, bytes] = {}
    pending, output = b"", b""
    for i in range(0, len(PIPELINE), piece):
        commands, pending = parse_commands(pending + PIPELINE[i : i + piece])
        output += b"".join(execute(store, args) for args in commands)
    assert (output, pending) == (REPLIES, b"")


def test_a_malformed_request_gets_an_error_and_a_close() -> None:
    driver = Driver(MiniRedis({}))
    driver.start()
    driver.receive(b"*x\r\nPING\r\n")
    assert driver.take(None) == b"-ERR Protocol error\r\n"
    assert driver.finished
    with pytest.raises(ValueError, match="len"):
        parse_commands(b"*1\r\nPING\r\n")


def test_a_server_process_reports_its_cpu_time_and_stops_when_asked() -> None:
    server = ServerProcess("resp:selectors")
    try:
        first = server.cpu()
        check_resp(server.port)
        assert server.cpu() > first > 0
    finally:
        server.close()
    assert server.child.returncode == 0


def test_the_resp_check_fails_on_a_server_that_does_not_speak_resp() -> None:
    server = ServerProcess("line:selectors")  # an echo server: it answers with the request
    try:
        with pytest.raises(AssertionError, match="expected"):
            check_resp(server.port)
    finally:
        server.close()


@pytest.mark.parametrize(
    "csv",
    [
        '"test","rps","avg_latency_ms"\\n"SET","25000.00","1.2"\\n',  # redis-benchmark 7
        '"SET","25000.00"\\n',  # redis-benchmark 6 and older
    ],
)
def test_redis_benchmark_figures_are_read_from_either_csv_format(tmp_path: Path, csv: str) -> None:
    fake = tmp_path / "redis-benchmark"
    fake.write_text(f"#!/bin/sh\nprintf '{csv}'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    seconds, requests = redis_benchmark(str(fake), 1, 50, 1000, 1, "set")
    assert requests == 1000
    assert seconds == pytest.approx(1000 / 25000)


def test_cpu_rows_are_shown_in_microseconds_per_request() -> None:
    row = Result("cpu", "peer", 42e-6, 21e-6, 0.67, unit="s/request")
    table = format_table([row])
    assert "42.0 us/request" in table
    assert "21.0 us/request" in table
    assert "0.50x" in table


@pytest.mark.slow
def test_a_tiny_run_with_the_python_client_gives_every_row() -> None:
    tiny = Sizes(
        pingpong=50,
        resp_clients=4,
        resp_requests=64,
        echo_clients=20,
        echo_lines=3,
        stream_lines=500,
        rounds=1,
    )
    seen: list[Result] = []
    results = conversation.run(sizes=tiny, on_result=seen.append, client="python")
    assert results == seen
    has_trio = importlib.util.find_spec("trio") is not None
    has_twisted = importlib.util.find_spec("twisted") is not None
    adapters = ["selectors Loop", "asyncio serve()"] + (["trio serve()"] if has_trio else [])
    rows = {(r.name, r.peer): r for r in results}
    assert len(rows) == len(results)
    for adapter in adapters:
        for peer in ("hand-written asyncio Protocol", "asyncio streams server"):
            assert rows[f"ping-pong, 1 client x 50 round trips: {adapter}", peer].target is None
        protocol = "hand-written asyncio Protocol"
        assert rows[f"echo 20 clients x 3 lines: {adapter}", protocol].target == 0.7
        assert rows[f"echo 1 client streaming 500 lines: {adapter}", protocol].target == 0.5
        for depth in (1, 16):
            for test in ("PING", "SET", "GET"):
                row = rows[
                    f"RESP {test} -P {depth}, 4 clients: {adapter}", "asyncio streams server"
                ]
                assert row.target == (0.75 if adapter == "trio serve()" else 1.0)
            cpu = rows[f"server CPU per request, RESP -P {depth}: {adapter}", protocol]
            assert (cpu.target, cpu.unit) == (0.67, "s/request")
            # Dozens of requests cost a Python server microseconds each, not seconds.
            assert 0 < cpu.ours < 0.01
            assert 0 < cpu.theirs < 0.01
    if has_twisted:
        assert (
            "RESP PING+SET+GET -P 16, 4 clients: selectors Loop",
            "Twisted LineReceiver",
        ) in rows
    assert all(math.isfinite(r.ratio) and r.ratio > 0 for r in results)
    notes = conversation.notes()
    assert "RESP client: the Python client of benchmarks/conversation.py" in notes
    assert sum(note.startswith("server CPU per request (us, this run)") for note in notes) == 2
