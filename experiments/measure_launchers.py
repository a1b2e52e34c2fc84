"""Time one sweep with the basic launcher (one run after another) and with local joblib workers.

    .venv/bin/python experiments/measure_launchers.py --runs 24 --customers 10000 --steps 520 --jobs 2

Prints each wall time, the speed-up and the machine's load before and after (the ratio means
little on a busy machine). Each launcher writes to its own temporary results folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_sweep(results_dir: str, args: argparse.Namespace, *launcher: str) -> float:
    command = [sys.executable, "-m", "sim", "-m", f"customers.n={args.customers}", f"steps={args.steps}"]
    command += ["progress=false", f"seed=range(0,{args.runs})", f"results_dir={results_dir}", *launcher]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--customers", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=520)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        basic = timed_sweep(a, args)
        joblib = timed_sweep(b, args, "hydra/launcher=local", f"hydra.launcher.n_jobs={args.jobs}")
    load_after = os.getloadavg()
    print(f"sweep: {args.runs} runs, {args.customers} customers, {args.steps} weeks; {os.cpu_count()} cores")
    print(f"basic launcher:            {basic:7.1f} s")
    print(f"joblib launcher, {args.jobs} jobs:   {joblib:7.1f} s")
    print(f"speed-up: {basic / joblib:.2f}x")
    print(f"load average (1, 5, 15 min) before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"                            after:  {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
