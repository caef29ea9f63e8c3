"""What the benchmarks share: a service as its own process, ready before the load starts; percentiles."""

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
