"""The spool: real files under tmp_path, a writer killed with SIGKILL, failures that never raise."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracelet.runtime import spool
from tracelet.runtime.spool import (
    EVENTS,
    META,
    SpoolReader,
    SpoolWriter,
    encode,
    encode_metrics,
    metric_event,
    param_event,
    status_event,
    tag_event,
)

ROOT = Path(__file__).resolve().parent.parent


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_round_trip_of_every_event_kind(tmp_path: Path) -> None:
    events = [
        param_event("lr", 0.1, t=1),
        param_event("layers", [64, [32, 16]], t=2),
        param_event("name", "caf\xe9 \u4e2d\U0001f600 \ud800", t=3),  # non-ASCII, lone surrogate
        param_event("none", None, t=4),
        metric_event("loss", 0.25, 7, t=5),
        metric_event("nan", math.inf, 8, t=6),
        tag_event("note", "two\nlines", t=7),
        status_event("RUNNING", t=8),
        status_event("FAILED", "Traceback (most recent call last):\n  ...\nValueError: x\n", t=9),
    ]
    with SpoolWriter.create(tmp_path / "spool", experiment="exp", run_name="r1") as writer:
        assert all(writer.append(event) for event in events)
        assert writer.ok and writer.written == len(events)
    data = writer.path.read_bytes()
    assert data.count(b"\n") == len(events) and data.isascii()
    read, offset = SpoolReader(writer.run_dir).read()
    assert read == events
    assert offset == len(data)
    assert read[-1]["tb"].endswith("ValueError: x\n") and "tb" not in read[-2]


@pytest.mark.parametrize(
    "value", [0.5, -1e-300, 1e300, 3.0, math.nan, math.inf, -math.inf, 0.1 + 0.2]
)
def test_metric_lines_are_those_of_the_general_encoder(value: float) -> None:
    key = "train/loss \u4e2d"  # non-ASCII keys are escaped alike
    assert encode_metrics([(key, value, 12, 345)]) == encode(metric_event(key, value, 12, 345))


def test_extend_metrics_writes_many_points_with_one_write(tmp_path: Path, monkeypatch) -> None:
    writes: list[int] = []
    real_write = os.write
    monkeypatch.setattr(
        os, "write", lambda fd, data: writes.append(len(data)) or real_write(fd, data)
    )
    with SpoolWriter.create(tmp_path / "spool") as writer:
        assert writer.extend_metrics([("a", 1.0, 0, 1), ("b", 2.0, 1, 3)])
        assert writer.written == 2 and len(writes) == 1
        assert not writer.extend_metrics([("c", "not a number", 2, 4)])  # dropped, no raise
    assert SpoolReader(writer.run_dir).events() == [
        metric_event("a", 1.0, 0, t=1), metric_event("b", 2.0, 1, t=3),
    ]  # fmt: skip


def test_layout_and_meta(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    writer = SpoolWriter.create(
        root, experiment="exp", run_name="r1", tracking_uri="sqlite:///m.db",
        argv=["train.py", "--lr", "0.1"], cwd="/somewhere", pid=4242,
    )  # fmt: skip
    writer.close()
    assert re.fullmatch(r"[0-9a-f]{32}", writer.run_id)
    assert writer.run_dir == root / "runs" / writer.run_id
    assert sorted(p.name for p in writer.run_dir.iterdir()) == [EVENTS, META]  # no temp file left
    assert (root / ".gitignore").read_text().splitlines()[-1] == "*"
    meta = SpoolReader(writer.run_dir).meta()
    assert meta is not None
    assert {k: meta[k] for k in ("run_id", "experiment", "run_name", "tracking_uri")} == {
        "run_id": writer.run_id, "experiment": "exp", "run_name": "r1",
        "tracking_uri": "sqlite:///m.db",
    }  # fmt: skip
    assert meta["argv"] == ["train.py", "--lr", "0.1"]
    assert (meta["cwd"], meta["pid"], meta["format"]) == ("/somewhere", 4242, 1)
    assert abs(meta["start_time"] - spool.now_ms()) < 60_000


def test_default_root_is_dot_tracelet_in_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    writer = SpoolWriter.create(experiment="exp")
    writer.close()
    assert writer.run_dir.resolve() == (tmp_path / ".tracelet" / "runs" / writer.run_id)
    assert SpoolReader(writer.run_dir).meta()["cwd"] == str(tmp_path)


def test_reading_from_an_offset_returns_only_new_events(tmp_path: Path) -> None:
    writer = SpoolWriter.create(tmp_path)
    reader = SpoolReader(writer.run_dir)
    assert reader.read() == ([], 0)
    writer.append(param_event("a", 1, t=1))
    writer.append(param_event("b", 2, t=1))
    first, offset = reader.read()
    assert [e["k"] for e in first] == ["a", "b"]
    assert reader.read(offset) == ([], offset)
    writer.append(metric_event("loss", 1.0, 1, t=1))
    more, offset2 = reader.read(offset)
    assert [e["k"] for e in more] == ["loss"] and offset2 == writer.path.stat().st_size
    writer.close()


def test_max_events_stops_at_a_line_boundary(tmp_path: Path) -> None:
    with SpoolWriter.create(tmp_path) as writer:
        for i in range(10):
            writer.append(metric_event("m", float(i), i, t=1))
    reader = SpoolReader(writer.run_dir)
    offset, steps = 0, []
    while True:
        batch, offset = reader.read(offset, max_events=3)
        if not batch:
            break
        assert len(batch) <= 3
        steps += [e["s"] for e in batch]
    assert steps == list(range(10))


def test_a_torn_last_line_stays_pending_until_its_newline(tmp_path: Path) -> None:
    with SpoolWriter.create(tmp_path) as writer:
        writer.append(param_event("a", 1, t=1))
    line = spool.encode(param_event("b", 2, t=1))
    with open(writer.path, "ab") as handle:
        handle.write(line[:9])  # an append in flight
    reader = SpoolReader(writer.run_dir)
    events, offset = reader.read()
    assert [e["k"] for e in events] == ["a"]
    assert offset == writer.path.stat().st_size - 9
    assert reader.read(offset) == ([], offset)  # still pending
    with open(writer.path, "ab") as handle:
        handle.write(line[9:])
    events, offset = reader.read(offset)
    assert [e["k"] for e in events] == ["b"] and offset == writer.path.stat().st_size
    assert reader.skipped == 0


def test_final_read_takes_or_skips_an_unterminated_tail(tmp_path: Path) -> None:
    with SpoolWriter.create(tmp_path) as writer:
        writer.append(param_event("a", 1, t=1))
    complete = spool.encode(param_event("b", 2, t=1)).rstrip(b"\n")
    with open(writer.path, "ab") as handle:
        handle.write(complete)
    reader = SpoolReader(writer.run_dir)
    events, offset = reader.read(final=True)
    assert [e["k"] for e in events] == ["a", "b"] and offset == writer.path.stat().st_size
    with open(writer.path, "ab") as handle:
        handle.write(b'\n{"e":"par')
    events, end = reader.read(offset, final=True)
    assert events == [] and end == writer.path.stat().st_size and reader.skipped == 1


def test_malformed_lines_are_skipped_with_one_warning(tmp_path: Path, caplog) -> None:
    with SpoolWriter.create(tmp_path) as writer:
        writer.append(param_event("a", 1, t=1))
    with open(writer.path, "ab") as handle:
        handle.write(b'garbage\n[1, 2]\n{"no-kind": 1}\n\n')
    with SpoolWriter.open(writer.run_dir) as again:
        again.append(param_event("b", 2, t=1))
    reader = SpoolReader(writer.run_dir)
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        events, _ = reader.read()
    assert [e["k"] for e in events] == ["a", "b"]
    assert reader.skipped == 3
    assert len(_warnings(caplog)) == 1


def test_a_line_longer_than_a_read_chunk(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(spool, "READ_CHUNK", 64)
    with SpoolWriter.create(tmp_path) as writer:
        writer.append(param_event("long", "x" * 1000, t=1))
        writer.append(param_event("short", 1, t=1))
    events, offset = SpoolReader(writer.run_dir).read()
    assert [e["k"] for e in events] == ["long", "short"] and offset == writer.path.stat().st_size


def test_open_appends_to_an_existing_spool_and_close_is_final(tmp_path: Path) -> None:
    first = SpoolWriter.create(tmp_path)
    first.append(param_event("a", 1, t=1))
    second = SpoolWriter.open(first.run_dir)
    assert second.run_id == first.run_id
    second.append(param_event("b", 2, t=1))
    first.append(param_event("c", 3, t=1))
    second.close()
    first.close()
    first.close()  # idempotent
    assert first.append(param_event("d", 4, t=1)) is False
    assert [e["k"] for e in SpoolReader(first.run_dir).events()] == ["a", "b", "c"]


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from tracelet.runtime.spool import SpoolWriter, metric_event
    writer = SpoolWriter.open(sys.argv[1])
    i = 0
    while True:
        writer.append(metric_event("step", float(i), i))
        sys.stdout.write(f"{i}\\n")  # acknowledged
        sys.stdout.flush()
        i += 1
    """
)


