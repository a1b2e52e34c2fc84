"""Benchmark both engines: customer-steps per second, peak memory, and how cost scales.

    python -m sim.bench                      # vectorized 1k-100k, agents 1k and 10k, 52 weeks
    python -m sim.bench --sizes 1000 10000 100000 1000000 --degrees 4 8 16 32
    python -m sim.bench --sizes 1000000 --steps 520 --agents-sizes --network barabasi_albert

Every case runs in a fresh process pinned to one CPU core, so its time and its peak
resident memory are its own. Setup (network, population) is timed apart from the
weekly steps. The agents engine runs the same scenario at ``--agents-sizes``; the
ratio vectorized/agents is printed for each size both ran. ``--degrees`` adds a sweep
of the network's mean degree at the largest size (cost against edges). The table goes
to ``results/bench/<date_time>/bench.csv`` with ``scaling.png`` (seconds per week
against customers and against edges, with straight-line fits).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

from .config import ConfigError, load
from .runs.errors import ArgumentParser, Failure, command, exit_status, failing_as, number, one_line
from .runs.results import atomic_folder

ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CUSTOMERS = (10, 20_000_000)  # as customers.n
WEEKS = (1, 100_000)  # as steps
DEGREES = (0, 1000)  # as network.mean_degree
DEFAULT_TIMEOUT = 6 * 3600.0  # seconds per case: far beyond the largest case measured (1M customers, 520 weeks)
POLL = 1.0  # seconds between looks at the child
EXIT_GRACE = 60.0  # seconds a child that delivered may take to exit (freeing a large population)


def _case(args: dict, out: mp.Queue) -> None:
    """The child: run one case and put its measurements (or the one line saying why not) on ``out``."""
    try:
        out.put(_measure_here(args))
    except Exception as err:  # the parent reports it; a traceback in a child helps no one
        out.put({"error": one_line(str(err) if isinstance(err, ConfigError) else f"{type(err).__name__}: {err}")})


def _measure_here(args: dict) -> dict:
    os.environ.update(ONE_CORE)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from .model.market import LoyaltyMarket
    from .runs.run import keep_freed_memory, own_progress_lock

    keep_freed_memory()
    own_progress_lock()
    settings = load(case_overrides(args))
    t0 = time.perf_counter()
    model = LoyaltyMarket(settings)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    return {
        "engine": settings.engine.value,
        "network": settings.network.kind.value,
        "customers": args["n"],
        "mean_degree": settings.network.mean_degree,
        "edges": model.network.edges,
        "steps": args["steps"],
        "setup_s": t1 - t0,
        "run_s": t2 - t1,
        "s_per_step": (t2 - t1) / args["steps"],
        "customer_steps_per_s": args["n"] * args["steps"] / (t2 - t1),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def case_overrides(args: dict) -> list[str]:
    """The Hydra overrides of one case."""
    overrides = [
        f"customers.n={args['n']}",
        f"steps={args['steps']}",
        f"network={args['network']}",
        f"engine={args['engine']}",
        f"seed={args['seed']}",
        "progress=false",
        *args["overrides"],
    ]
    if args["degree"] is not None:
        overrides.append(f"network.mean_degree={args['degree']}")
    return overrides


def measure(
    n: int,
    steps: int,
    network: str,
    engine: str = "vectorized",
    seed: int = 0,
    degree: int | None = None,
    overrides: list[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict:
    """Run one case in a fresh process on one core; return its measurements.

    Waits at most ``timeout`` seconds, and no longer than the child lives: a child that dies
    (killed, out of memory) or fails is a ``Failure`` in one line, never a wait without end.
    """
    args = {"n": n, "steps": steps, "network": network, "engine": engine, "seed": seed, "degree": degree}
    what = f"bench case {engine} n={n} steps={steps}" + (f" degree={degree}" if degree is not None else "")
    outcome = _in_child({**args, "overrides": overrides or []}, timeout)
    if "error" in outcome:
        raise Failure(f"error: {what}: {outcome['error']}")
    return outcome


def _in_child(args: dict, timeout: float) -> dict:
    """The child's measurements, or ``{"error": why}``; never raises, so its queue is freed on return.

    (A queue kept alive by an exception's traceback until exit would be reported as leaked.)
    """
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_case, args=(args, q))
    p.start()
    deadline = time.monotonic() + timeout
    outcome = None
    try:
        while outcome is None:
            try:
                outcome = q.get(timeout=POLL)
            except queue.Empty:
                if not p.is_alive() and q.empty():
                    p.join()
                    outcome = {"error": f"the child process died ({exit_status(p.exitcode)})"}
                elif time.monotonic() > deadline:
                    outcome = {"error": f"no result within {timeout:g} s (--timeout); stopped"}
        if "error" not in outcome:
            p.join(timeout=EXIT_GRACE)  # let it finish exiting: killed mid-exit, it would leak its semaphores
    finally:
        if p.is_alive():
            p.kill()
            p.join()
        q.close()
        q.join_thread()
    return outcome


def plot(table, path: Path) -> None:
    """Seconds per week against customers (per engine) and against edges (degree sweep)."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=110)
    axes = fig.subplots(1, 2)
    sizes = table[table.sweep == "size"]
    for engine, g in sizes.groupby("engine"):
        axes[0].loglog(g.customers, g.s_per_step, "o-", label=engine)
        if len(g) >= 2:
            slope = np.polyfit(np.log(g.customers), np.log(g.s_per_step), 1)[0]
            axes[0].annotate(f"slope {slope:.2f}", (g.customers.iloc[-1], g.s_per_step.iloc[-1]), fontsize=8)
    axes[0].set(xlabel="customers", ylabel="seconds per week", title="Cost per step against customers")
    axes[0].grid(alpha=0.3, which="both")
    axes[0].legend()
    deg = table[table.sweep == "degree"]
    if len(deg):
        axes[1].plot(deg.edges, deg.s_per_step, "o", label=f"{deg.customers.iloc[0]:,} customers")
        if len(deg) >= 2:
            a, b = np.polyfit(deg.edges, deg.s_per_step, 1)
            x = np.linspace(0, deg.edges.max(), 50)
            axes[1].plot(x, a * x + b, "-", alpha=0.6, label=f"fit: {b:.3f} s + {a * 1e6:.3f} s per M edges")
        axes[1].legend()
    axes[1].set(xlabel="network edges", ylabel="seconds per week", title="Cost per step against edges")
    axes[1].set_xlim(left=0)
    axes[1].set_ylim(bottom=0)
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


@command
def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(
        prog="python -m sim.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    customers, weeks = number(int, *CUSTOMERS), number(int, *WEEKS)
    ap.add_argument("--sizes", type=customers, nargs="+", default=[1_000, 10_000, 100_000], help="vectorized engine")
    ap.add_argument("--agents-sizes", type=customers, nargs="*", default=[1_000, 10_000], help="agents engine")
    ap.add_argument("--steps", type=weeks, default=52)
    ap.add_argument("--agents-steps", type=weeks, default=None, help="weeks for the agents engine (default --steps)")
    ap.add_argument(
        "--degrees", type=number(int, *DEGREES), nargs="*", default=[], help="mean degrees to sweep at the largest size"
    )
    ap.add_argument("--network", default="watts_strogatz")
    ap.add_argument("--seed", type=number(int, 0), default=0)
    ap.add_argument("--timeout", type=number(float, 1), default=DEFAULT_TIMEOUT, help="seconds per case at most")
    ap.add_argument("--out", default="results/bench", help="where the dated results folder goes")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides applied to every case")
    a = ap.parse_args(argv)
    cases = [("size", "vectorized", n, a.steps, None) for n in a.sizes]
    cases += [("size", "agents", n, a.agents_steps or a.steps, None) for n in a.agents_sizes]
    cases += [("degree", "vectorized", max(a.sizes), a.steps, d) for d in a.degrees]
    for _, engine, n, steps, degree in cases:  # every case's config checked before any child starts
        base = {"n": n, "steps": steps, "network": a.network, "engine": engine, "seed": a.seed, "degree": degree}
        load(case_overrides({**base, "overrides": a.overrides}))
    import pandas as pd

    print(
        f"{'engine':>10} {'customers':>10} {'edges':>10} {'steps':>5} {'setup s':>8} {'run s':>8} "
        f"{'cust-steps/s':>13} {'peak MB':>8}",
        flush=True,
    )
    rows = []
    for sweep, engine, n, steps, degree in cases:
        r = {"sweep": sweep, **measure(n, steps, a.network, engine, a.seed, degree, a.overrides, a.timeout)}
        rows.append(r)
        print(
            f"{r['engine']:>10} {r['customers']:>10,} {r['edges']:>10,} {r['steps']:>5} {r['setup_s']:>8.2f} "
            f"{r['run_s']:>8.2f} {r['customer_steps_per_s']:>13,.0f} {r['peak_mb']:>8.0f}",
            flush=True,
        )
    table = pd.DataFrame(rows)
    sizes = table[table.sweep == "size"].pivot_table(index="customers", columns="engine", values="customer_steps_per_s")
    if {"vectorized", "agents"} <= set(sizes.columns):
        for n, row in sizes.dropna().iterrows():
            print(f"vectorized/agents at {n:,} customers: {row.vectorized / row.agents:,.0f}x")
    dest = Path(a.out) / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    with failing_as("writing", dest), atomic_folder(dest) as staged:
        table.to_csv(staged.tmp / "bench.csv", index=False)
        plot(table, staged.tmp / "scaling.png")
    print(f"written: {staged.final}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
