"""Docking: the per-agent engine and the vectorized engine give identical results.

Both engines draw the same random numbers (each customer in turn, from the stream of
that kind of decision), so the stated tolerance is zero: every customer's state and
every recorded row must be equal, bit for bit, every week.
"""

import numpy as np
import pytest

from sim.docking import compare
from sim.model import agents, customers

SCENARIOS = [
    ["steps=104"],  # the default duopoly on a small-world network
    ["experiment=newcomer", "steps=80"],  # four firms, an entry in year two, discounts
    ["experiment=devotion_under_outage", "steps=70", "market.shocks.0.week=30"],  # an outage
    ["experiment=discount_vs_generosity", "steps=60"],  # acquisition discounts and free fixes
    ["network=mixed", "market.reach=0.3", "steps=60"],  # random mixing, broadcasts
    ["network=barabasi_albert", "policy@firms.taking=fake_love", "steps=60"],  # hubs; claims above acts
    ["experiment=recession", "steps=60", "market.shocks.0.week=20"],  # price sensitivity rises
]


@pytest.mark.parametrize("overrides", SCENARIOS, ids=lambda o: " ".join(o))
def test_engines_are_identical(overrides):
    weeks, divergence = compare(["customers.n=200", *overrides])
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


def test_a_rule_changed_in_the_vectorized_engine_only_breaks_docking(monkeypatch):
    original = customers.Customers.fade

    def fade(self):  # devotion that fades a little faster
        original(self)
        self.bond *= np.float32(0.999)

    monkeypatch.setattr(customers.Customers, "fade", fade)
    _, divergence = compare(["customers.n=200", "steps=52"])
    assert divergence is not None and divergence.week <= 2


def test_agents_engine_runs_from_the_command(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "sim", "engine=agents", "customers.n=100", "steps=8", f"results_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert list(tmp_path.glob("*/*/summary.csv"))