def test_a_writer_killed_with_sigkill_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    writer = SpoolWriter.create(tmp_path)
    writer.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(writer.run_dir)],
        stdout=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    acknowledged = -1
    try:
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 300:
                child.send_signal(signal.SIGKILL)  # mid-loop, without any chance to flush
                break
        for line in child.stdout:  # acknowledgements written before the signal landed
            if line.endswith("\n"):
                acknowledged = int(line)
    finally:
        child.kill()
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    events, _ = SpoolReader(writer.run_dir).read()
    steps = [e["s"] for e in events]
    assert steps == list(range(len(steps)))  # in order, nothing torn or duplicated
    assert len(steps) >= acknowledged + 1 >= 301


def test_an_unwritable_root_warns_once_and_never_raises(
    tmp_path: Path, caplog, monkeypatch
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the spool root should be")
    monkeypatch.setattr(spool, "RETRY_SECONDS", 3600.0)
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        writer = SpoolWriter.create(blocker / "spool", experiment="exp")
        results = [writer.append(param_event(f"p{i}", i, t=1)) for i in range(5)]
        writer.close()
    assert results == [False] * 5
    assert not writer.ok
    warnings = _warnings(caplog)
    assert len(warnings) == 2, warnings  # the failure, once; what close() could not write
    assert "cannot create the spool" in warnings[0] and "5 events" in warnings[1]


def test_pending_events_are_written_in_order_once_the_root_is_writable(
    tmp_path: Path, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(spool, "RETRY_SECONDS", 0.0)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        writer = SpoolWriter.create(blocker, experiment="exp")
        assert writer.append(param_event("a", 1, t=1)) is False
        assert writer.append(param_event("b", 2, t=1)) is False
        assert writer.pending == 2
        blocker.unlink()
        assert writer.append(param_event("c", 3, t=1)) is True
        assert writer.ok and writer.pending == 0
        writer.close()
    assert len(_warnings(caplog)) == 1
    reader = SpoolReader(writer.run_dir)
    assert [e["k"] for e in reader.events()] == ["a", "b", "c"]
    assert reader.meta()["experiment"] == "exp"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failing_write_warns_once_and_never_raises(tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.setattr(spool, "RETRY_SECONDS", 3600.0)
    run = tmp_path / "run"
    run.mkdir()
    (run / EVENTS).symlink_to("/dev/full")  # every write: ENOSPC
    with caplog.at_level(logging.WARNING, logger="tracelet"):
        writer = SpoolWriter.open(run)
        assert [writer.append(param_event("a", i, t=1)) for i in range(3)] == [False] * 3
    assert writer.pending == 3
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "No space left" in warnings[0]


def test_an_unencodable_event_is_dropped_with_a_warning(tmp_path: Path, caplog) -> None:
    loop: list = []
    loop.append(loop)
    with (
        caplog.at_level(logging.WARNING, logger="tracelet"),
        SpoolWriter.create(tmp_path) as writer,
    ):
        assert writer.append(param_event("loop", loop, t=1)) is False
        assert writer.append(param_event("ok", 1, t=1)) is True
    assert [e["k"] for e in SpoolReader(writer.run_dir).events()] == ["ok"]
    assert len(_warnings(caplog)) == 1


def test_lines_are_compact_json_with_the_documented_keys(tmp_path: Path) -> None:
    with SpoolWriter.create(tmp_path) as writer:
        writer.append(metric_event("loss", 0.5, 3, t=10))
        writer.append(status_event("FINISHED", t=11))
    lines = writer.path.read_text().splitlines()
    assert lines == [
        '{"e":"metric","k":"loss","v":0.5,"s":3,"t":10}',
        '{"e":"status","v":"FINISHED","t":11}',
    ]
    assert json.loads(lines[0])["s"] == 3


def test_a_write_failing_part_way_writes_no_line_twice(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(spool, "RETRY_SECONDS", 0.0)
    real_write = os.write
    calls = []

    def failing(fd: int, data) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])  # half, then the disk is full
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    points = [(f"m{i}", float(i), i, 1) for i in range(10)]
    with SpoolWriter.create(tmp_path / "spool") as writer:
        monkeypatch.setattr(os, "write", failing)
        assert writer.extend_metrics(points) is False
        assert 0 < writer.pending < 10 and writer.written + writer.pending == 10
        assert writer.append(metric_event("after", 1.0, 10, t=1))  # the retry writes the rest
    events = SpoolReader(writer.run_dir).events()
    assert [e["k"] for e in events] == [f"m{i}" for i in range(10)] + ["after"]


def test_the_memory_cap_counts_events_not_writes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(spool, "MAX_PENDING", 15)
    monkeypatch.setattr(spool, "RETRY_SECONDS", 3600.0)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    writer = SpoolWriter.create(blocker, experiment="exp")
    points = [("m", float(i), i, 1) for i in range(10)]
    writer.extend_metrics(points)
    writer.extend_metrics(points)  # over the cap: dropped
    assert writer.pending == 10
