"""Firm management (conf/management/, sim/model/management.py): each rule moves levers the way it says,
within their ranges and at a cost; a fixed plan is today's firm; bad input is one line."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import settings

import sim
from sim.config import LEVERS, ConfigError, Management, allowed_range
from sim.docking import compare
from sim.model import management
from sim.model.management import Books, Report
from sim.runs.run import simulate

FAST = ["customers.n=500", "steps=120"]  # a small market with many decisions
QUICK = ["firms.giving.management.review=5", "firms.giving.management.horizon=5"]


def rule(kind: str, **values) -> Management:
    """A rule's validated parameters (its conf/management/ file), with some values changed."""
    return dataclasses.replace(settings(f"management@firms.giving={kind}").firms["giving"].management, **values)


def drive(manager, profit, weeks: int, levers, reports=()):
    """A synthetic world: weekly profit is ``profit(history of lever settings)``; the manager decides as a firm does."""
    history, books = [], []
    for week in range(1, weeks + 1):
        if books and len(books) % manager.config.review == 0:
            target = manager.decide(books, list(reports), levers)
            if target:
                levers = management.replace_levers(levers, target)
        history.append(levers)
        p = profit(history)
        books.append(Books(week, p, 0.0, p, 100, 0.5, 0.0, 0))
    return levers, history


def delayed(history):
    """Generosity costs at once and pays three times as much half a year later."""
    g = [h.generosity for h in history]
    return 100.0 - g[-1] + 3.0 * (g[-27] if len(g) > 26 else g[0])


def test_myopic_cuts_what_pays_later_and_patient_keeps_it():
    start = settings().firms["giving"].levers
    rng = np.random.default_rng
    myopic = management.manager(rule("myopic", levers=["generosity"]), start, rng(1))
    patient = management.manager(rule("patient", levers=["generosity"]), start, rng(1))
    short, _ = drive(myopic, delayed, 1040, start)
    long, _ = drive(patient, delayed, 1040, start)
    assert short.generosity < start.generosity - 0.2  # kept the cuts: the next quarter's profit rose
    assert long.generosity > start.generosity + 0.2  # judged over two years, generosity pays
    assert {kind for _, kind, _, _ in myopic.log} == {"measured", "keep", "revert"}
    for _, kind, score, baseline in myopic.log:
        assert (score > baseline) == (kind == "keep") or kind == "measured"


def test_imitate_closes_the_gap_to_the_most_profitable_rival_it_can_see():
    start = settings().firms["giving"].levers
    imitate = management.manager(rule("imitate", lag=4, horizon=8), start, np.random.default_rng(0))
    books = [Books(w, 10.0, 0.0, 10.0, 100, 0.5, 0.0, 0) for w in range(1, 27)]
    richer = Report("taking", {"upsell": 0.6, "generosity": 0.0, "price": 12.0}, {w: 20.0 for w in range(1, 23)})
    poorer = Report("other", {"upsell": 1.0, "generosity": 1.0}, {w: 5.0 for w in range(1, 23)})
    moved = imitate.decide(books, [poorer, richer], start)
    assert moved == pytest.approx({"upsell": 0.15, "generosity": 0.375})  # a quarter of the gap (rate 0.25)
    assert "price" not in moved  # observable, but not a lever it manages
    assert imitate.decide(books, [poorer], start) is None  # no rival did better
    late = Report("taking", richer.levers, {w: 20.0 for w in range(1, 20)})  # reports do not cover the window
    assert imitate.decide(books, [late], start) is None


def test_learner_finds_the_best_levers_of_a_known_profit():
    start = settings().firms["giving"].levers
    learner = management.manager(
        rule("learner", levers=["generosity", "upsell", "speed"], horizon=1, review=1, population=8, sigma=0.3),
        start,
        np.random.default_rng(0),
    )
    target = np.array([0.2, 0.7, 0.4])

    def profit(history):
        x = np.array([history[-1].generosity, history[-1].upsell, history[-1].speed])
        return -float(((x - target) ** 2).sum())

    _, history = drive(learner, profit, 400, start)
    assert learner.generations >= 40
    last = np.array([[h.generosity, h.upsell, h.speed] for h in history[-40:]])
    assert np.abs(last.mean(axis=0) - target).max() < 0.05
    assert np.abs(np.array([start.generosity, start.upsell, start.speed]) - target).max() > 0.5


def run_rule(kind: str, *overrides: str) -> pd.DataFrame:
    ts, _ = simulate(settings(*FAST, f"management@firms.giving={kind}", *QUICK, *overrides), progress=False)
    return ts


