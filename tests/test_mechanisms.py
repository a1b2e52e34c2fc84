"""Each mechanism acts in the direction it should, on a small population.

Comparisons run both arms on the same seed (common random numbers), so the
difference is the mechanism, not the noise.
"""

import numpy as np
import pytest
from conftest import run, settings

import sim
from sim.model.vocabulary import Count, Ladder, Tally


def totals(model, firm=None):
    ts = model.timeseries()
    return ts if firm is None else ts[ts.firm == firm]


def test_generosity_raises_gratitude_and_advocacy():
    lo = totals(run("firms.giving.generosity=0.0", "firms.giving.proactive_advice=0.0"), "giving")
    hi = totals(run("firms.giving.generosity=0.9", "firms.giving.proactive_advice=0.9"), "giving")
    assert hi.bond_mean.iloc[-26:].mean() > lo.bond_mean.iloc[-26:].mean() + 0.05
    assert hi.advocacy.iloc[-26:].mean() > lo.advocacy.iloc[-26:].mean() + 5
    assert hi.free_fixes.sum() > lo.free_fixes.sum()


def test_switching_cost_lowers_churn():
    lo = totals(run("market.switching_cost=0.0"))
    hi = totals(run("market.switching_cost=4.0"))
    assert hi.defections.sum() < 0.5 * lo.defections.sum()


def _one_week_population(**state):
    """Two customers of firm 0 with controlled state, facing a bad incident for sure (one phase of the numpy
    engine, called alone; the docking tests show the other engines identical)."""
    s = settings(
        "engine=vectorized",
        "customers.n=10",
        "network=none",
        "customers.incident_rate=1.0",
        "customers.experience_noise=0.0",
        "customers.voice=0.0",
    )
    m = sim.LoyaltyMarket(s)
    c = m.customers
    c.firm[:] = 0
    c.expectation[:] = 0.8
    c.recent[:] = c.peak_pos[:] = c.peak_neg[:] = 0
    for k, v in state.items():
        getattr(c, k)[:] = v
    return m, c


def test_devoted_response_to_failure_is_milder():
    m, c = _one_week_population()
    c.bond[:] = 0.0
    c.bond[0] = 0.9  # devoted
    offer = m.offer(1)
    offer.service[0] = 0.3  # a failure
    offer.generosity[0] = 0.0
    offer.listening[0] = 0.0
    c.experience_service(offer, m.streams, Tally(c.n_firms))
    assert c.feeling[0] < 0 and c.feeling[1] < 0
    assert abs(c.feeling[0]) < 0.5 * abs(c.feeling[1])


def test_negative_word_of_mouth_weighs_more():
    for negativity in (1.0, 3.0):
        s = settings("engine=vectorized", "customers.n=2000", f"market.negativity={negativity}", "market.reach=0")
        m = sim.LoyaltyMarket(s)
        c = m.customers
        c.heard[:] = 0
        c.feeling[:] = 0
        c.state[:] = Ladder.PROSPECT
        c.state[:1000] = Ladder.DEVOTED  # talk positively
        c.state[1000:] = np.where(c.firm[1000:] < c.no_firm, Ladder.DETRACTOR, Ladder.PROSPECT)
        t = Tally(c.n_firms)
        c.spread_word_of_mouth(m.offer(1), m.network, m.streams, t)
        pos, neg = t[Count.WOM_POSITIVE].sum(), t[Count.WOM_NEGATIVE].sum()
        net_heard = c.heard.sum()
        # A defended criticism reaches no one; the defence is counted among the positives.
        expected = m.settings.market.wom_weight * (pos - negativity * (neg - t[Count.DEFENSES].sum()))
        assert net_heard == pytest.approx(expected, rel=1e-4, abs=1e-3)


def test_devoted_defend_against_criticism():
    ts = totals(run(steps=156), "giving")
    assert ts.defenses.sum() > 0


def test_fake_love_is_detected():
    honest = totals(run("policy@firms.taking=fake_love", "firms.taking.claims=0.2"), "taking")
    fake = totals(run("policy@firms.taking=fake_love"), "taking")
    assert honest.detections.sum() == 0
    assert fake.detections.sum() > 0
    assert fake.trust_mean.iloc[-26:].mean() < honest.trust_mean.iloc[-26:].mean()


def test_upsell_raises_revenue_now_and_costs_trust():
    none = totals(run("firms.taking.upsell=0.0", steps=26), "taking")
    lots = totals(run("firms.taking.upsell=1.0", steps=26), "taking")
    assert lots.tariff_mean.iloc[-1] > none.tariff_mean.iloc[-1]
    assert (lots.revenue / lots.customers).iloc[1:13].mean() > (none.revenue / none.customers).iloc[1:13].mean()
    assert lots.trust_mean.iloc[-1] < none.trust_mean.iloc[-1]


