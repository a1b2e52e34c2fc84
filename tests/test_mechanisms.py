"""Each mechanism acts in the direction it should, on a small population.

Comparisons run both arms on the same seed (common random numbers), so the
difference is the mechanism, not the noise.
"""

import numpy as np
import pytest
from conftest import run, settings

import sim
from sim.model.draws import Decision
from sim.model.vocabulary import Count, Happened, Ladder, Tally


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


def _agents(*overrides: str):
    """A small market of Mesa agents whose rules a test calls one by one (the readable reference; the docking
    tests show the compiled engine identical), with the week-1 offer in force."""
    m = sim.LoyaltyMarket(settings("engine=agents", *overrides))
    population = m.customers
    population.offer, population.week = m.offer(1), 1
    population.tally = Tally(population.n_firms, len(m.settings.customers.segments.groups))
    return m, population


def test_devoted_response_to_failure_is_milder():
    """Two customers of firm 0 with the same expectation face the same failure; the devoted one feels it less."""
    m, population = _agents("customers.n=10", "network=none", "customers.experience_noise=0.0", "customers.voice=0.0")
    offer = population.offer
    offer.service[0] = 0.3  # a failure
    offer.generosity[0] = 0.0
    offer.listening[0] = 0.0
    devoted, merely = population.by_index[:2]
    for person, bond in ((devoted, 0.9), (merely, 0.0)):
        person.firm, person.expectation, person.bond = 0, np.float32(0.8), np.float32(bond)
        person.recent = person.peak_pos = person.peak_neg = np.float32(0)
        person.experience_service()
    assert devoted.feeling < 0 and merely.feeling < 0
    assert abs(devoted.feeling) < 0.5 * abs(merely.feeling)


def test_negative_word_of_mouth_weighs_more():
    for negativity in (1.0, 3.0):
        m, population = _agents("customers.n=2000", f"market.negativity={negativity}", "market.reach=0")
        population.rolls = {Decision.WOM: population.roll_everyone(Decision.WOM, 3)}
        for i, person in enumerate(population.by_index):
            person.heard[:] = 0
            person.feeling = np.float32(0)
            person.grudge = np.float32(0)  # nobody vents: only talk about one's firm
            has = person.firm is not None
            person.state = Ladder.DEVOTED if i < 1000 and has else Ladder.DETRACTOR if has else Ladder.PROSPECT
        population.customers.do("talk")
        population.customers.do("take_in_word_of_mouth")
        t = population.tally
        pos, neg = t[Count.WOM_POSITIVE].sum(), t[Count.WOM_NEGATIVE].sum()
        net_heard = population.heard.sum()
        # A defended criticism reaches no one; the defence is counted among the positives.
        expected = m.settings.market.wom_weight * (pos - negativity * (neg - t[Count.DEFENSES].sum()))
        assert neg > 0 and pos > 0
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
    _, population = _agents("customers.n=50")
    for person in population.by_index:
        person.recent, person.peak_neg = np.float32(1), np.float32(-1)
        person.fade()
    assert (population.recent < 1).all() and (population.peak_neg > -1).all()


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


# --- the economics: what giving saves and earns, what taking's price walk costs ----------------------------------


def _firms(model, *columns):
    ts = model.timeseries()
    return ts[ts.week > 0].groupby("firm")[list(columns)].sum()


def test_advice_not_taken_up_keeps_revenue_and_the_goodwill_of_being_told():
    everyone = _firms(run("customers.advice_uptake=1.0"), "advice_given", "advice_taken", "revenue", "bond_mean")
    some = _firms(run("customers.advice_uptake=0.2"), "advice_given", "advice_taken", "revenue", "bond_mean")
    assert everyone.loc["giving", "advice_taken"] == everyone.loc["giving", "advice_given"]
    assert 0 < some.loc["giving", "advice_taken"] < 0.4 * some.loc["giving", "advice_given"]
    assert some.loc["giving", "revenue"] > everyone.loc["giving", "revenue"]
    assert some.loc["giving", "bond_mean"] == pytest.approx(everyone.loc["giving", "bond_mean"], rel=0.05)


def test_overpaying_found_out_is_felt_voiced_and_put_right():
    hidden = run("customers.discovery=0.0", steps=156)
    found = run("customers.discovery=0.01", steps=156)
    a, b = _firms(hidden, "discoveries", "refits", "complaints"), _firms(found, "discoveries", "refits", "complaints")
    assert (a.discoveries == 0).all() and b.loc["taking", "discoveries"] > 0 and b.loc["taking", "refits"] > 0
    assert b.loc["taking", "complaints"] > a.loc["taking", "complaints"]
    tariff = lambda m: m.timeseries().query("firm == 'taking'").tariff_mean.iloc[-26:].mean()  # noqa: E731
    assert tariff(found) < tariff(hidden)


def test_upsells_that_meet_a_need_are_not_found_out():
    none_fit = _firms(run("customers.discovery=0.01", "market.upsell_fit=0.0", steps=156), "discoveries")
    all_fit = _firms(run("customers.discovery=0.01", "market.upsell_fit=1.0", steps=156), "discoveries")
    assert all_fit.loc["taking", "discoveries"] < none_fit.loc["taking", "discoveries"]


