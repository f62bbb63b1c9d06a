"""Resource monitors: a daemon thread that samples CPU, memory and GPU load into the run.

`start_monitor(capture, config)` starts it with the run; `Monitor.stop()` takes the last
sample and joins. Samples are taken at the start, every ``monitor_interval`` seconds
(default 10, as MLflow's system metrics) and at the end; each is a set of metrics at step
0, 1, 2... (the sample index). Names follow MLflow's system metrics where MLflow has one:

- ``monitor_cpu_usage`` (psutil): ``system/cpu_utilization_percentage`` (all cores),
  ``system/system_memory_usage_megabytes`` and ``..._percentage``, and the training
  process's own ``system/process_cpu_utilization_percentage`` (of one core, as ``top``
  shows it: 250 is two and a half cores) and ``system/process_memory_rss_megabytes``;
- ``monitor_gpu_memory`` (NVML, the ``pynvml`` module of nvidia-ml-py), per device i:
  ``system/gpu_{i}_utilization_percentage``, ``..._memory_usage_megabytes``,
  ``..._memory_usage_percentage``, ``..._power_usage_watts``, ``..._power_usage_percentage``
  (of the enforced limit) and ``system/gpu_{i}_temperature_celsius``.

Megabytes are 10^6 bytes, as in MLflow. CPU percentages are measured since the previous
sample; the start sample's window is the first `PRIME_SECONDS`.

Silence and errors (DESIGN.md invariant 3)
    psutil or pynvml not installed, no NVIDIA driver or no GPU: those metrics are left out
    without a word. A query a device does not support (MIG instances have no utilisation)
    is left out for that device. Any other error: one warning on the ``tracelet`` logger,
    and the monitor stops; training goes on.

Cost (invariant 5)
    psutil and pynvml are imported in the thread, never at ``import tracelet.runtime``
    (~25 ms each), and only `SETTLE_SECONDS` after the run starts, so that they do not
    hold the GIL on the way to the script's first line. A sample reads a few /proc files
    and NVML counters: well under 1% of one core at the default interval
    (bench/bench_monitor.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading

TYPE_CHECKING = False  # not `from typing import`: typing costs import time

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from tracelet.automagic import AutomagicConfig
    from tracelet.runtime.capture import Capture

    Reader = Callable[[], list[tuple[str, float]]]

PRIME_SECONDS = 0.1  # the start sample's CPU window
SETTLE_SECONDS = 0.2  # before importing psutil/pynvml, once the script has started
JOIN_SECONDS = 5.0  # stop() waits at most this long for the last sample
MB = 1e6

log = logging.getLogger("tracelet")


class Monitor:
    """The sampling thread of one run."""

    def __init__(
        self, capture: Capture, interval: float, cpu: bool = True, gpu: bool = True
    ) -> None:
        self.capture = capture
        self.interval = interval
        self.cpu = cpu
        self.gpu = gpu
        self.samples = 0  # taken so far; the next sample's step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracelet-monitor", daemon=True)

    def start(self) -> Monitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take the end sample and wait for it (bounded: a hung driver must not hang the run)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_SECONDS)

    def _run(self) -> None:
        closers: list[Callable[[], Any]] = []
        try:
            # the script's own first lines go first: the imports below hold the GIL ~50 ms
            self._stop.wait(SETTLE_SECONDS)
            readers = self._open(closers)
            if not readers:
                return
            self._stop.wait(PRIME_SECONDS)
            self._sample(readers)
            while not self._stop.wait(self.interval):
                self._sample(readers)
            self._sample(readers)
        except Exception as error:
            log.warning(
                "tracelet: resource monitor stopped (%s: %s); training goes on",
                type(error).__name__, error,
            )  # fmt: skip
        finally:
            for close in closers:
                with contextlib.suppress(Exception):  # shutting NVML down is best effort
                    close()

    def _open(self, closers: list[Callable[[], Any]]) -> list[Reader]:
        readers: list[Reader] = []
        if self.cpu:
            readers += _system_readers()
        if self.gpu:
            readers += _gpu_readers(closers)
        return readers

    def _sample(self, readers: list[Reader]) -> None:
        step = self.samples
        for reader in readers:
            for name, value in reader():
                self.capture.metric(name, value, step)
        self.samples = step + 1


def start_monitor(capture: Capture, config: AutomagicConfig) -> Monitor | None:
    """The run's monitor, started; None when both `monitor_*` switches are off or the
    thread cannot start (one warning: training goes on without it)."""
    if not (config.monitor_cpu_usage or config.monitor_gpu_memory):
        return None
    try:
        return Monitor(
            capture, config.monitor_interval, config.monitor_cpu_usage, config.monitor_gpu_memory
        ).start()
    except Exception as error:  # e.g. "can't start new thread"
        log.warning("tracelet: resource monitor not started (%s); training goes on", error)
        return None


def _system_readers() -> list[Reader]:
    """CPU and memory of the machine and of this process; none without psutil."""
    try:
        import psutil
    except ImportError:
        return []
    process = psutil.Process()
    psutil.cpu_percent(None)  # the first call only starts the window
    process.cpu_percent(None)

    def read() -> list[tuple[str, float]]:
        memory = psutil.virtual_memory()
        return [
            ("system/cpu_utilization_percentage", psutil.cpu_percent(None)),
            ("system/system_memory_usage_megabytes", memory.used / MB),
            ("system/system_memory_usage_percentage", memory.used / memory.total * 100),
            ("system/process_cpu_utilization_percentage", process.cpu_percent(None)),
            ("system/process_memory_rss_megabytes", process.memory_info().rss / MB),
        ]

    return [read]


def _gpu_readers(closers: list[Callable[[], Any]]) -> list[Reader]:
    """One reader per device and query; none without pynvml, a driver or a GPU."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded):
        return []
    closers.append(pynvml.nvmlShutdown)
    readers: list[Reader] = []
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        readers += [
            _unless_unsupported(pynvml, query)
            for query in _device_queries(pynvml, handle, f"system/gpu_{index}_")
        ]
    return readers


def _device_queries(nvml: Any, handle: Any, prefix: str) -> list[Reader]:
    def utilization() -> list[tuple[str, float]]:
        rates = nvml.nvmlDeviceGetUtilizationRates(handle)
        return [(prefix + "utilization_percentage", float(rates.gpu))]

    def memory() -> list[tuple[str, float]]:
        info = nvml.nvmlDeviceGetMemoryInfo(handle)
        used = [(prefix + "memory_usage_megabytes", info.used / MB)]
        if info.total:
            used.append((prefix + "memory_usage_percentage", info.used / info.total * 100))
        return used

    def power() -> list[tuple[str, float]]:
        milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
        limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
        watts = [(prefix + "power_usage_watts", milliwatts / 1000)]
        if limit:
            watts.append((prefix + "power_usage_percentage", milliwatts / limit * 100))
        return watts

    def temperature() -> list[tuple[str, float]]:
        celsius = nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
        return [(prefix + "temperature_celsius", float(celsius))]

    return [utilization, memory, power, temperature]


def _unless_unsupported(nvml: Any, query: Reader) -> Reader:
    """`query`, until the device says it does not support it: then nothing, silently."""
    supported = True

    def read() -> list[tuple[str, float]]:
        nonlocal supported
        if supported:
            try:
                return query()
            except nvml.NVMLError_NotSupported:
                supported = False
        return []

    return read