def test_proactive_advice_costs_revenue_and_builds_bond():
    none = totals(run("firms.giving.proactive_advice=0.0", "firms.giving.generosity=0", steps=52), "giving")
    lots = totals(run("firms.giving.proactive_advice=1.0", "firms.giving.generosity=0", steps=52), "giving")
    assert lots.tariff_mean.iloc[-1] < none.tariff_mean.iloc[-1]
    assert lots.bond_mean.iloc[-1] > none.bond_mean.iloc[-1]


def test_discount_acquires_but_creates_no_bond():
    no = totals(run("firms.taking.discount=0.0"), "taking")
    yes = totals(run("firms.taking.discount=0.5"), "taking")
    assert no.acquired_on_discount.sum() == no.acquired_by_discount.sum() == 0
    assert yes.acquisitions.sum() > no.acquisitions.sum()
    assert yes.acquired_on_discount.sum() == yes.acquisitions.sum()  # every new customer takes the discount
    assert 0 < yes.acquired_by_discount.sum() < yes.acquired_on_discount.sum()  # for some it decided the choice
    assert yes.bond_mean.iloc[-1] <= no.bond_mean.iloc[-1] + 0.01


def test_listening_improves_quality():
    deaf = totals(run("firms.taking.listening=0.0", steps=156), "taking")
    ears = totals(run("firms.taking.listening=1.0", steps=156), "taking")
    assert deaf.quality.iloc[-1] == pytest.approx(0.7, abs=1e-9)
    assert ears.quality.iloc[-1] > deaf.quality.iloc[-1]


def test_outage_raises_incidents_and_defections():
    shock = "market.shocks=[{kind: outage, week: 30, duration: 4, size: 0.8, firm: giving}]"
    calm = totals(run(steps=52), "giving")
    hit = totals(run(shock, steps=52), "giving")
    w = (calm.week >= 30) & (calm.week < 34)
    assert hit.incidents[w.values].sum() > 3 * calm.incidents[w.values].sum()
    assert hit.experienced_quality[w.values].mean() < calm.experienced_quality[w.values].mean() - 0.2
    assert hit.defections.iloc[30:45].sum() > calm.defections.iloc[30:45].sum()
    before = hit.week < 30
    assert (hit.incidents[before.values].to_numpy() == calm.incidents[before.values].to_numpy()).all()


def test_recession_and_price_cut_move_customers_to_the_cheaper_firm():
    base = totals(run(steps=78), "taking")
    cut = totals(
        run(
            "market.shocks=[{kind: price_cut, week: 1, duration: 0, size: 0.3, firm: taking},"
            "{kind: recession, week: 1, duration: 0, size: 1.0}]",
            steps=78,
        ),
        "taking",
    )
    assert cut.price.iloc[-1] == pytest.approx(7.0)
    assert cut.customers.iloc[-1] > base.customers.iloc[-1]


def test_entry_at_chosen_week():
    m = run("firms.taking.enters_at=26", steps=52)
    ts = totals(m, "taking")
    assert (ts[ts.week < 26].customers == 0).all()
    assert ts[ts.week >= 30].customers.iloc[-1] > 0


def test_referrals_need_a_voice():
    silent = totals(run("network=none", "market.reach=0"))
    social = totals(run())
    assert silent.acquired_referral.sum() == 0
    assert social.acquired_referral.sum() > 0


def test_memory_fades():
    m = sim.LoyaltyMarket(settings("engine=vectorized"))
    c = m.customers
    c.recent[:] = 1.0
    c.peak_neg[:] = -1.0
    c.fade()
    assert (c.recent < 1).all() and (c.peak_neg > -1).all()


def test_policy_drift_changes_levers_over_a_ramp():
    m = run("firms.giving.changes=[{week: 10, ramp: 10, levers: {upsell: 0.8}}]", steps=30)
    ts = totals(m, "giving").set_index("week")
    assert ts.lever_upsell[9] == 0 and 0 < ts.lever_upsell[14] < 0.8 and ts.lever_upsell[25] == pytest.approx(0.8)


def test_common_random_numbers_same_network_and_incidents():
    a = sim.LoyaltyMarket(settings())
    b = sim.LoyaltyMarket(settings("policy@firms.taking=giving"))
    assert (a.network.indices == b.network.indices).all()
    assert (a.customers.firm == b.customers.firm).all()
    a.step()
    b.step()
    assert (a.customers.identity == b.customers.identity).all()
