"""System metrics sampled in the background: CPU, memory, disk, network and GPUs.

A daemon thread takes one sample every ``interval_s`` (10 s by default) and puts it in the run's
buffer; the sender packs samples into ``SystemMetricBatch`` events. Disk and network counters are
cumulative since the run started (the first sample is the baseline), as the contract's units say.
GPU figures come from ``nvidia-smi`` when it is installed. A sample costs about a millisecond of
the sampler thread; a failing source (no disk counters in a container, nvidia-smi hanging) is
skipped, never raised.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable

from cairn._buffer import SystemSample
from cairn_contract.v1 import metrics_pb2 as m

log = logging.getLogger("cairn")

_GPU_QUERY = "utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def gpu_values(csv_text: str) -> list[tuple[int, str, float]]:
    """Parse ``nvidia-smi --query-gpu=<_GPU_QUERY> --format=csv,noheader,nounits`` output."""
    values: list[tuple[int, str, float]] = []
    for index, line in enumerate(csv_text.strip().splitlines()):
        fields = [_number(part.strip()) for part in line.split(",")]
        if len(fields) != 5:
            continue
        utilization, used_mib, total_mib, temperature, power = fields
        device = f"gpu{index}"
        if utilization is not None:
            values.append((m.SYSTEM_METRIC_GPU_UTILIZATION_PERCENT, device, utilization))
        if used_mib is not None:
            values.append((m.SYSTEM_METRIC_GPU_MEMORY_USED_BYTES, device, used_mib * 1024 * 1024))
            if total_mib:
                percent = 100.0 * used_mib / total_mib
                values.append((m.SYSTEM_METRIC_GPU_MEMORY_PERCENT, device, percent))
        if temperature is not None:
            values.append((m.SYSTEM_METRIC_GPU_TEMPERATURE_CELSIUS, device, temperature))
        if power is not None:
            values.append((m.SYSTEM_METRIC_GPU_POWER_WATTS, device, power))
    return values


class SystemSampler:
    def __init__(
        self, put: Callable[[SystemSample], None], *, interval_s: float, gpu: bool, disk_path: str
    ) -> None:
        import psutil

        self._psutil = psutil
        self._put = put
        self._interval_s = interval_s
        self._disk_path = disk_path
        self._nvidia_smi = shutil.which("nvidia-smi") if gpu else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="cairn-system-metrics", daemon=True)
        self._disk_base = self._disk_counters()
        self._net_base = self._net_counters()
        psutil.cpu_percent(
            interval=None
        )  # primes the counter: the first real reading is then a delta

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _main(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                values = self.sample()
            except Exception:
                log.debug("cairn: a system metrics sample failed", exc_info=True)
                continue
            if values:
                self._put(SystemSample(time.time_ns(), values))

    def sample(self) -> list[tuple[int, str, float]]:
        psutil = self._psutil
        memory = psutil.virtual_memory()
        values: list[tuple[int, str, float]] = [
            (m.SYSTEM_METRIC_CPU_PERCENT, "", float(psutil.cpu_percent(interval=None))),
            (m.SYSTEM_METRIC_MEMORY_USED_BYTES, "", float(memory.used)),
            (m.SYSTEM_METRIC_MEMORY_PERCENT, "", float(memory.percent)),
        ]
        try:
            disk = psutil.disk_usage(self._disk_path)
            values.append((m.SYSTEM_METRIC_DISK_USED_PERCENT, "", float(disk.percent)))
        except OSError:
            pass
        disk_now = self._disk_counters()
        if disk_now is not None and self._disk_base is not None:
            values.append(
                (m.SYSTEM_METRIC_DISK_READ_BYTES, "", float(disk_now[0] - self._disk_base[0]))
            )
            values.append(
                (m.SYSTEM_METRIC_DISK_WRITE_BYTES, "", float(disk_now[1] - self._disk_base[1]))
            )
        net_now = self._net_counters()
        if net_now is not None and self._net_base is not None:
            values.append(
                (m.SYSTEM_METRIC_NETWORK_SENT_BYTES, "", float(net_now[0] - self._net_base[0]))
            )
            values.append(
                (m.SYSTEM_METRIC_NETWORK_RECEIVED_BYTES, "", float(net_now[1] - self._net_base[1]))
            )
        if self._nvidia_smi is not None:
            values.extend(self._gpu())
        return values

    def _disk_counters(self) -> tuple[int, int] | None:
        try:
            counters = self._psutil.disk_io_counters()
        except (OSError, RuntimeError):
            return None
        return None if counters is None else (counters.read_bytes, counters.write_bytes)

    def _net_counters(self) -> tuple[int, int] | None:
        try:
            counters = self._psutil.net_io_counters()
        except (OSError, RuntimeError):
            return None
        return None if counters is None else (counters.bytes_sent, counters.bytes_recv)

    def _gpu(self) -> list[tuple[int, str, float]]:
        assert self._nvidia_smi is not None
        try:
            done = subprocess.run(
                [self._nvidia_smi, f"--query-gpu={_GPU_QUERY}", "--format=csv,noheader,nounits"],
                capture_output=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return []
        return gpu_values(done.stdout.decode(errors="replace"))
