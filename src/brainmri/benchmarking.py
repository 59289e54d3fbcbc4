"""Shared helpers for ``benchmarks/``: timing, peak memory, and the one results table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from brainmri import config


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's model name as Linux reports it, else what :mod:`platform` knows (often just the
    architecture): two machines of the same architecture can differ twofold in training speed."""
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return f"{value.strip()} ({platform.machine()})"
    return platform.processor() or platform.machine()


def machine_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    return f"{cpu_model(cpuinfo)}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(store: dict, key: str):
    """``with timed(times, "cached"):`` puts the block's wall time in seconds into ``times["cached"]``."""
    start = time.perf_counter()
    yield
    store[key] = time.perf_counter() - start


def best_of(repeats: int, run):
    """Call ``run()`` ``repeats`` times; the fastest call's seconds and the last call's result.

    The minimum is the time least disturbed by whatever else the machine was doing."""
    times = {}
    for r in range(repeats):
        with timed(times, r):
            out = run()
    return min(times.values()), out


def write_benchmark(name: str, *, baseline: str, candidate: str, seconds: dict[str, float], extra: dict | None = None) -> Path:
    """Record one benchmark as ``results/benchmarks/<name>.json``: absolute times and their ratio."""
    ratio = seconds[baseline] / seconds[candidate]
    record = {
        "name": name, "baseline": baseline, "candidate": candidate,
        "seconds": seconds, "speedup": ratio,
        "machine": machine_description(), "peak_memory_mb": peak_memory_mb(),
        **(extra or {}),
    }
    out_dir = config.results_dir() / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{name}: {candidate} is {ratio:.1f}x {baseline} ({seconds})")
    return path


def benchmark_table() -> str:
    """Markdown table of every recorded benchmark."""
    rows = ["| benchmark | baseline | candidate | baseline s | candidate s | ratio | machine |", "|---|---|---|---|---|---|---|"]
    for path in sorted((config.results_dir() / "benchmarks").glob("*.json")):
        r = json.loads(path.read_text())
        rows.append(
            f"| {r['name']} | {r['baseline']} | {r['candidate']} | {r['seconds'][r['baseline']]:.2f} "
            f"| {r['seconds'][r['candidate']]:.2f} | {r['speedup']:.3g}x | {r['machine']} |"
        )
    return "\n".join(rows)


def run_benchmarks_command(args: argparse.Namespace) -> int:
    scripts = sorted((config.project_root() / "benchmarks").glob("bench_*.py"))
    failed = [s.name for s in scripts if subprocess.call([sys.executable, str(s)]) != 0]
    table = benchmark_table()
    (config.results_dir() / "benchmarks.md").write_text(table + "\n")
    print(table)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
