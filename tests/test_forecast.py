"""Cohorts in a market card, held-out forecasts against the sBG, and simulation-based calibration's ranks."""

import copy
import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest

from sim.calibration import coverage, forecast, report, sbg
from sim.calibration.card import check_card, cohort_kpis, held_out, load_card, observations, retention_years
from sim.calibration.kpis import KPIS, acquisition_retention
from sim.config import ConfigError

# Fader & Hardie (2007), Table 1: the share of 1,000 customers still there after 1..12 years.
REGULAR = [0.631, 0.468, 0.382, 0.326, 0.289, 0.262, 0.241, 0.223, 0.207, 0.194, 0.183, 0.173]
HIGH_END = [0.869, 0.743, 0.653, 0.593, 0.551, 0.517, 0.491, 0.468, 0.445, 0.427, 0.409, 0.394]


@functools.cache
def real() -> dict:
    return dataclasses.asdict(load_card("fader_hardie"))


@pytest.mark.parametrize(
    "curve, alpha, beta",
    [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)],  # the paper's estimates from the first 7 years
)
def test_the_sbg_fits_as_fader_and_hardie_report(curve, alpha, beta):
    fitted = sbg.fit(np.array(curve[:7]), 1000)
    assert fitted.alpha == pytest.approx(alpha, abs=0.001) and fitted.beta == pytest.approx(beta, abs=0.001)
    projected = fitted.survival(12)
    assert np.all(np.diff(projected) < 0) and abs(projected[11] - curve[11]) < 0.02  # its famous projection


def test_the_real_card_holds_the_published_table():
    card = load_card("fader_hardie")
    assert card.cohorts["regular"].survival == REGULAR and card.cohorts["high_end"].survival == HIGH_END
    assert retention_years(card) == 12 and not card.kpis
    assert "Table 1" in card.sources["regular.cohort"]


def test_a_cohort_is_observed_as_yearly_retention_with_the_sd_of_its_counts():
    seen = cohort_kpis(load_card("fader_hardie").cohorts["regular"])
    assert list(seen) == [f"retention_year_{k}" for k in range(1, 13)]
    assert seen["retention_year_1"].value == pytest.approx(0.631)
    assert seen["retention_year_1"].sd == pytest.approx(np.sqrt(0.631 * 0.369 / 1000))
    second = 0.468 / 0.631  # of the 631 still there after a year
    assert seen["retention_year_2"].value == pytest.approx(second)
    assert seen["retention_year_2"].sd == pytest.approx(np.sqrt(second * (1 - second) / 631))
    assert all(k in KPIS for k in seen)  # each one a declared KPI


def test_holding_out_cuts_every_curve_and_keeps_the_rest():
    card = load_card("fader_hardie")
    fitted = held_out(card, 7)
    assert all(len(c.survival) == 7 for c in fitted.cohorts.values())
    assert retention_years(fitted) == 7 and len(observations(fitted)) == 14
    for years, message in ((12, r"--holdout = 12: allowed: 1 ≤ holdout ≤ 11"), (0, "--holdout = 0")):
        with pytest.raises(ConfigError, match=message):
            held_out(card, years)
    with pytest.raises(ConfigError, match="holds no cohorts"):
        held_out(load_card("synthetic"), 1)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["cohorts"]["regular"].update(survival=[0.5, 0.6]), "cohorts.regular.survival: rises"),
        (lambda r: r["cohorts"].update(nobody={"size": 10, "survival": [0.5]}), "cohorts.nobody: no such firm"),
        (lambda r: r["cohorts"]["regular"].update(size=0), "cohorts.regular.size = 0"),
        (lambda r: r["cohorts"]["regular"].update(survival=[1.2]), r"cohorts.regular.survival.0 = 1.2"),
        (lambda r: r.update(weeks=520), r"market_data.weeks = 520: 12 years of cohort retention .* at least 677"),
        (
            lambda r: r["kpis"].update(regular={"retention_year_1": {"value": 0.6, "sd": 0.01}}),
            "market_data.kpis.regular.retention_year_1: observed twice",
        ),
    ],
)
def test_a_bad_cohort_is_one_line(change, message):
    raw = copy.deepcopy(real())
    change(raw)
    with pytest.raises(ConfigError, match=message) as err:
        check_card(raw)
    assert "\n" not in str(err.value)


def test_acquisition_retention_follows_weekly_cohorts_year_by_year():
    year = 52
    steps = 4 * year
    joined = np.zeros((steps + 1, 3), np.int32)
    firm = np.zeros((steps + 1, 3), np.int16)
    joined[1:, 0] = 1  # joins in week 1 and stays
    joined[1 : 1 + year + 10, 1] = 1  # joins in week 1, leaves in its second year
    joined[1 + year + 10 :, 1] = -1
    joined[1:, 2] = -1
    out = acquisition_retention(joined, firm, ["a"], 3)
    assert out["a", 1] == 1.0 and out["a", 2] == 0.5 and out["a", 3] == 1.0


def test_the_forecast_sets_model_and_sbg_against_the_held_out_years():
    card = load_card("fader_hardie")
    rates = {f"{firm}.retention_year_{k}": c.survival[k - 1] / ([1.0, *c.survival][k - 1]) for firm, c in
             card.cohorts.items() for k in range(1, 13)}  # fmt: skip
    pred = pd.DataFrame([rates] * 20)  # a model that simulates exactly what was observed
    table = forecast.table(card, pred, holdout=7)
    assert len(table) == 24 and set(table.part) == {"fitted", "held out"}
    assert np.allclose(table.model, table.observed) and table.inside_band.all()
    errors = forecast.errors(table)
    assert (errors.years == 5).all() and (errors.model_error < 1e-9).all() and (errors.sbg_error > 0).all()
    assert errors.inside_band.tolist() == [5, 5]


