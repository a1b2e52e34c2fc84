"""Invariants: customers are conserved, shares sum to one, money adds up."""

import numpy as np
import pytest
from conftest import run

from sim.model.vocabulary import Ladder


@pytest.fixture(scope="module")
def model():
    return run(steps=156)


def test_customers_conserved(model):
    ts = model.timeseries()
    n = model.settings.customers.n
    per_week = ts.groupby("week").agg(
        customers=("customers", "sum"),
        defected=("n_defected", "sum"),
        prospects=("prospects", "first"),
        non_buyers=("non_buyers", "first"),
    )
    assert ((per_week.customers + per_week.non_buyers) == n).all()
    assert ((per_week.prospects + per_week.defected) == per_week.non_buyers).all()
    states = ["n_customer", "n_loyal", "n_devoted", "n_detractor"]
    assert (ts[states].sum(axis=1) == ts.customers).all()
    assert np.bincount(model.customers.state, minlength=len(Ladder)).sum() == n


def test_shares_sum_to_one(model):
    ts = model.timeseries()
    assert np.allclose(ts.groupby("week").share.sum(), 1.0)
    assert ts.share.between(0, 1).all()


def test_money_adds_up(model):
    ts = model.timeseries()
    rate = model.settings.market.annual_discount_rate
    for _, g in ts.groupby("firm"):
        assert np.allclose(g.profit, g.revenue - g.cost)
        assert np.allclose(g.cumulative_profit, g.profit.cumsum())
        assert np.allclose(g.cumulative_revenue, g.revenue.cumsum())
        assert np.allclose(g.npv, (g.profit * (1 + rate) ** (-g.week / 52)).cumsum())
        assert (g.cost[g.week > 0] > 0).all()


def test_flows_balance(model):
    """Week-on-week change in customers = acquisitions - defections - departures."""
    ts = model.timeseries()
    for _, g in ts.groupby("firm"):
        delta = g.customers.diff().iloc[1:].to_numpy()
        flows = (g.acquisitions - g.defections - g.departures).iloc[1:].to_numpy()
        assert (delta == flows).all()


def test_state_arrays_stay_in_range(model):
    c = model.customers
    for arr in (c.bond, c.trust):
        assert arr.min() >= 0 and arr.max() <= 1
    buying = c.firm < len(model.firms)  # a buyer pays for at least their need (joining: max(need, standard))
    assert buying.sum() > 0 and (c.tariff[buying] >= c.fit[buying] - 1e-6).all()
    assert (c.tariff <= 2).all()
    assert np.isfinite(c.heard).all()
