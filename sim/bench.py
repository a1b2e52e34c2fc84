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
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _case(args: dict, out: mp.Queue) -> None:
    os.environ.update(ONE_CORE)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from . import load
    from .model.market import LoyaltyMarket
    from .runs.run import keep_freed_memory

    keep_freed_memory()

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
    settings = load(overrides)
    t0 = time.perf_counter()
    model = LoyaltyMarket(settings)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    out.put(
        {
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
    )


def measure(
    n: int,
    steps: int,
    network: str,
    engine: str = "vectorized",
    seed: int = 0,
    degree: int | None = None,
    overrides: list[str] | None = None,
) -> dict:
    """Run one case in a fresh process on one core; return its measurements."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    args = {"n": n, "steps": steps, "network": network, "engine": engine, "seed": seed, "degree": degree}
    p = ctx.Process(target=_case, args=({**args, "overrides": overrides or []}, q))
    p.start()
    result = q.get()
    p.join()
    return result


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000], help="vectorized engine")
    ap.add_argument("--agents-sizes", type=int, nargs="*", default=[1_000, 10_000], help="agents engine")
    ap.add_argument("--steps", type=int, default=52)
    ap.add_argument("--agents-steps", type=int, default=None, help="weeks for the agents engine (default --steps)")
    ap.add_argument("--degrees", type=int, nargs="*", default=[], help="mean degrees to sweep at the largest size")
    ap.add_argument("--network", default="watts_strogatz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/bench", help="where the dated results folder goes")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides applied to every case")
    a = ap.parse_args(argv)
    from .config import ConfigError, load

    try:  # one-line errors for bad overrides, before any case runs
        load([f"network={a.network}", *a.overrides])
    except ConfigError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    import pandas as pd

    from .runs.results import atomic_folder

    cases = [("size", "vectorized", n, a.steps, None) for n in a.sizes]
    cases += [("size", "agents", n, a.agents_steps or a.steps, None) for n in a.agents_sizes]
    cases += [("degree", "vectorized", max(a.sizes), a.steps, d) for d in a.degrees]
    print(
        f"{'engine':>10} {'customers':>10} {'edges':>10} {'steps':>5} {'setup s':>8} {'run s':>8} "
        f"{'cust-steps/s':>13} {'peak MB':>8}",
        flush=True,
    )
    rows = []
    for sweep, engine, n, steps, degree in cases:
        r = {"sweep": sweep, **measure(n, steps, a.network, engine, a.seed, degree, a.overrides)}
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
    with atomic_folder(dest) as staged:
        table.to_csv(staged.tmp / "bench.csv", index=False)
        plot(table, staged.tmp / "scaling.png")
    print(f"written: {staged.final}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