def test_ranks_of_truths_are_tested_for_uniformity_and_drawn(tmp_path):
    rng = np.random.default_rng(1)
    rows = [
        {"truth_set": k, "parameter": p, "truth_inside_90": inside, "width_over_prior": width, "truth_rank": rank}
        for k in range(60)
        for p, rank, inside, width in (
            ("calibrated", rng.uniform(), True, 0.4),
            ("overconfident", rng.choice([rng.uniform(0, 0.03), rng.uniform(0.97, 1)]), False, 0.9),
        )
    ]
    every = pd.DataFrame(rows)
    table = coverage.coverage_table(every).set_index("parameter")
    assert table.loc["calibrated", "rank_uniformity_p"] > 0.05 > table.loc["overconfident", "rank_uniformity_p"]
    assert table.loc["overconfident", "identified"] == "weakly" and table.loc["calibrated", "identified"] == "yes"
    coverage.rank_plot(every, tmp_path / "coverage.png")
    assert (tmp_path / "coverage.png").stat().st_size > 10_000


def test_the_truth_rank_is_the_posterior_weight_below_it():
    card = load_card("synthetic")
    keys = list(card.free)
    post = pd.DataFrame({k: np.linspace(*card.free[k], 5) for k in keys}).assign(weight=[0.1, 0.2, 0.3, 0.2, 0.2])
    table = report.summary(post, card).set_index("parameter")
    for k in keys:
        lo, hi = card.free[k]
        below = post.weight[post[k] < card.truth[k]].sum()
        assert table.loc[k, "truth_rank"] == pytest.approx(below)
        assert 0 <= table.loc[k, "truth_rank"] <= 1 and lo <= card.truth[k] <= hi


def test_a_card_may_observe_a_firms_economics_and_its_books_by_tenure():
    from sim.calibration import inference

    raw = copy.deepcopy(dataclasses.asdict(load_card("synthetic")))
    raw.update(customers=400, weeks=156)
    raw["kpis"]["us"] |= {
        "margin": {"value": 0.4, "sd": 0.05},
        "acquisition_cost": {"value": 20.0, "sd": 5.0},
        "contact_cost_share": {"value": 0.09, "sd": 0.02},
        "arpu_tenure_year_1": {"value": 10.3, "sd": 0.5},
        "profit_tenure_year_2": {"value": 4.4, "sd": 0.5},
    }
    card = check_card(raw)
    simulated = inference.simulate(card, dict(card.truth))
    for kpi in ("margin", "acquisition_cost", "contact_cost_share", "arpu_tenure_year_1", "profit_tenure_year_2"):
        assert np.isfinite(simulated[f"us.{kpi}"]) and simulated[f"us.{kpi}"] != inference.MISSING
    assert 0 < simulated["us.margin"] < 1 and simulated["us.arpu_tenure_year_1"] > simulated["us.profit_tenure_year_2"]
    for kpi, value, message in (
        ("arpu_tenure_year_12", 1.0, "market_data.kpis.us.arpu_tenure_year_12: unknown KPI"),  # years 1 to 11
        ("margin", 1.5, r"market_data.kpis.us.margin.value = 1.5: allowed: value ≤ 1"),
        ("acquisition_cost", -3.0, "market_data.kpis.us.acquisition_cost.value = -3.0: allowed: 0 ≤ value"),
        ("contact_cost_share", -0.1, "contact_cost_share.value = -0.1: allowed: 0 ≤ value"),
    ):
        bad = copy.deepcopy(raw)
        bad["kpis"]["us"][kpi] = {"value": value, "sd": 0.1}
        with pytest.raises(ConfigError, match=message):
            check_card(bad)


@pytest.mark.slow
def test_a_calibration_held_out_forecasts_the_years_it_did_not_see(tmp_path):
    """End to end: fit on the first two years of each cohort, forecast the third, beside the sBG."""
    import subprocess
    import sys

    from conftest import ROOT

    args = [
        sys.executable, "-m", "sim.calibrate", "market_data=fader_hardie", "market_data.customers=600",
        "market_data.weeks=220", "market_data.cohorts.regular.survival=[0.631,0.468,0.382]",
        "market_data.cohorts.high_end.survival=[0.869,0.743,0.653]", "--holdout", "2", "--population", "10",
        "--generations", "2", "--predictive", "4", "--design", "20", "--no-progress", "--results-dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "held out after year 2" in done.stdout
    (folder,) = (tmp_path / "calibration" / "fader_hardie").iterdir()
    ahead = pd.read_csv(folder / "forecast.csv")
    assert len(ahead) == 6 and (ahead[ahead.year == 3].part == "held out").all()
    assert ahead.model.between(0, 1).all() and (ahead.model_low <= ahead.model_high).all()
    assert (folder / "forecast.png").is_file() and "## Forecast held out" in (folder / "report.md").read_text()
    # fitted on an emulator of 20 runs, checked against the simulator's own predictive runs
    assert len(pd.read_parquet(folder / "design.parquet")) == 20
    checked = pd.read_csv(folder / "emulator.csv")
    assert (checked.runs == 4).all() and "## The emulator, checked against the simulator" in (
        folder / "report.md"
    ).read_text()
    fit = pd.read_csv(folder / "fit.csv")
    assert set(fit.kpi) == {f"{f}.retention_year_{k}" for f in ("regular", "high_end") for k in (1, 2)}  # not 3
