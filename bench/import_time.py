"""Import time of ``cloverpay`` and ``cloverpay.api`` in fresh interpreters.

Each sample is a new ``python -X importtime`` process; the targets are interleaved
(round-robin) so that load from other processes on the machine hits all of them alike,
and the median over the runs is reported. Two numbers per target:

* ``importtime``: the cumulative microseconds ``-X importtime`` prints for the
  target's top-level line (what ``import X`` costs after interpreter start-up);
* ``wall`` and ``CPU``: ``time.perf_counter()`` and ``time.process_time()`` around
  the import statement inside the process (also covers targets that are not one
  module, like the httpx + pydantic floor). CPU time is less disturbed by other
  processes competing for the cores; the ratio to the floor is the figure to compare.

Baselines in the same run: ``httpx`` and ``pydantic.BaseModel`` (what cloverpay.api
cannot avoid), and ``cloverpay.api`` with ``click`` blocked, which shows what httpx's
own optional CLI import (click, rich, pygments: present when the ``cli`` extra is
installed) adds to every program that imports httpx.

Byte code is compiled once before measuring (as ``pip install`` does); the
environment's ``PYTHONDONTWRITEBYTECODE`` is dropped for the child processes.

    .venv/bin/python bench/import_time.py [--runs 15] [--json bench/results/import.json]

Goal: ``import cloverpay`` <= 0.1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

GOAL_S = 0.1

# name -> (statement to time, module whose -X importtime line is read, or None)
TARGETS: dict[str, tuple[str, str | None]] = {
    "cloverpay": ("import cloverpay", "cloverpay"),
    "cloverpay.api": ("import cloverpay.api", "cloverpay.api"),
    "cloverpay.api (httpx CLI deps blocked)": (
        "import sys; sys.modules['click'] = None; import cloverpay.api",
        "cloverpay.api",
    ),
    "httpx": ("import httpx", "httpx"),
    "httpx + pydantic.BaseModel (floor)": ("import httpx; from pydantic import BaseModel", None),
}

CHILD = """
import time
_t0, _c0 = time.perf_counter(), time.process_time()
{stmt}
_t1, _c1 = time.perf_counter(), time.process_time()
print("WALL", _t1 - _t0, "CPU", _c1 - _c0)
"""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def sample(stmt: str, module: str | None) -> tuple[float, float, float | None]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CHILD.format(stmt=stmt)],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
    )
    _, wall, _, cpu = proc.stdout.split()[-4:]
    cumulative = None
    if module is not None:
        for line in proc.stderr.splitlines():
            # "import time:  self [us] | cumulative | name"; top level has no indent
            parts = line.split("|")
            if len(parts) == 3 and parts[2].rstrip() == " " + module:
                cumulative = int(parts[1]) / 1e6
    return float(wall), float(cpu), cumulative


def top_self_times(module: str, n: int = 12) -> list[tuple[int, str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
    )
    rows: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:"):
            try:
                rows.append((int(parts[0].split(":")[1]), parts[2].strip()))
            except ValueError:
                continue
    rows.sort(reverse=True)
    return rows[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None, help="write figures here")
    parser.add_argument("--top", action="store_true", help="print the slowest modules too")
    args = parser.parse_args()
    console = Console()

    # compile byte code once (like pip install would)
    for stmt, _ in TARGETS.values():
        subprocess.run([sys.executable, "-c", stmt], env=child_env(), check=True)

    walls: dict[str, list[float]] = {name: [] for name in TARGETS}
    cpus: dict[str, list[float]] = {name: [] for name in TARGETS}
    cums: dict[str, list[float]] = {name: [] for name in TARGETS}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("fresh interpreters", total=args.runs * len(TARGETS))
        for _ in range(args.runs):
            for name, (stmt, module) in TARGETS.items():
                wall, cpu, cum = sample(stmt, module)
                walls[name].append(wall)
                cpus[name].append(cpu)
                if cum is not None:
                    cums[name].append(cum)
                progress.advance(task)

    floor_name = "httpx + pydantic.BaseModel (floor)"
    floor_cpu = statistics.median(cpus[floor_name])
    table = Table(title=f"import time, median of {args.runs} fresh interpreters (seconds)")
    for col in ("target", "-X importtime", "wall", "CPU", "CPU / floor"):
        table.add_column(col, justify="left" if col == "target" else "right")
    results: dict[str, dict[str, float | None]] = {}
    for name in TARGETS:
        cum = statistics.median(cums[name]) if cums[name] else None
        wall = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        results[name] = {
            "importtime_s": cum,
            "wall_s": wall,
            "cpu_s": cpu,
            "cpu_over_floor": cpu / floor_cpu,
        }
        table.add_row(
            name,
            "-" if cum is None else f"{cum:.4f}",
            f"{wall:.4f}",
            f"{cpu:.4f}",
            f"{cpu / floor_cpu:.2f}",
        )
    console.print(table)
    root = results["cloverpay"]["importtime_s"]
    assert root is not None
    verdict = "met" if root <= GOAL_S else "NOT met"
    console.print(f"goal: import cloverpay <= {GOAL_S} s -> {root:.4f} s, {verdict}")
    if args.top:
        console.print("slowest modules (self time, one run) for cloverpay.api:")
        for us, name in top_self_times("cloverpay.api"):
            console.print(f"  {us / 1000:8.1f} ms  {name}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": args.runs, "results": results}, indent=2))


if __name__ == "__main__":
    main()
