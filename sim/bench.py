"""Benchmark the engines: customer-steps per second, peak memory, threads, cold start, sweeps, and how cost scales.

    python -m sim.bench                      # compiled 1k-100k, agents 1k and 10k, 52 weeks
    python -m sim.bench --sizes 10000 100000 1000000 --agents-sizes 10000 --steps 26 --threads 1 2 --cold
    python -m sim.bench --sizes 1000000 --steps 520 --threads 2 --agents-sizes
    python -m sim.bench --sizes 10000 --steps 520 --agents-sizes --sweep 200

Every case runs in a fresh process pinned to as many CPU cores as it has threads (one unless ``--threads``
says more, for the compiled engine), so its time and its peak resident memory are its own. Setup (network,
population) is timed apart from the weeks, and the first week (which loads the compiled functions from their
cache, a cost paid once per process) apart from the others: speeds and ratios are of the weeks after the first;
"wall" is all three. The compiled engine runs at ``--sizes``, once per ``--threads``, the agents engine (the
readable reference) at ``--agents-sizes``; the ratios printed are the compiled engine's to the agents engine at each
size both ran (one core each), and the compiled engine's on more threads to its own on one. ``--repeat K`` runs each case K times, in as many fresh processes, and keeps the run of median
time (a shared machine's noise moves one run by a few percent). ``--degrees`` adds a sweep of the network's
mean degree at the largest size (cost against edges). ``--cold`` times the first run of the compiled engine in a
fresh process with an empty compilation cache (compiling every kernel) against the same run with the cache
filled. ``--sweep N`` runs N markets of the largest size with joblib on two worker processes, per engine, in
runs per minute. The table goes to ``results/bench/<date_time>/bench.csv`` with ``scaling.png`` (seconds per week
against customers and against edges, with straight-line fits).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from .config import ConfigError, NetworkConfig, allowed_range, compose, fewest_customers, load, to_plain, validated
from .runs.arguments import setting
from .runs.errors import ArgumentParser, Failure, command, exit_status, failing_as, number, one_line
from .runs.results import atomic_folder

BLAS_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
REFERENCE = "agents"  # the readable engine, the reference of the ratios (and the compiled engine on one thread)
THREADS = (1, 256)
DEFAULT_TIMEOUT = 6 * 3600.0  # seconds per case: far beyond the largest case measured (10M customers, 52 weeks)
POLL = 1.0  # seconds between looks at the child
EXIT_GRACE = 60.0  # seconds a child that delivered may take to exit (freeing a large population)
NETWORK = "watts_strogatz"


def _case(work, args: dict, out: mp.Queue) -> None:
    """The child: ``work(args)`` (a case or a profile), and its measurements (or the one line saying why not)
    on ``out``."""
    try:
        out.put(work(args))
    except Exception as err:  # the parent reports it; a traceback in a child helps no one
        out.put({"error": one_line(str(err) if isinstance(err, ConfigError) else f"{type(err).__name__}: {err}")})


def _measure_here(args: dict) -> dict:
    threads = args["threads"]  # NUMBA_NUM_THREADS and NUMBA_CACHE_DIR come with the environment (read at import)
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(cores[:threads]))
    t_start = time.perf_counter()
    from .model.market import LoyaltyMarket
    from .runs.run import keep_freed_memory, own_progress_lock

    keep_freed_memory()
    own_progress_lock()
    settings = load(case_overrides(args))
    t0 = time.perf_counter()
    model = LoyaltyMarket(settings)
    t1 = time.perf_counter()
    model.step()  # the first week loads the compiled functions (or compiles them, cold): a cost paid once
    t_first = time.perf_counter()
    model.run(args["steps"] - 1)
    t2 = time.perf_counter()
    # The weeks after the first, each a week like any other (a one-week run has only the first).
    weeks, weeks_s = (args["steps"] - 1, t2 - t_first) if args["steps"] > 1 else (1, t_first - t1)
    return {
        "engine": settings.engine.value,
        "threads": threads,
        "network": settings.network.kind.value,
        "customers": args["n"],
        "mean_degree": settings.network.mean_degree,
        "edges": model.network.edges,
        "steps": args["steps"],
        "import_s": t0 - t_start,
        "setup_s": t1 - t0,
        "first_week_s": t_first - t1,
        "run_s": t2 - t_first,
        "wall_s": t2 - t0,
        "s_per_step": weeks_s / weeks,
        "customer_steps_per_s": args["n"] * weeks / weeks_s,
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


def _profile_here(args: dict) -> dict:
    """Where a week of the compiled engine goes: each kernel, the numpy and scipy calls between them, the rest of
    the population's step, and the market's own work (offers, observation, records), in ms per week."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from collections import Counter

    from .model import compiled, state
    from .model.market import LoyaltyMarket
    from .runs.run import keep_freed_memory

    keep_freed_memory()
    spent: Counter = Counter()

    def timed(name, fn):
        def run(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - start

        run.timed = True  # a kernel timed by name is not timed again when run over chunks
        return run

    over_chunks = compiled.over_chunks

    def timed_over_chunks(kernel, *a):
        if getattr(kernel, "timed", False):
            return over_chunks(kernel, *a)
        return timed(kernel.__name__, over_chunks)(kernel, *a)

    compiled.over_chunks = timed_over_chunks
    for name in ("sum_by_firm", "gather"):
        setattr(compiled, name, timed(name, getattr(compiled, name)))
    compiled.draw_traits = timed("traits of newcomers (numpy, scipy)", state.draw_traits)
    overrides = [f"customers.n={args['n']}", f"network={args['network']}", "engine=compiled", "progress=false"]
    model = LoyaltyMarket(load([*overrides, *args["overrides"]]))
    dice = model.streams.dice
    dice.normal = timed("experience noise (scipy ndtri)", dice.normal)
    dice.uniform64 = timed("choice noise (dice, numpy log)", dice.uniform64)
    model.customers.step = timed("population's step", model.customers.step)
    for name in ("offer", "observe"):
        setattr(model, name, timed(f"market: {name}", getattr(model, name)))
    model.datacollector.collect = timed("market: records (Mesa DataCollector)", model.datacollector.collect)
    model.step()  # kernels loaded
    spent.clear()
    start = time.perf_counter()
    for _ in range(args["steps"]):
        model.step()
    total = time.perf_counter() - start
    inner = sum(v for k, v in spent.items() if k not in ("population's step",) and not k.startswith("market"))
    spent["population's step: the rest (Python, numpy glue)"] = spent.pop("population's step") - inner
    spent["market: the rest (plans, accounts)"] = total - sum(spent.values())
    return {"total": total / args["steps"], **{k: v / args["steps"] for k, v in spent.items()}}


def profile(n: int, steps: int, network: str, overrides: list[str], timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Run ``_profile_here`` in a fresh process on one core (waits as ``measure`` does)."""
    args = {"n": n, "steps": steps, "network": network, "overrides": overrides}
    outcome = _in_child(_profile_here, args, timeout, {**BLAS_ONE_THREAD, "NUMBA_NUM_THREADS": "1"})
    if "error" in outcome:
        raise Failure(f"error: bench profile n={n} steps={steps}: {outcome['error']}")
    return outcome


def measure(
    n: int,
    steps: int,
    network: str,
    engine: str = "compiled",
    seed: int = 0,
    degree: int | None = None,
    overrides: list[str] | None = None,
    threads: int = 1,
    cache: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict:
    """Run one case in a fresh process on ``threads`` cores; return its measurements. ``cache``: Numba's
    compilation cache folder for the case (an empty one: a cold start), else the usual one.

    Waits at most ``timeout`` seconds, and no longer than the child lives: a child that dies
    (killed, out of memory) or fails is a ``Failure`` in one line, never a wait without end.
    """
    args = {"n": n, "steps": steps, "network": network, "engine": engine, "seed": seed, "degree": degree}
    what = f"bench case {engine} n={n} steps={steps}" + (f" degree={degree}" if degree is not None else "")
    env = {**BLAS_ONE_THREAD, "NUMBA_NUM_THREADS": str(threads), **({"NUMBA_CACHE_DIR": cache} if cache else {})}
    outcome = _in_child(_measure_here, {**args, "overrides": overrides or [], "threads": threads}, timeout, env)
    if "error" in outcome:
        raise Failure(f"error: {what}: {outcome['error']}")
    return outcome


def _in_child(work, args: dict, timeout: float, env: dict[str, str]) -> dict:
    """The child's measurements, or ``{"error": why}``; never raises, so its queue is freed on return.

    (A queue kept alive by an exception's traceback until exit would be reported as leaked.) ``env`` is the
    child's environment from its start, before it imports Numba.
    """
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_case, args=(work, args, q))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        p.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
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


def _one_run(n: int, steps: int, engine: str, seed: int, overrides: list[str]) -> float:
    from .runs.run import simulate

    summary = simulate(load([f"customers.n={n}", f"steps={steps}", f"engine={engine}", f"seed={seed}", *overrides]))[1]
    return float(summary.npv.iloc[0])


def sweep(runs: int, n: int, steps: int, engine: str, overrides: list[str], jobs: int = 2) -> dict:
    """``runs`` markets (seeds 0..runs-1) with joblib on ``jobs`` worker processes: wall time and runs per minute.
    (joblib gives each worker one Numba thread.)"""
    from joblib import Parallel, delayed

    extra = ["progress=false", *overrides]
    start = time.perf_counter()
    Parallel(n_jobs=jobs)(delayed(_one_run)(n, steps, engine, seed, extra) for seed in range(runs))
    wall = time.perf_counter() - start
    return {"engine": engine, "runs": runs, "customers": n, "steps": steps, "jobs": jobs, "wall_s": wall,
            "runs_per_minute": 60 * runs / wall}  # fmt: skip


def plot(table, path: Path) -> None:
    """Seconds per week against customers (per engine) and against edges (degree sweep)."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=110)
    axes = fig.subplots(1, 2)
    sizes = table[table.sweep == "size"]
    for (engine, threads), g in sizes.groupby(["engine", "threads"]):
        label = engine if threads == 1 else f"{engine}, {threads} threads"
        axes[0].loglog(g.customers, g.s_per_step, "o-", label=label)
        if len(g) >= 2 and g.customers.nunique() >= 2:
            slope = np.polyfit(np.log(g.customers), np.log(g.s_per_step), 1)[0]
            axes[0].annotate(f"slope {slope:.2f}", (g.customers.iloc[-1], g.s_per_step.iloc[-1]), fontsize=8)
    axes[0].set(xlabel="customers", ylabel="seconds per week", title="Cost per step against customers")
    axes[0].grid(alpha=0.3, which="both")
    axes[0].legend()
    deg = table[table.sweep == "degree"]
    if len(deg):
        for engine, g in deg.groupby("engine"):
            axes[1].plot(g.edges, g.s_per_step, "o", label=f"{engine}, {g.customers.iloc[0]:,} customers")
            if len(g) >= 2:
                a, b = np.polyfit(g.edges, g.s_per_step, 1)
                x = np.linspace(0, g.edges.max(), 50)
                axes[1].plot(x, a * x + b, "-", alpha=0.6, label=f"fit: {b:.3f} s + {a * 1e6:.3f} s per M edges")
        axes[1].legend()
    axes[1].set(xlabel="network edges", ylabel="seconds per week", title="Cost per step against edges")
    axes[1].set_xlim(left=0)
    axes[1].set_ylim(bottom=0)
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def _row(r: dict) -> str:
    return (
        f"{r['engine']:>10} {r['threads']:>3} {r['customers']:>11,} {r['edges']:>11,} {r['steps']:>5} "
        f"{r['setup_s']:>8.2f} {r['first_week_s']:>8.2f} {r['run_s']:>8.2f} {r['wall_s']:>8.2f} "
        f"{r['customer_steps_per_s']:>13,.0f} {r['peak_mb']:>8.0f}"
    )


def customers_allowed(argv: list[str]) -> Callable[[str], int]:
    """An argparse ``type`` for ``--sizes``: the customers a case accepts on the network the command gives
    (``--network`` and overrides), so the range an error shows is the range accepted."""
    pre = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    pre.add_argument("--network", default=NETWORK)
    fewest, most = allowed_range("customers.n")
    try:
        known, rest = pre.parse_known_args(argv)
        overrides = [r for r in rest if "=" in r and not r.startswith("-")]
        network = validated(NetworkConfig, to_plain(compose([f"network={known.network}", *overrides]))["network"])
        fewest = fewest_customers(network)
    except (argparse.ArgumentError, ConfigError):  # said when the arguments and the cases are checked
        pass
    return number(int, fewest, most)


@command
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = ArgumentParser(
        prog="python -m sim.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    customers, weeks, degrees = customers_allowed(argv), setting("steps"), setting("network.mean_degree")
    ap.add_argument("--sizes", type=customers, nargs="+", default=[1_000, 10_000, 100_000], help="compiled engine")
    ap.add_argument("--threads", type=number(int, *THREADS), nargs="+", default=[1], help="compiled engine's threads")
    ap.add_argument("--agents-sizes", type=customers, nargs="*", default=[1_000, 10_000], help="agents engine")
    ap.add_argument("--steps", type=weeks, default=52)
    ap.add_argument("--agents-steps", type=weeks, default=None, help="weeks for the agents engine (default --steps)")
    ap.add_argument("--degrees", type=degrees, nargs="*", default=[], help="mean degrees to sweep at the largest size")
    ap.add_argument("--cold", action="store_true", help="time the compiled engine's first run, compiling")
    ap.add_argument("--sweep", type=number(int, 0, 100_000), default=0, help="runs of a joblib sweep (2 workers)")
    ap.add_argument("--profile", action="store_true", help="where a week of the compiled engine goes, per size")
    ap.add_argument("--network", default=NETWORK)
    ap.add_argument("--repeat", type=number(int, 1, 100), default=1, help="runs of each case (the median is kept)")
    ap.add_argument("--seed", type=number(int, 0), default=0)
    ap.add_argument("--timeout", type=number(float, 1), default=DEFAULT_TIMEOUT, help="seconds per case at most")
    ap.add_argument("--out", default="results/bench", help="where the dated results folder goes")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides applied to every case")
    a = ap.parse_args(argv)
    cases = [("size", "compiled", n, a.steps, None, threads) for n in a.sizes for threads in a.threads]
    cases += [("size", REFERENCE, n, a.agents_steps or a.steps, None, 1) for n in a.agents_sizes]
    cases += [("degree", "compiled", max(a.sizes), a.steps, d, 1) for d in a.degrees]
    for _, engine, n, steps, degree, _threads in cases:  # every case's config checked before any child starts
        base = {"n": n, "steps": steps, "network": a.network, "engine": engine, "seed": a.seed, "degree": degree}
        load(case_overrides({**base, "overrides": a.overrides}))
    import pandas as pd

    print(f"command: python -m sim.bench {' '.join(argv)}")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # The kernels compiled (or loaded) once, so no case below pays for it.
    measure(1_000, 1, a.network, "compiled", a.seed, None, a.overrides, timeout=a.timeout)
    print(
        f"{'engine':>10} {'thr':>3} {'customers':>11} {'edges':>11} {'steps':>5} {'setup s':>8} {'week 1 s':>8} "
        f"{'run s':>8} {'wall s':>8} {'cust-steps/s':>13} {'peak MB':>8}",
        flush=True,
    )
    rows = []
    for sweep_kind, engine, n, steps, degree, threads in cases:
        runs = [
            measure(n, steps, a.network, engine, a.seed, degree, a.overrides, threads, timeout=a.timeout)
            for _ in range(a.repeat)
        ]
        r = {"sweep": sweep_kind, **sorted(runs, key=lambda run: run["run_s"])[len(runs) // 2], "repeats": a.repeat}
        rows.append(r)
        print(_row(r), flush=True)
    table = pd.DataFrame(rows)
    sizes = table[table.sweep == "size"]
    one = sizes[sizes.threads == 1].pivot_table(index="customers", columns="engine", values="customer_steps_per_s")
    if {"compiled", REFERENCE} <= set(one.columns):
        for n, row in one[["compiled", REFERENCE]].dropna().iterrows():
            print(f"compiled/{REFERENCE} at {n:,} customers, one core: {row['compiled'] / row[REFERENCE]:,.0f}x")
    speeds = "customer_steps_per_s"
    compiled = sizes[sizes.engine == "compiled"].pivot_table(index="customers", columns="threads", values=speeds)
    for threads in [t for t in compiled.columns if t != 1]:
        for n, speed in compiled[threads].dropna().items():
            if 1 in compiled.columns and pd.notna(compiled.loc[n, 1]):
                print(f"compiled, {threads} threads / one thread at {n:,} customers: {speed / compiled.loc[n, 1]:.2f}x")
    extra = {}
    if a.cold:
        with tempfile.TemporaryDirectory() as empty:
            cold = measure(1_000, 1, a.network, "compiled", a.seed, None, a.overrides, 1, cache=empty)
            warm = measure(1_000, 1, a.network, "compiled", a.seed, None, a.overrides, 1, cache=empty)
        for name, r in (("cold", cold), ("warm", warm)):
            total = r["import_s"] + r["wall_s"]
            print(f"compiled engine, first run {name} (1,000 customers, 1 week): {total:.1f} s "
                  f"(imports {r['import_s']:.1f} s, setup {r['setup_s']:.1f} s, week {r['first_week_s']:.1f} s)")  # fmt: skip
            extra[name] = {**r, "sweep": name}
    if a.sweep:
        n = max(a.sizes)
        s = sweep(a.sweep, n, a.steps, "compiled", a.overrides)
        print(f"sweep of {s['runs']} runs ({n:,} customers, {a.steps} weeks), joblib on 2 workers, compiled: "
              f"{s['wall_s']:.0f} s, {s['runs_per_minute']:.1f} runs per minute")  # fmt: skip
        extra["sweep compiled"] = {**s, "sweep": "joblib", "threads": 1}
    if a.profile:
        for n in a.sizes:
            prof = profile(n, a.steps, a.network, a.overrides, a.timeout)
            total = prof.pop("total")
            print(f"profile, compiled engine, one core, {n:,} customers: {total * 1e3:.2f} ms per week")
            for name, seconds in sorted(prof.items(), key=lambda kv: -kv[1]):
                print(f"  {name:<52} {seconds * 1e3:8.2f} ms  {seconds / total:6.1%}")
            extra[f"profile {n}"] = {"sweep": "profile", "engine": "compiled", "customers": n, "s_per_step": total,
                                     **{f"ms {k}": v * 1e3 for k, v in prof.items()}}  # fmt: skip
    if extra:
        table = pd.concat([table, pd.DataFrame(list(extra.values()))], ignore_index=True)
    dest = Path(a.out) / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    with failing_as("writing", dest), atomic_folder(dest) as staged:
        table.to_csv(staged.tmp / "bench.csv", index=False)
        plot(table, staged.tmp / "scaling.png")
    print(f"written: {staged.final}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