@pytest.mark.parametrize("kind", ["myopic", "patient", "imitate", "learner"])
def test_rules_in_a_small_market_stay_in_range_and_pay_for_changes(kind):
    ts = run_rule(kind)
    giving, taking = ts[ts.firm == "giving"].set_index("week"), ts[ts.firm == "taking"].set_index("week")
    assert giving.management_moves.sum() > 0
    assert (taking.management_moves == 0).all() and (taking.lever_change_cost == 0).all()
    for k in LEVERS:
        lo, hi = allowed_range(f"firms.giving.{k}")
        assert giving[f"lever_{k}"].between(lo or 0.0, hi).all()
        assert taking[f"lever_{k}"].nunique() == 1  # the rival's plan is untouched
    # The cost of a change: change_cost x customers x units moved (a lever's whole range is one unit).
    cfg = settings(f"management@firms.giving={kind}").firms["giving"].management
    moved = giving[giving.management_moves > 0].index
    assert (giving.lever_change_cost[giving.management_moves == 0] == 0).all()
    span = {k: allowed_range(f"firms.giving.{k}")[1] - (allowed_range(f"firms.giving.{k}")[0] or 0) for k in cfg.levers}
    for week in moved:
        units = sum(
            abs(giving.at[week, f"lever_{k}"] - giving.at[week - 1, f"lever_{k}"]) / span[k] for k in cfg.levers
        )
        expected = cfg.change_cost * giving.at[week - 1, "customers"] * units
        assert giving.at[week, "lever_change_cost"] == pytest.approx(expected)
    assert (moved % 5 == 1).all()  # decisions after every review period (5 weeks) in the market


def test_a_myopic_firm_goes_back_when_the_trial_did_worse():
    model = sim.LoyaltyMarket(settings(*FAST, "management@firms.giving=myopic", *QUICK)).run()
    firm = model.firms[0]
    ts = model.timeseries().query("firm == 'giving'").set_index("week")
    levers = [f"lever_{k}" for k in firm.management.levers]
    reverts = [n for n, kind, _, _ in firm.manager.log if kind == "revert"]
    assert reverts
    for n in reverts:  # a decision after n weeks applies in week n + 1; the trial began a horizon earlier
        assert (ts.loc[n + 1, levers] == ts.loc[n + 1 - 5 - 1, levers]).all()
    books = pd.DataFrame(firm.books).set_index("week")
    for n, _, score, _ in firm.manager.log:
        assert score == pytest.approx(books.profit.loc[n - 4 : n].mean())


def test_imitate_in_a_market_moves_only_towards_the_rival_and_only_what_it_sees():
    ts = run_rule("imitate", "firms.giving.management.lag=2").set_index(["firm", "week"])
    giving, taking = ts.loc["giving"], ts.loc["taking"]
    assert (giving.lever_listening == giving.lever_listening.iloc[0]).all()  # not observable
    for week in giving.index[giving.management_moves > 0]:
        for k in ("generosity", "upsell", "discount", "speed"):
            before, after, rival = (
                giving.at[week - 1, f"lever_{k}"],
                giving.at[week, f"lever_{k}"],
                taking.at[0, f"lever_{k}"],
            )
            assert abs(after - rival) <= abs(before - rival) + 1e-12


def test_random_start_is_drawn_per_seed_within_ranges():
    def start(seed):
        s = settings(f"seed={seed}", "management@firms.giving=learner", "firms.giving.management.start=random")
        return sim.LoyaltyMarket(s).firms[0].levers

    a, b = start(1), start(2)
    assert a == start(1) and a != b
    plan = settings().firms["giving"].levers
    assert a.claims == plan.claims and a.price == plan.price  # only the managed levers are drawn


def test_a_rule_that_never_decides_leaves_the_run_identical_to_a_fixed_plan():
    fixed, _ = simulate(settings(*FAST), progress=False)
    idle, _ = simulate(settings(*FAST, "management@firms.giving=learner", "firms.giving.management.review=1000"))
    pd.testing.assert_frame_equal(fixed, idle, check_exact=True)


def test_managed_firms_dock_in_both_engines():
    _, divergence = compare(["customers.n=200", "steps=30", "management@firms.giving=myopic", *QUICK])
    assert divergence is None, str(divergence)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["management@firms.giving=greedy"], "config error: management=greedy: no such option (allowed: fixed, "),
        (["firms.giving.management.horizon=0"], "firms.giving.management.horizon = 0: input should be greater"),
        (["firms.giving.management.kind=greedy"], "firms.giving.management.kind = 'greedy': input should be"),
        (["firms.giving.management.levers=[generosty]"], "firms.giving.management.levers.0 = 'generosty': not a lever"),
        (["management@firms.giving=learner", "firms.giving.management.levers=[upsell]"], "at least 2 levers"),
        (
            ["management@firms.giving=myopic", "firms.giving.changes=[{week: 5, ramp: 0, levers: {upsell: 0.3}}]"],
            "firms.giving.changes: a firm managed by a rule",
        ),
    ],
)
def test_bad_management_is_one_line(overrides, message):
    with pytest.raises(ConfigError) as err:
        settings(*overrides)
    assert message in str(err.value) and "\n" not in str(err.value)
