"""Common random numbers that hold: a customer's dice depend on who they are, not on what others do."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, settings

import sim
from sim.model.draws import Decision, Dice, first_identities, mix, next_identity


def test_the_compiled_hash_is_the_reference_hash():
    ids = np.array([0, 1, 2**63 + 5, 2**64 - 1, 123456789], np.uint64)
    dice = Dice(7)
    keys = dice.keys(Decision.OFFERS, 3, 2)
    u = dice.uniform64(Decision.OFFERS, 3, ids, 2)
    for i, ident in enumerate(ids):
        for j in range(2):
            assert u[i, j] == (mix(int(keys[j]) ^ int(ident)) >> 11) / 2.0**53
    labels = ids.copy()
    next_identity(labels, np.arange(len(ids)))
    assert [int(x) for x in labels] == [mix(int(x)) for x in ids]


def test_a_customers_dice_do_not_depend_on_who_else_draws():
    dice, ids = Dice(3), first_identities(1000)
    everyone = dice.uniform(Decision.INCIDENTS, 12, ids, 3)
    some = np.array([998, 5, 17])
    assert (dice.uniform(Decision.INCIDENTS, 12, ids[some], 3) == everyone[some]).all()
    assert not (dice.uniform(Decision.INCIDENTS, 13, ids, 3) == everyone).all()  # another week, other dice
    assert not (Dice(4).uniform(Decision.INCIDENTS, 12, ids, 3) == everyone).all()  # another seed
    u = dice.uniform64(Decision.CHOICE, 1, ids, 4)
    assert 0.45 < u.mean() < 0.55 and abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.1
    z = dice.normal(Decision.EXPERIENCE, 1, first_identities(20000))[:, 0]
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


def test_a_change_at_one_firm_leaves_the_others_customers_untouched_for_a_week():
    """More free fixes at the giving firm: the taking firm's customers live exactly the same first week.

    With one stream per kind of decision consumed in customer order, the extra gifts shifted the
    dice of every later customer, the rival's included."""
    a = sim.LoyaltyMarket(settings("customers.n=3000", "network=none", "market.reach=0"))
    b = sim.LoyaltyMarket(settings("customers.n=3000", "network=none", "market.reach=0", "firms.giving.generosity=1"))
    a.step(), b.step()
    taking = (a.customers.firm == 1) & (b.customers.firm == 1)
    assert taking.sum() > 1000
    for name in ("bond", "trust", "expectation", "recent", "feeling", "complaint", "tariff", "state"):
        assert (getattr(a.customers, name)[taking] == getattr(b.customers, name)[taking]).all(), name
    giving = a.customers.firm == 0
    assert (a.customers.bond[giving] != b.customers.bond[giving]).any()  # the change did act


def test_newcomers_take_new_identities_and_the_same_ones_in_both_worlds():
    a = sim.LoyaltyMarket(settings("customers.n=2000", "customers.turnover=0.05")).run(10)
    b = sim.LoyaltyMarket(settings("customers.n=2000", "customers.turnover=0.05", "firms.taking.upsell=0.9")).run(10)
    start = first_identities(2000)
    renewed = a.customers.identity != start
    assert 0.3 < renewed.mean() < 0.5  # about 1 - 0.95^10 of the slots turned over
    assert (a.customers.identity == b.customers.identity).all()
    assert len(np.unique(a.customers.identity)) == 2000


@pytest.mark.slow  # end to end, over 10 s: run in CI's slow set
def test_pairing_command_reports_paired_and_unpaired_variance(tmp_path):
    args = ["firms.giving.generosity=0.6", "--seeds", "4", "--n", "300", "--steps", "30", "--out", str(tmp_path)]
    done = subprocess.run([sys.executable, "-m", "sim.pairing", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(next(tmp_path.glob("*.csv")))
    assert set(table.metric) == {"NPV", "long-run share", "advocacy"} and set(table.firm) == {"giving", "taking"}
    npv = table[(table.firm == "giving") & (table.metric == "NPV")].iloc[0]
    assert npv.variance_ratio > 1 and npv.ci_low <= npv.effect <= npv.ci_high
    bad = subprocess.run(
        [sys.executable, "-m", "sim.pairing", "firms.giving.generosity=7"], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.strip().startswith("config error: firms.giving.generosity = 7:")
