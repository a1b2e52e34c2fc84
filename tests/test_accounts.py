"""Accounts that are right and metrics that say what they mean (each a defect found in an audit)."""

import numpy as np
import pytest
from conftest import ROOT, run, settings

import sim
from sim.config import allowed_range
from sim.docking import compare
from sim.model.metrics import RECORD
from sim.model.state import STATE
from sim.model.vocabulary import Ladder


def test_every_integer_state_variable_holds_its_whole_allowed_range():
    for var in STATE:
        if not np.issubdtype(var.dtype, np.integer):
            continue
        assert var.bound is not None, f"{var.name}: an integer state variable declares its bound"
        key, margin = var.bound
        largest = (allowed_range(key)[1] if key else 0) + margin
        assert np.iinfo(var.dtype).max >= largest, f"{var.name}: {var.dtype.__name__} cannot hold {largest}"


def test_long_acquisition_discounts_are_given_in_both_engines():
    ts = run("market.discount_weeks=40000", steps=30).timeseries()
    taking = ts[ts.firm == "taking"]
    assert taking.acquired_on_discount.sum() > 0 and taking.discount_given.iloc[-1] > 0
    weeks, divergence = compare(["customers.n=200", "steps=30", "market.discount_weeks=40000"])
    assert divergence is None, str(divergence)


def test_quality_is_the_lever_cost_and_service_move_together():
    cut = "firms.giving.changes=[{week: 10, ramp: 0, levers: {quality: 0.3}}]"
    ts = run(cut, "firms.giving.listening=0", steps=14).timeseries().query("firm == 'giving'").set_index("week")
    weights = sim.load([]).market.service_weights
    drop = weights[0] / sum(weights) * 0.4  # the quality weight times the cut
    assert ts.service_level[10] == pytest.approx(ts.service_level[9] - drop, abs=1e-9)
    assert ts.quality[10] == pytest.approx(0.3) and ts.lever_quality[10] == 0.3
    start = sim.LoyaltyMarket(settings("firms.giving.changes=[{week: 0, ramp: 0, levers: {quality: 1.0}}]"))
    assert start.firms[0].quality == 1.0  # a week-0 change holds from the start


def test_rejoining_a_firm_clears_the_grudge_against_it():
    m = sim.LoyaltyMarket(settings("customers.n=3000", "market.switching_cost=0.3", "customers.review_rate=0.05"))
    rejoined = 0
    for _ in range(80):
        held = m.customers.grudge_firm.copy()
        m.step()
        c = m.customers
        buyers = c.firm < c.no_firm
        assert not (buyers & (c.grudge_firm == c.firm)).any()
        rejoined += int((buyers & (held == c.firm) & (c.joined_week == m.week)).sum())
    assert rejoined > 20  # the case arises


def test_what_was_heard_enters_the_expectation_once():
    m = sim.LoyaltyMarket(settings("customers.n=3000"))
    seen = 0
    for _ in range(30):
        m.step()
        c = m.customers
        joiners = np.flatnonzero((c.joined_week == m.week) & (c.firm < c.no_firm))
        assert (c.heard[joiners, c.firm[joiners]] == 0).all()
        seen += len(joiners)
    assert seen > 50


def test_a_running_discount_lowers_the_own_price():
    """The value judgement of a customer on a running discount counts the discounted price (the agents engine's
    rule alone; the docking tests show the compiled engine identical)."""
    m = sim.LoyaltyMarket(settings("engine=agents", "customers.n=400"))
    population = m.customers
    population.offer = m.offer(1)
    at_taking = [p for p in population.by_index if p.firm == 1]
    assert len(at_taking) > 20
    for k, person in enumerate(at_taking):
        person.discount_left = 10 if k % 2 == 0 else 0
        with_discount = person.judge_value()
        person.discount_left = 0
        without = person.judge_value()
        assert with_discount > without if k % 2 == 0 else with_discount == without


def test_channels_record_what_prompted_the_look():
    ts = run(steps=104).timeseries()
    taking = ts[ts.firm == "taking"]  # a firm with an acquisition discount
    assert taking.acquired_advertising.sum() > 0 and taking.acquired_organic.sum() > 0
    assert (taking.acquired_on_discount == taking.acquisitions).all()
    assert (taking.acquired_by_discount <= taking.acquired_on_discount).all()
    channels = ts.acquired_referral + ts.acquired_advertising + ts.acquired_organic
    assert (channels == ts.acquisitions).all()


def test_spend_and_contacts_are_reported():
    ts = run(steps=52).timeseries()
    taking, giving = ts[ts.firm == "taking"], ts[ts.firm == "giving"]
    assert taking.discount_given.sum() > 0 and giving.discount_given.sum() == 0
    assert taking.upsell_contacts.sum() > taking.upsells.sum() > 0
    assert giving.advice_given.sum() > 0
    # advice is money: price x the tariff given up, a fraction of list price per customer advised
    assert 0 < giving.advice_value.sum() / giving.advice_given.sum() < 10 * (1 - sim.load([]).customers.fit_tariff_min)


def test_columns_count_what_they_say():
    m = run(steps=104)
    ts = m.timeseries()
    c = m.customers
    last = ts[ts.week == ts.week.max()]
    assert (last.prospects == int((c.state == Ladder.PROSPECT).sum())).all()
    assert (last.non_buyers == int((c.firm == c.no_firm).sum())).all()
    assert (ts.heard_positive >= ts.wom_positive - ts.defenses).all()  # one speaker, one or more listeners
    for j, firm in enumerate(m.names):
        row = last[last.firm == firm].iloc[0]
        assert row.grudges_held == int(((c.grudge_firm == j) & (c.grudge > 0)).sum()) >= row.n_defected


def test_a_customer_with_no_firm_has_no_relationship():
    m = run(steps=104)
    c = m.customers
    out = c.firm == c.no_firm
    assert out.sum() > 50
    assert (c.tenure[out] == 0).all() and (c.joined_week[out] == -1).all() and (c.discount_left[out] == 0).all()
    assert (c.bond[out] == 0).all() and (c.expectation[out] == 0).all()
    assert c.expectation.min() >= 0 and c.expectation.max() <= 1


def test_every_column_is_defined_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [column for column in RECORD if f"`{column}`" not in readme]
    assert not missing, f"columns without a definition in README.md: {missing}"
