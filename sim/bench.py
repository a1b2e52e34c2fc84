"""Benchmark: customer-steps per second and peak memory, one fresh process per case.

    python -m sim.bench                       # 1k, 10k, 100k customers, 52 weeks
    python -m sim.bench --sizes 100000 1000000 --steps 520 --network barabasi_albert

Each case runs in its own process so its peak resident memory is its own.
Setup (network, population) is timed apart from the weekly steps.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time


def _case(args: dict, out: mp.Queue) -> None:
    from . import load
    from .market import LoyaltyMarket

    overrides = [
        f"customers.n={args['n']}",
        f"steps={args['steps']}",
        f"network={args['network']}",
        f"seed={args['seed']}",
        "progress=false",
        *args["overrides"],
    ]
    settings = load(overrides)
    t0 = time.perf_counter()
    model = LoyaltyMarket(settings)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    out.put(
        {
            "engine": settings.engine.value,
            "customers": args["n"],
            "edges": model.network.edges,
            "steps": args["steps"],
            "setup_s": t1 - t0,
            "run_s": t2 - t1,
            "customer_steps_per_s": args["n"] * args["steps"] / (t2 - t1),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def measure(n: int, steps: int, network: str, seed: int = 0, overrides: list[str] | None = None) -> dict:
    """Run one case in a fresh process; return its measurements."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(
        target=_case, args=({"n": n, "steps": steps, "network": network, "seed": seed, "overrides": overrides or []}, q)
    )
    p.start()
    result = q.get()
    p.join()
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--steps", type=int, default=52)
    ap.add_argument("--network", default="watts_strogatz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON line per case")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides applied to every case")
    a = ap.parse_args(argv)
    print(
        f"{'engine':>10} {'customers':>10} {'edges':>10} {'steps':>5} {'setup s':>8} {'run s':>8} {'cust-steps/s':>13} {'peak MB':>8}"
    )
    for n in a.sizes:
        r = measure(n, a.steps, a.network, a.seed, a.overrides)
        if a.json:
            print(json.dumps(r))
            continue
        print(
            f"{r['engine']:>10} {r['customers']:>10,} {r['edges']:>10,} {r['steps']:>5} {r['setup_s']:>8.2f} "
            f"{r['run_s']:>8.2f} {r['customer_steps_per_s']:>13,.0f} {r['peak_mb']:>8.0f}"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
