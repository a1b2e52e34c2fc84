"""Docking: the per-agent engine and the compiled engine give identical results.

Both engines draw the same random numbers (each customer's dice are a function of who rolls them)
and do the same arithmetic in the same number types, so the stated tolerance is zero: every
customer's state (what happened to them this week included) and every recorded row must be equal,
bit for bit, every week.
"""

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import settings

import sim
from sim.docking import compare
from sim.model import agents, compiled
from sim.model.state import STATE

SCENARIOS = [
    ["steps=104"],  # the default duopoly on a small-world network
    ["experiment=newcomer", "steps=80"],  # four firms, an entry in year two, discounts
    ["experiment=devotion_under_outage", "steps=70", "market.shocks.0.week=30"],  # an outage
    ["experiment=discount_vs_generosity", "steps=60"],  # acquisition discounts and free fixes
    ["network=mixed", "market.reach=0.3", "steps=60"],  # random mixing, broadcasts
    ["network=barabasi_albert", "policy@firms.taking=fake_love", "steps=60"],  # hubs; claims above acts
    ["experiment=recession", "steps=60", "market.shocks.0.week=20"],  # price sensitivity rises
    [  # the economics: overpaying found out, advice not always taken, self-service and repeat calls, referrals
        "steps=60",
        "customers.discovery=0.02",
        "customers.advice_uptake=0.3",
        "customers.self_service=0.8",
        "customers.first_fix=0.6",
        "market.upsell_fit=0.3",
        "customers.referred_restlessness=0.8",
        "customers.devoted_premium=0.05",
        "market.regulation=notices",
    ],
    ["steps=60", "market.regulation=no_price_walking", "customers.discovery=0.02", "market.upsell_fit=0.3"],
]
IDS = [" ".join(o) for o in SCENARIOS]


@pytest.mark.parametrize("overrides", SCENARIOS, ids=IDS)
def test_compiled_and_agents_engines_are_identical(overrides):
    weeks, divergence = compare(["customers.n=200", *overrides])
    assert divergence is None, str(divergence)
    assert weeks > 0


MANY_CHUNKS = [
    pytest.param(["steps=30", "market.reach=0.2"], id="broadcasts"),  # words addressed across chunks
    pytest.param(["experiment=newcomer", "steps=40"], id="newcomer", marks=pytest.mark.slow),  # four firms, discounts
]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("overrides", MANY_CHUNKS)
def test_the_engines_are_identical_across_many_chunks_and_threads(overrides, threads, monkeypatch):
    """2,000 customers in chunks of 128: sixteen chunks of customers (and of words), split over 1, 2 and 3 threads."""
    monkeypatch.setattr(compiled, "CHUNKS_PER_THREAD", 1)
    monkeypatch.setattr(compiled, "IN_PARTS_FROM", 1)
    monkeypatch.setattr(compiled, "_THREADS", [threads])
    weeks, divergence = compare(["customers.n=2000", *overrides], chunk=128)
    assert divergence is None, str(divergence)
    assert weeks > 0


def test_a_rule_changed_in_the_agents_engine_only_breaks_docking(monkeypatch):
    def be_grateful(self):  # gratitude that ignores trust
        self.bond += np.float32(self.cfg.gratitude) * (1 - self.bond)
        self.trust = min(self.trust + np.float32(self.cfg.gift_trust), np.float32(1))

    monkeypatch.setattr(agents.Customer, "be_grateful", be_grateful)
    _, divergence = compare(["customers.n=200", "steps=52"])
    assert divergence is not None
    assert divergence.what in ("bond", "trust", "ledger") or divergence.customers


def test_a_rule_changed_in_the_compiled_engine_only_breaks_docking(monkeypatch):
    original = compiled.live_the_week

    def live_the_week(p, week, fresh, lists, work, first, last, worker):  # devotion that fades a little faster
        original(p, week, fresh, lists, work, first, last, worker)
        lo, hi = first * lists.chunk, min(last * lists.chunk, len(p.bond))
        p.bond[lo:hi] *= np.float32(0.999)

    monkeypatch.setattr(compiled, "live_the_week", live_the_week)
    _, divergence = compare(["customers.n=200", "steps=52"])
    assert divergence is not None and divergence.week <= 2


@pytest.mark.slow  # end to end, over 10 s: run in CI's slow set
def test_a_rule_changed_inside_a_compiled_kernel_breaks_docking(monkeypatch):
    """Gratitude that ignores trust, compiled into the week's kernel: the kernels read the named rules."""

    @compiled.njit(_nrt=False)
    def be_grateful(p, i, cfg):
        p.bond[i] += np.float32(cfg.gratitude) * p.bonding[i] * (compiled.ONE - p.bond[i])
        p.trust[i] = min(p.trust[i] + np.float32(cfg.gift_trust), compiled.ONE)

    monkeypatch.setattr(compiled, "be_grateful", be_grateful)
    kernel = compiled.njit(nogil=True, _nrt=False)(compiled.live_the_week.py_func)  # compiled anew, not cached
    monkeypatch.setattr(compiled, "live_the_week", kernel)
    _, divergence = compare(["customers.n=200", "steps=52"])
    assert divergence is not None
    assert divergence.what in ("bond", "trust", "happened", "ledger") or divergence.customers


def _state_and_records(model):
    state = {v.name: getattr(model.customers, v.name).copy() for v in STATE}
    return state, model.timeseries(), model.segment_timeseries()


def test_the_compiled_engine_gives_the_same_bytes_on_any_number_of_threads(monkeypatch):
    monkeypatch.setattr(compiled, "CHUNKS_PER_THREAD", 1)  # a few chunks' worth of customers already split
    monkeypatch.setattr(compiled, "IN_PARTS_FROM", 1)  # and numpy's and scipy's functions of a few values
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(compiled, "_THREADS", [threads])
        model = sim.LoyaltyMarket(settings("engine=compiled", "customers.n=30000", "market.reach=0.2")).run(12)
        runs.append(_state_and_records(model))
    (state, ts, seg), others = runs[0], runs[1:]
    for other_state, other_ts, other_seg in others:
        for name, values in state.items():
            assert values.tobytes() == other_state[name].tobytes(), name
        assert ts.equals(other_ts) and seg.equals(other_seg)


def _parquet_digest(threads: int, tmp_path) -> str:
    out = tmp_path / f"ts{threads}.parquet"
    code = (
        "import sys, sim; m = sim.LoyaltyMarket(sim.load(['customers.n=70000', 'progress=false']))"
        f".run(6); m.timeseries().to_parquet({str(out)!r}, index=False)"
    )
    env = {**__import__("os").environ, "NUMBA_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return hashlib.sha256(out.read_bytes()).hexdigest()


def test_numba_num_threads_does_not_change_the_bytes(tmp_path):
    assert _parquet_digest(1, tmp_path) == _parquet_digest(2, tmp_path)


@pytest.mark.parametrize("engine", ["agents", "compiled"])
def test_engine_runs_from_the_command(engine, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "sim", f"engine={engine}", "customers.n=100", "steps=8", f"results_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert list(tmp_path.glob("*/*/summary.csv"))
