"""What the benchmarks share: a service as its own process (ready before the load), CPU per process, percentiles."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import httpx


@contextlib.contextmanager
def serve(service: str, port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`zorg serve <service>` on ``port`` with ``env`` added, until it answers /readyz; stopped afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "zorg_common.cli", "serve", service, "--port", str(port)], env={**os.environ, **env}
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None:
                raise SystemExit(f"{service} exited with {proc.returncode}")
            time.sleep(0.2)
        else:
            raise SystemExit(f"{service} did not become ready")
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


class CpuMeter:
    """CPU use (user + system, from /proc) over a window, as percent of one core.

    ``producer``, ``consumer`` and ``broker`` are our processes; ``postgres`` is the server's
    background processes plus the backends of our two databases; ``others`` is the rest of the
    machine (other people's work on this box or this PostgreSQL server, which disturbs the
    figures). Without /proc the figures are left out.
    """

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, pids: dict[str, int | None], databases: Sequence[str]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.databases = tuple(f" {name} " for name in databases)
        self.began = 0.0
        self.seconds = 0.0  # the last window's length
        self.before: dict[str, dict[int, float]] = {}

    @classmethod
    def _cpu(cls, pid: int) -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / cls.TICK

    @classmethod
    def _machine(cls) -> float | None:
        """Busy CPU seconds of the whole machine (all cores)."""
        try:
            with open("/proc/stat") as stat:
                ticks = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user, nice, system, steal; irq and softirq left out (loopback traffic, ours as much as anyone's)
        return (ticks[0] + ticks[1] + ticks[2] + ticks[7]) / cls.TICK

    def _postgres(self) -> list[int]:
        """The server's background processes and our databases' backends."""
        pids = []
        with contextlib.suppress(OSError):
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    with open(f"/proc/{entry.name}/comm") as comm:
                        if comm.read().strip() != "postgres":
                            continue
                    with open(f"/proc/{entry.name}/cmdline") as cmdline:
                        title = cmdline.read().replace("\0", " ")
                    backend = "(" in title or "[local]" in title
                    if not backend or any(db in title for db in self.databases):
                        pids.append(int(entry.name))
        return pids

    def _snapshot(self) -> dict[str, dict[int, float]]:
        groups = {name: [pid] for name, pid in self.pids.items()}
        groups["postgres"] = self._postgres()
        snapshot: dict[str, dict[int, float]] = {}
        for name, pids in groups.items():
            snapshot[name] = {pid: cpu for pid in pids if (cpu := self._cpu(pid)) is not None}
        machine = self._machine()
        if machine is not None:
            snapshot["machine"] = {0: machine}
        return snapshot

    def start(self) -> None:
        self.began = time.monotonic()
        self.before = self._snapshot()

    def stop(self) -> dict[str, float]:
        """Per process group: percent of one core used since ``start()``."""
        after = self._snapshot()
        wall = self.seconds = max(time.monotonic() - self.began, 1e-9)
        usage: dict[str, float] = {}
        for name, now in after.items():
            if now:
                before = self.before.get(name, {})
                usage[name] = 100 * sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items()) / wall
        if "machine" in usage:
            ours = sum(v for k, v in usage.items() if k != "machine")
            usage["others"] = max(0.0, usage.pop("machine") - ours)
        return usage

    def per_item_us(self, usage: dict[str, float], items: int) -> dict[str, float]:
        """CPU microseconds per item (event, message, line) of each group in ``usage`` but ``others``."""
        return {name: pct / 100 * self.seconds / items * 1e6 for name, pct in usage.items() if name != "others"}
