"""The resource monitors: real psutil samples through a real spool, NVML through a fake.

There is no GPU on the machines these tests run on: the NVML path is tested against a fake
`pynvml` module (`fake_nvml`) implementing exactly the calls the monitor makes, with two
devices; the real pynvml is only checked to stay silent without a driver.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests import runs
from tracelet.automagic import AutomagicConfig
from tracelet.runtime import monitors
from tracelet.runtime.capture import Capture
from tracelet.runtime.monitors import Monitor, start_monitor
from tracelet.runtime.spool import SpoolReader, SpoolWriter

CPU_NAMES = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/process_cpu_utilization_percentage",
    "system/process_memory_rss_megabytes",
}
GPU_SUFFIXES = (
    "utilization_percentage",
    "memory_usage_megabytes",
    "memory_usage_percentage",
    "power_usage_watts",
    "power_usage_percentage",
    "temperature_celsius",
)


class Run:
    """A Capture writing into a real spool, and the metrics it wrote."""

    def __init__(self, root: Path) -> None:
        self.writer = SpoolWriter.create(root, experiment="test")
        self.capture = Capture(self.writer)
        self.reader = SpoolReader(self.writer.run_dir)

    def metrics(self) -> list[dict[str, Any]]:
        return [e for e in self.reader.events() if e["e"] == "metric"]

    def series(self) -> dict[str, list[tuple[int, float]]]:
        """name -> [(step, value)] in the order written."""
        found: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for event in self.metrics():
            found[event["k"]].append((event["s"], event["v"]))
        return dict(found)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


def config(**values: Any) -> AutomagicConfig:
    return AutomagicConfig(monitor_interval=0.1, **values)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def sample_for(monitor: Monitor, seconds: float) -> None:
    time.sleep(seconds)
    monitor.stop()
    assert not monitor._thread.is_alive()


# --- CPU and memory, real psutil ---------------------------------------------------------


def test_cpu_and_memory_at_the_start_every_interval_and_at_the_end(run: Run) -> None:
    pytest.importorskip("psutil")
    started = time.time() * 1000
    monitor = start_monitor(run.capture, config(monitor_gpu_memory=False))
    assert monitor is not None
    deadline = time.perf_counter() + 0.4
    while time.perf_counter() < deadline:  # keep this process busy: its own CPU shows
        pass
    time.sleep(monitors.SETTLE_SECONDS + monitors.PRIME_SECONDS + 0.3)  # a few intervals more
    stopping = time.time_ns() // 1_000_000  # the spool's milliseconds
    monitor.stop()
    assert not monitor._thread.is_alive()

    series = run.series()
    assert set(series) == CPU_NAMES
    n = monitor.samples
    assert n >= 4  # the start, at least two intervals, the end
    for name, points in series.items():
        assert [step for step, _ in points] == list(range(n)), name
    times = [e["t"] for e in run.metrics() if e["k"] == "system/cpu_utilization_percentage"]
    assert times[0] - started < 1000 * (monitors.PRIME_SECONDS + 1)  # the start sample
    assert times[-1] >= stopping  # the end sample, taken by stop()

    import psutil

    total_mb = psutil.virtual_memory().total / 1e6
    for name, points in series.items():
        values = [v for _, v in points]
        assert all(isinstance(v, float) and v >= 0 for v in values), name
        if name.endswith("percentage") and "process" not in name:
            assert all(v <= 100 for v in values), name
    memory = dict(series["system/system_memory_usage_megabytes"])
    percent = dict(series["system/system_memory_usage_percentage"])
    for step, used in memory.items():
        assert 0 < used < total_mb
        assert percent[step] == pytest.approx(used / total_mb * 100, rel=0.05)
    rss = [v for _, v in series["system/process_memory_rss_megabytes"]]
    assert all(5 < v < total_mb for v in rss)  # a Python process with pytest loaded
    start = series["system/process_cpu_utilization_percentage"][0]
    assert start[1] > 10  # the busy loop above, measured over the start sample's window


def test_stop_does_not_wait_for_the_interval(run: Run) -> None:
    pytest.importorskip("psutil")
    monitor = start_monitor(run.capture, AutomagicConfig(monitor_gpu_memory=False))
    assert monitor is not None and monitor.interval == 10.0
    time.sleep(monitors.PRIME_SECONDS + 0.2)
    begin = time.perf_counter()
    monitor.stop()
    assert time.perf_counter() - begin < 1.0
    assert {step for step, _ in run.series()["system/cpu_utilization_percentage"]} == {0, 1}


def test_both_switches_off_start_nothing(run: Run) -> None:
    off = AutomagicConfig(monitor_cpu_usage=False, monitor_gpu_memory=False)
    assert start_monitor(run.capture, off) is None


def test_importing_the_runtime_imports_neither_psutil_nor_pynvml() -> None:
    probe = (
        "import sys, tracelet.runtime.session, tracelet.runtime.monitors; "
        "print(sorted(m for m in ('psutil', 'pynvml') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout == "[]\n"


# --- GPU through a fake pynvml -----------------------------------------------------------


class FakeNvml:
    """A stand-in for nvidia-ml-py's `pynvml` with two devices (no GPU here).

    Device 0 reports everything; device 1 is like a MIG instance: no utilisation.
    Utilisation rises by 10 at each query, so each sample must query anew.
    """

    DEVICES = (
        {"used": 2_000_000_000, "total": 8_000_000_000, "mw": 150_000, "limit": 300_000, "c": 64},
        {"used": 500_000_000, "total": 1_000_000_000, "mw": 80_500, "limit": 350_000, "c": 41},
    )

    def __init__(self, fail_memory_at: int | None = None) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.busy = 0  # device 0's utilisation
        self.fail_memory_at = fail_memory_at
        module = types.ModuleType("pynvml")
        module.NVMLError = type("NVMLError", (Exception,), {})
        for name in ("NVMLError_NotSupported", "NVMLError_LibraryNotFound",
                     "NVMLError_DriverNotLoaded", "NVMLError_GpuIsLost"):  # fmt: skip
            setattr(module, name, type(name, (module.NVMLError,), {}))
        module.NVML_TEMPERATURE_GPU = 0
        for name in dir(self):
            if name.startswith("nvml"):
                setattr(module, name, self._counted(name, getattr(self, name)))
        self.module = module

    def _counted(self, name: str, fn: Any) -> Any:
        def call(*args: Any) -> Any:
            self.calls[name] += 1
            return fn(*args)

        return call

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.DEVICES)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, int]:
        return self.DEVICES[index]

    def nvmlDeviceGetUtilizationRates(self, handle: dict[str, int]) -> Any:
        if handle is self.DEVICES[1]:
            raise self.module.NVMLError_NotSupported()
        self.busy += 10
        return types.SimpleNamespace(gpu=self.busy)

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, int]) -> Any:
        if self.calls["nvmlDeviceGetMemoryInfo"] == self.fail_memory_at:
            raise self.module.NVMLError_GpuIsLost("GPU is lost")
        return types.SimpleNamespace(used=handle["used"], total=handle["total"])

    def nvmlDeviceGetPowerUsage(self, handle: dict[str, int]) -> int:
        return handle["mw"]

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: dict[str, int]) -> int:
        return handle["limit"]

    def nvmlDeviceGetTemperature(self, handle: dict[str, int], sensor: int) -> int:
        assert sensor == self.module.NVML_TEMPERATURE_GPU
        return handle["c"]


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    return fake


def test_gpu_metrics_per_device_through_a_fake_nvml(
    run: Run, fake_nvml: FakeNvml, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = start_monitor(run.capture, config(monitor_cpu_usage=False))
    assert monitor is not None
    sample_for(monitor, monitors.SETTLE_SECONDS + monitors.PRIME_SECONDS + 0.4)

    series = run.series()
    expected = {f"system/gpu_0_{suffix}" for suffix in GPU_SUFFIXES}
    expected |= {f"system/gpu_1_{suffix}" for suffix in GPU_SUFFIXES[1:]}  # no utilisation
    assert set(series) == expected
    n = monitor.samples
    assert n >= 3
    assert series["system/gpu_0_utilization_percentage"] == [(i, 10.0 * (i + 1)) for i in range(n)]
    last = {name: points[-1] for name, points in series.items()}
    assert all(step == n - 1 for step, _ in last.values())
    values = {name: value for name, (_, value) in last.items()}
    assert values["system/gpu_0_memory_usage_megabytes"] == 2000.0
    assert values["system/gpu_0_memory_usage_percentage"] == 25.0
    assert values["system/gpu_0_power_usage_watts"] == 150.0
    assert values["system/gpu_0_power_usage_percentage"] == 50.0
    assert values["system/gpu_0_temperature_celsius"] == 64.0
    assert values["system/gpu_1_memory_usage_megabytes"] == 500.0
    assert values["system/gpu_1_memory_usage_percentage"] == 50.0
    assert values["system/gpu_1_power_usage_watts"] == 80.5
    assert values["system/gpu_1_power_usage_percentage"] == pytest.approx(23.0)
    assert values["system/gpu_1_temperature_celsius"] == 41.0
    # an unsupported query is asked once, then left out silently
    assert fake_nvml.calls["nvmlDeviceGetUtilizationRates"] == n + 1
    assert warnings_of(caplog) == []
    assert fake_nvml.calls["nvmlInit"] == fake_nvml.calls["nvmlShutdown"] == 1


def test_a_failing_sampler_warns_once_and_stops_the_monitor(
    run: Run, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeNvml(fail_memory_at=3)  # device 0 of the second sample
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    escaped: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    monitor = start_monitor(run.capture, config(monitor_cpu_usage=False))
    assert monitor is not None
    monitor._thread.join(5)
    assert not monitor._thread.is_alive()  # stopped by itself, before the run ends
    monitor.stop()

    assert warnings_of(caplog) == [
        "tracelet: resource monitor stopped (NVMLError_GpuIsLost: GPU is lost); training goes on"
    ]
    assert escaped == []
    assert {event["s"] for event in run.metrics()} <= {0, 1}
    assert fake.calls["nvmlShutdown"] == 1


# --- silence without a GPU or the libraries ------------------------------------------------


def test_without_a_gpu_the_real_pynvml_adds_nothing_and_says_nothing(
    run: Run, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver")
    pytest.importorskip("psutil")
    caplog.set_level(logging.DEBUG, logger="tracelet")
    monitor = start_monitor(run.capture, config())
    assert monitor is not None
    sample_for(monitor, 0.25)
    assert set(run.series()) == CPU_NAMES
    gpu_only = start_monitor(run.capture, config(monitor_cpu_usage=False))
    assert gpu_only is not None
    sample_for(gpu_only, 0.1)
    assert gpu_only.samples == 0
    assert capfd.readouterr() == ("", "")
    assert caplog.records == []


def test_without_psutil_and_pynvml_nothing_and_no_word(
    run: Run, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, "psutil", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "pynvml", None)
    caplog.set_level(logging.DEBUG, logger="tracelet")
    monitor = start_monitor(run.capture, config())
    assert monitor is not None
    sample_for(monitor, 0.1)
    assert run.metrics() == [] and monitor.samples == 0
    assert capfd.readouterr() == ("", "")
    assert caplog.records == []


# --- end to end --------------------------------------------------------------------------


def test_tracelet_run_delivers_system_metrics_to_mlflow(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    pytest.importorskip("psutil")
    (tmp_path / "train.py").write_text(
        textwrap.dedent("""
            import time
            time.sleep(0.8)
            print("done")
        """)
    )
    env = {**runs.store_env(tmp_path), "TRACELET_MONITOR_INTERVAL": "0.2"}
    result = runs.tracelet_run(tmp_path, "train.py", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert "resource monitor" not in result.stderr
    uri = env["MLFLOW_TRACKING_URI"]
    mlflow_run = runs.only_run(uri, "train")
    assert set(mlflow_run.data.metrics) >= CPU_NAMES
    assert not any(name.startswith("system/gpu_") for name in mlflow_run.data.metrics)
    points = runs.metric_series(uri, mlflow_run.info.run_id, "system/cpu_utilization_percentage")
    steps = [step for step, _ in points]
    assert steps == list(range(len(steps))) and len(steps) >= 4
    assert all(0 <= value <= 100 for _, value in points)
