"""Run every benchmark in bench/, one after another, and fail if any of them fails.

A benchmark is any ``bench/*.py`` except this file and files whose name starts with ``_``
(helpers). Each runs as its own process with this Python, from the repository root, with the
arguments given here passed through unchanged, so every benchmark should accept them (at
least ``--quick``). The exit code is 1 when any benchmark exits non-zero.

Run (from anywhere)::

    .venv/bin/python bench/run.py            # what `make bench` does
    .venv/bin/python bench/run.py --quick    # every benchmark's smoke run
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def benchmarks() -> list[Path]:
    this = Path(__file__).resolve()
    return sorted(p for p in BENCH.glob("*.py") if p.resolve() != this and not p.name.startswith("_"))


def main(argv: list[str]) -> int:
    scripts = benchmarks()
    if not scripts:
        print("bench/run.py: no benchmarks in bench/", file=sys.stderr)
        return 1
    results: list[tuple[str, int, float]] = []
    for script in scripts:
        name = script.relative_to(ROOT).as_posix()
        print(f"\n=== {name} {' '.join(argv)}".rstrip(), flush=True)
        began = time.monotonic()
        try:
            code = subprocess.call([sys.executable, str(script), *argv], cwd=ROOT)
        except KeyboardInterrupt:
            print(f"\nbench/run.py: interrupted during {name}", file=sys.stderr)
            return 130
        except OSError as exc:
            print(f"bench/run.py: cannot run {name}: {exc}", file=sys.stderr)
            code = 1
        results.append((name, code, time.monotonic() - began))

    print("\n=== summary")
    width = max(len(name) for name, _, _ in results)
    for name, code, seconds in results:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{name:<{width}}  {seconds:7.1f} s  {status}")
    failed = [name for name, code, _ in results if code != 0]
    if failed:
        print(f"{len(failed)} of {len(results)} benchmark(s) failed: {', '.join(failed)}")
        return 1
    print(f"all {len(results)} benchmark(s) passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