def test_regulation_notices_tell_every_overpaying_customer_once_a_year():
    quiet = ("customers.discovery=0", "customers.advice_uptake=0", "firms.taking.upsell=0")  # told, nobody moves
    none = _firms(run("market.regulation=none", *quiet, steps=120), "discoveries")
    notices = run("market.regulation=notices", *quiet, steps=120)
    told = notices.timeseries().query("firm == 'taking'").set_index("week").discoveries
    assert (none.discoveries == 0).all() and told.sum() > 100  # only the notices tell
    c = notices.customers
    overpaying = (c.tariff > c.fit + 1e-3) & (c.firm == 1)
    assert c.aware[overpaying & (c.tenure >= 52)].all()  # a year with the firm: every one of them told
    assert not c.aware[overpaying & (c.tenure < 52)].any()  # and nobody before


def test_no_price_walking_caps_tariffs_and_ends_new_customer_discounts():
    m = run("market.regulation=no_price_walking", steps=104)
    c, ts = m.customers, m.timeseries()
    buyers = c.firm < c.no_firm
    assert (c.tariff[buyers] <= np.maximum(c.fit[buyers], 1) + 1e-6).all()
    assert ts.acquired_on_discount.sum() == 0 and ts.discount_given.sum() == 0


def test_ease_saves_calls_and_a_first_time_fix_saves_repeats():
    m = run("customers.self_service=0.8", "customers.first_fix=0.6", steps=104)
    f = _firms(m, "incidents", "contacts", "failure_contacts", "self_served", "complaints")
    assert (f.self_served > 0).all() and (f.failure_contacts > 0).all()
    assert (f.contacts + f.self_served >= f.incidents).all()
    calls = f.contacts / f.incidents  # the easier, better-served giving firm gets fewer calls per incident
    assert calls["giving"] < calls["taking"]
    failure = f.failure_contacts / f.contacts
    assert failure["giving"] < failure["taking"]
    neutral = ("customers.self_service=0", "customers.first_fix=1", "customers.discovery=0")  # every incident a call
    plain = _firms(run(*neutral, steps=104), "incidents", "contacts", "failure_contacts")
    assert (plain.contacts == plain.incidents).all() and (plain.failure_contacts == 0).all()


def test_fixed_costs_make_the_larger_firm_cheaper_per_customer():
    def unit(*overrides):
        ts = run(*overrides, steps=104).timeseries().query("week > 52")
        per = ts.running_cost / ts.customers
        return per.groupby(ts.firm).mean(), ts.groupby("firm").customers.mean()

    flat, size = unit("market.costs.fixed_share=0.0")
    scaled, _ = unit("market.costs.fixed_share=0.5")
    big, small = size.idxmax(), size.idxmin()
    assert scaled[big] < flat[big] and scaled[small] > flat[small]


def test_referred_customers_stay_longer():
    def leaving(restless):
        m = sim.LoyaltyMarket(settings(f"customers.referred_restlessness={restless}", "market.reach=0.2"))
        seen, left = 0, 0
        for _ in range(104):
            referred = (m.customers.by_referral & (m.customers.firm < m.customers.no_firm)).copy()
            m.step()
            seen += referred.sum()
            left += (referred & ((m.customers.happened & Happened.LEFT_FIRM) > 0)).sum()
        return left / seen

    assert leaving(0.5) < leaving(1.0)


def test_community_support_and_referral_rewards_and_a_devoted_premium_show_in_the_books():
    base = _firms(run(steps=78), "contact_cost", "contacts", "referral_rewards", "revenue")
    forum = _firms(run("market.community_support=0.5", steps=78), "contact_cost", "contacts")
    assert forum.loc["giving", "contact_cost"] < base.loc["giving", "contact_cost"]
    paid = _firms(run("firms.giving.referral_reward=30", steps=78), "referral_rewards", "acquired_referral")
    assert paid.loc["giving", "referral_rewards"] == 30 * paid.loc["giving", "acquired_referral"] > 0
    assert (base.referral_rewards == 0).all()
    premium = _firms(run("customers.devoted_premium=0.1", steps=78), "revenue")
    assert premium.loc["giving", "revenue"] > base.loc["giving", "revenue"]
    assert premium.loc["taking", "revenue"] == pytest.approx(base.loc["taking", "revenue"], rel=0.02)


def test_a_mechanism_switched_on_leaves_every_other_draw_unchanged():
    """Common random numbers: finding out has dice of its own, so in the first week everyone who did not find out
    lives the same week in both worlds."""
    off = sim.LoyaltyMarket(settings("customers.discovery=0.0", "network=none", "market.reach=0"))
    on = sim.LoyaltyMarket(settings("customers.discovery=0.05", "network=none", "market.reach=0"))
    off.step()
    on.step()
    found = (on.customers.happened & Happened.FOUND_OUT) > 0
    assert found.sum() > 10
    for name in ("feeling", "tariff", "trust", "bond", "complaint", "firm"):
        assert (getattr(off.customers, name)[~found] == getattr(on.customers, name)[~found]).all(), name
