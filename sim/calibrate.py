"""``python -m sim.calibrate market_data=<card>``: fit the model to an observed market, with honest uncertainty.

    python -m sim.calibrate market_data=synthetic --population 300 --generations 5   # recover known parameters
    python -m sim.calibrate market_data=uk_mobile --population 200 --generations 8
    python -m sim.calibrate market_data=synthetic --design 0           # ABC-SMC on the simulator itself
    python -m sim.calibrate market_data=synthetic market_data.customers=2000   # card keys as overrides
    python -m sim.calibrate market_data=synthetic --sampler redis --redis head:6379   # workers anywhere
    python -m sim.calibrate market_data=fader_hardie --holdout 7     # fit 7 years of cohorts, forecast the rest

First ``--design`` runs of the card's market (400 by default) spread over its priors teach a Gaussian-process
emulator what the KPIs are at each parameter set and how much a run's luck moves them
(``sim.calibration.emulator``); then ABC-SMC (``sim.calibration.inference``) draws parameter sets from the
priors, and keeps those whose emulated KPIs come close to the observed ones, generation by generation, with as
many particles as it needs at a millisecond each. The posterior predictive is run on the simulator itself, and
checks the emulator on runs it never saw (``emulator.csv``). ``--design 0`` runs ABC-SMC on the simulator itself.
Writes ``results/calibration/<card>/<date_time>/``: ``posterior.parquet``, ``pairs.png``, ``kpis.png``
with ``predictive.parquet`` (the KPIs the fitted model predicts), ``design.parquet`` (the emulator's runs, saved in
batches: an interrupted design continues), ``history.db`` (every generation) and
``report.md`` (written last: a folder without it is unfinished). With ``--holdout K`` the fit sees only the
first K years of each cohort's survival curve (``market_data.cohorts``); ``forecast.csv`` and ``forecast.png``
set the forecast of the rest, and the sBG's (Fader & Hardie 2007) from the same K years, against what was
observed. Run the same command again after an interruption and it continues the unfinished calibration of that card with the same settings. A calibration
is claimed while it runs (``sim.runs.claims``): launched again meanwhile, it stops in one line naming the
process that runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from multiprocessing import ProcessError
from pathlib import Path

from .calibration import emulator, forecast, inference, report
from .calibration.card import MarketCard, check_card, held_out, load_card
from .calibration.kpis import MAX_YEARS
from .config import compose, to_plain
from .runs.arguments import add_jobs, add_results_dir
from .runs.claims import claim
from .runs.errors import ArgumentError, ArgumentParser, Failure, command, failing_as, number
from .runs.results import write_atomic

COMPLETE = "report.md"


def address(text: str) -> str:
    """An argparse ``type``: ``host:port`` of a Redis server (port 6379 if left out)."""
    host, _, port = text.partition(":")
    port = port or "6379"
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"= {text}: allowed: host:port, an integer port 1 ≤ port ≤ 65535")
    return f"{host}:{port}"


def parse(argv: list[str]) -> tuple[argparse.Namespace, MarketCard]:
    ap = ArgumentParser(prog="python -m sim.calibrate", description=__doc__.splitlines()[0])
    ap.add_argument("card", nargs="+", help="market_data=<card>, then any card keys to override (market_data.x=y)")
    ap.add_argument("--population", type=number(int, 10, 1_000_000), default=100, help="particles per generation")
    ap.add_argument("--generations", type=number(int, 1, 1000), default=6, help="generations of ABC-SMC")
    ap.add_argument(
        "--predictive", type=number(int, 2, 100_000), default=20, help="posterior draws simulated for the check"
    )
    ap.add_argument(
        "--holdout", type=number(int, 1, MAX_YEARS), default=None, help="fit on the first K years of each cohort"
    )
    ap.add_argument(
        "--design",
        type=number(int, 0, 100_000),
        default=400,
        help="runs of the simulator the emulator learns from (0: ABC-SMC on the simulator itself)",
    )
    ap.add_argument("--sampler", choices=["multicore", "redis"], default="multicore")
    add_jobs(ap, "processes for the multicore sampler")
    ap.add_argument("--redis", type=address, default=None, help="host:port of the Redis server the workers listen to")
    ap.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=0, help="seed of the inference's own proposals")
    add_results_dir(ap)
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if a.redis is not None and a.sampler != "redis":
        raise ArgumentError(f"--redis = {a.redis}: only with --sampler redis")
    first, *overrides = a.card
    if not first.lstrip("+").startswith("market_data="):
        raise ArgumentError(f"{first}: expected market_data=<card> first (cards: conf/market_data/)")
    bad = [o for o in overrides if not o.lstrip("+~").startswith("market_data.")]
    if bad:
        raise ArgumentError(f"{bad[0]}: only card keys (market_data.*) can be overridden here")
    name = first.lstrip("+").split("=", 1)[1]
    card = (
        load_card(name)
        if not overrides
        else check_card(to_plain(compose([f"+market_data={name}", *overrides]))["market_data"])
    )
    return a, card


def fingerprint(card: MarketCard, a: argparse.Namespace) -> str:
    """What makes two calibrations the same one (so an unfinished one can be continued)."""
    what = {"card": repr(card), "population": a.population, "seed": a.seed, "holdout": a.holdout}
    if a.design:  # a calibration on the simulator itself keeps the fingerprint it always had
        what["design"] = a.design
    text = json.dumps(what, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def unfinished(root: Path, key: str) -> Path | None:
    """The newest unfinished folder of the calibration ``key`` under ``root``, if any."""
    if root.is_dir():
        for old in sorted(root.iterdir(), reverse=True):
            marker = old / "fingerprint"
            if not (old / COMPLETE).is_file() and marker.is_file() and marker.read_text().strip() == key:
                return old
    return None


def folder(root: Path, key: str) -> tuple[Path, bool]:
    """The unfinished folder of this calibration to continue, or a new dated one."""
    if (old := unfinished(root, key)) is not None:
        return old, True
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    root.mkdir(parents=True, exist_ok=True)
    taken = 0  # another calibration of the card, with other settings, may have started in the same second
    while True:
        new = root / (stamp if not taken else f"{stamp}_{taken}")
        try:
            new.mkdir()
            break
        except FileExistsError:
            taken += 1
    (new / "fingerprint").write_text(key)
    return new, False


@contextmanager
def claimed(root: Path, key: str) -> Iterator[None]:
    """The calibration ``key`` claimed for the block (``sim.runs.claims``: a lock its owner's death releases):
    launched again while it runs, it stops in one line naming the process that runs it."""
    with ExitStack() as stack:
        with failing_as("writing", root):
            mine = stack.enter_context(claim(root / key))
        if not mine.held and mine.supported:
            running = unfinished(root, key)
            raise Failure(
                f"error: this calibration is already running{f' in {running}' if running else ''} "
                f"({mine.owner or 'another process'}); wait for it to finish, or stop it and run this again to "
                "continue it"
            )
        yield


@command
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    logging.getLogger("MESA").setLevel(logging.WARNING)
    inference.require_pyabc()
    a, card = parse(argv)
    if a.holdout is not None:
        held_out(card, a.holdout)  # a one-line error before anything is written
    if a.sampler == "redis":
        inference.reach(a.redis or "localhost:6379")
    root, key = Path(a.results_dir) / "calibration" / card.name, fingerprint(card, a)
    with claimed(root, key):
        calibrate(argv, a, card, root, key)


def calibrate(argv: list[str], a: argparse.Namespace, card: MarketCard, root: Path, key: str) -> None:
    """Run (or continue) the calibration ``key`` under ``root``, then write its results, ``report.md`` last."""
    with failing_as("writing", root):
        out, resumed = folder(root, key)
        card_text = json.dumps(dataclasses.asdict(card), indent=1)
        write_atomic(out / "card.json", lambda p: p.write_text(card_text))
    print(f"{'continuing' if resumed else 'calibration'}: {out}", flush=True)
    fitted = held_out(card, a.holdout) if a.holdout is not None else card
    start = time.perf_counter()
    try:
        em = None
        if a.design:
            with failing_as("writing", out):
                em = emulator.build(fitted, out / "design.parquet", a.design, a.jobs, a.seed, not a.no_progress)
        built = time.perf_counter() - start
        history = inference.run(
            fitted,
            out / "history.db",
            a.population,
            a.generations,
            a.sampler,
            a.jobs,
            a.redis,
            a.seed,
            progress=not a.no_progress,
            emulator=em,
        )
    except ProcessError as err:  # a simulation worker died; its own error is printed above
        raise Failure(f"error: a simulation worker died ({err}); run the same command again to continue") from None
    with inference.stored(out / "history.db"):
        post = inference.posterior(history, fitted)
        pops = history.get_all_populations()
    params = report.summary(post, fitted)
    pred = report.predictive(card, post, a.predictive, a.jobs)  # the whole card: the held-out years too
    fit = report.fit_table(fitted, pred)
    ahead = forecast.table(card, pred, a.holdout) if a.holdout is not None else None
    checked = emulator.check(em, pred) if em is not None else None
    meta = {
        "command": "python -m sim.calibrate " + " ".join(shlex.quote(x) for x in argv),
        "generations": history.max_t + 1,
        "population": a.population,
        "epsilon": float(pops[pops.t == history.max_t].epsilon.iloc[0]),
        "simulations": int(pops.samples.sum()) if em is None else a.design,
        "emulated": int(pops.samples.sum()) if em is not None else 0,
        "design_seconds": built if em is not None else 0.0,
        "ess": float(1 / (post.weight**2).sum()),
        "seconds": time.perf_counter() - start,
        "workers": a.jobs if a.sampler == "multicore" else "redis",
    }
    with failing_as("writing", out):
        write_atomic(out / "posterior.parquet", lambda p: post.to_parquet(p, index=False))
        write_atomic(out / "predictive.parquet", lambda p: pred.to_parquet(p, index=False))
        write_atomic(out / "parameters.csv", lambda p: params.to_csv(p, index=False))
        write_atomic(out / "fit.csv", lambda p: fit.to_csv(p, index=False))
        if checked is not None:
            write_atomic(out / "emulator.csv", lambda p: checked.to_csv(p, index=False))
        write_atomic(out / "pairs.png", lambda p: report.pairs_plot(post, card, p))
        write_atomic(out / "kpis.png", lambda p: report.kpi_plot(fit, p))
        if ahead is not None:
            write_atomic(out / "forecast.csv", lambda p: ahead.to_csv(p, index=False))
            write_atomic(out / "forecast.png", lambda p: forecast.plot(ahead, a.holdout, p))
        markdown = report.markdown(card, params, fit, meta, ahead, a.holdout, checked)
        write_atomic(out / COMPLETE, lambda p: p.write_text(markdown))
    print(params.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if meta["ess"] < report.FEW:
        print(
            f"warning: the posterior rests on few particles (effective sample size {meta['ess']:.0f} of "
            f"{a.population}); rerun with a larger --population before relying on its intervals"
        )
    if ahead is not None:
        print(f"held out after year {a.holdout}: mean absolute error of the survival forecast (points)")
        print(forecast.errors(ahead).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
