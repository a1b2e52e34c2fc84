"""Loyalty vs devotion: who leaves for a better deal, what reach and promises do."""

import numpy as np
from conftest import run, settings

import sim
from sim.model.vocabulary import Ladder


def test_merely_satisfied_leave_for_a_deal_devoted_stay():
    """A rival's deep price cut: merely satisfied customers switch far more than devoted ones."""
    s = settings(
        "steps=200",
        "customers.n=4000",
        "customers.turnover=0",  # life events would blur who left for the deal
        "market.shocks=[{kind: price_cut, week: 105, duration: 0, size: 0.6, firm: taking}]",
    )
    m = sim.LoyaltyMarket(s)
    for _ in range(104):
        m.step()
    c = m.customers
    giving = m.names.index("giving")
    at_giving = c.firm == giving
    devoted = np.flatnonzero(at_giving & (c.state == Ladder.DEVOTED))
    satisfied = np.flatnonzero(at_giving & (c.state == Ladder.CUSTOMER))
    assert len(devoted) > 100 and len(satisfied) > 100
    for _ in range(26):
        m.step()
    left_devoted = np.mean(c.firm[devoted] != giving)
    left_satisfied = np.mean(c.firm[satisfied] != giving)
    assert left_satisfied > 2 * left_devoted


def test_reach_carries_word_of_mouth_beyond_ties():
    quiet = run("network=none", "market.reach=0.0").timeseries()
    loud = run("network=none", "market.reach=0.5").timeseries()
    assert quiet.acquired_referral.sum() == 0
    assert loud.acquired_referral.sum() > 0


def test_community_strengthens_bond():
    alone = run("customers.community_bond=0.0", steps=156).timeseries()
    together = run("customers.community_bond=0.02", steps=156).timeseries()
    g = "firm == 'giving'"
    assert together.query(g).bond_mean.iloc[-1] > alone.query(g).bond_mean.iloc[-1]


def test_under_promise_over_deliver():
    """Lower claims set lower expectations: the same service feels better."""
    modest = run("firms.giving.claims=0.2", "customers.promise_pull=0.05", steps=104)
    boastful = run("firms.giving.claims=1.0", "customers.promise_pull=0.05", steps=104)
    i = modest.names.index("giving")
    mean_memory = [m.customers.remembered[m.customers.firm == i].mean() for m in (modest, boastful)]
    assert mean_memory[0] > mean_memory[1]


def test_classification_reads_the_two_attitudes():
    m = sim.LoyaltyMarket(settings("steps=52")).run()
    c, cfg = m.customers, m.settings.customers
    buys = c.firm < c.no_firm
    devoted = c.state == Ladder.DEVOTED
    loyal = c.state == Ladder.LOYAL
    detractor = c.state == Ladder.DETRACTOR
    assert (c.bond[devoted] >= cfg.devoted_bond).all()
    assert (c.value_margin[loyal] >= cfg.loyal_margin).all() and (c.bond[loyal] < cfg.devoted_bond).all()
    assert (c.remembered[detractor] < cfg.detractor_memory).all()
    assert not (buys & (c.state == Ladder.PROSPECT)).any()
    assert ((c.state == Ladder.DEFECTED) == (~buys & (c.grudge > 0))).all()
