"""The benchmark suites (``python -m benchmarks``) run, and their verdicts follow the ratios."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from benchmarks import run_bench
from benchmarks._support import REPO_ROOT
from benchmarks.common import Result


@pytest.mark.slow
def test_a_quick_run_prints_progress_and_a_ratio_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "asynchat,inbound"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 1), result.stderr
    assert "[1/2] the async_chat drop-in against the stdlib asynchat ..." in result.stderr
    assert "[2/2] inbound framing" in result.stderr
    table = result.stdout.splitlines()
    assert table[0].split()[:2] == ["benchmark", "peer"]
    assert any("asyncio readuntil loop" in line for line in table)
    assert any("targets met" in line for line in table)


@pytest.mark.parametrize(
    ("ratios", "status", "summary"),
    [((3.0, 2.5), 0, "2 of 2 targets met"), ((3.0, 1.5), 1, "1 of 2 targets met")],
)
def test_the_exit_status_says_whether_every_target_was_met(
    monkeypatch: pytest.MonkeyPatch, ratios: tuple[float, float], status: int, summary: str
) -> None:
    import benchmarks

    def fake_suite(*, quick: bool, on_result: object) -> list[Result]:
        return [
            Result(f"case {i}", "peer", 1.0, ratio, target=2.0) for i, ratio in enumerate(ratios)
        ]

    monkeypatch.setitem(benchmarks.SUITES, "fake", ("a fake suite", fake_suite))
    out = io.StringIO()
    assert (
        run_bench(["fake"], quick=True, plot_path=None, out=out, progress=io.StringIO()) == status
    )
    assert summary in out.getvalue()


def test_a_bad_suite_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "outbound"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown suite outbound" in result.stderr


def test_several_runs_report_min_and_median_and_judge_on_the_min(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import benchmarks

    per_run = iter([3.0, 1.5, 2.5])  # met, missed, met: the target counts as missed

    def fake_suite(*, quick: bool, on_result: object) -> list[Result]:
        return [Result("case", "peer", 1.0, next(per_run), target=2.0)]

    monkeypatch.setitem(benchmarks.SUITES, "fake", ("a fake suite", fake_suite))
    out = io.StringIO()
    status = run_bench(
        ["fake"], quick=True, plot_path=None, out=out, progress=io.StringIO(), runs=3
    )
    assert status == 1
    row = next(line for line in out.getvalue().splitlines() if line.startswith("case"))
    assert row.split()[2:] == ["3.00", "1.50", "2.50", "1.50x", "2.50x", ">=", "2x", "MISSED"]
    assert "0 of 1 targets met in every one of 3 runs" in out.getvalue()


@pytest.mark.slow
def test_the_records_suite_checks_every_frame_count_and_compares() -> None:
    from benchmarks import SUITES, records

    assert SUITES["records"][1] is records.run
    seen: list[Result] = []
    results = records.run(quick=True, repeat=1, on_result=seen.append)
    assert results == seen
    names = [result.name for result in results]
    assert any("StructPrefix" in name for name in names)
    assert any("next_event()" in name for name in names)
    assert all(result.ours > 0 and result.theirs > 0 for result in results)
