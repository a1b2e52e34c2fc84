"""The experiment library: every file is a well-formed experiment, and each does what its comment says."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, cli, settings
from scipy import stats

from sim.aggregate import write_report
from sim.config import LEVERS
from sim.runs.run import simulate

EXPERIMENTS = sorted((ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_file_is_global_with_a_purpose(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "# @package _global_"
    assert lines[1].startswith("# ") and len(lines[1]) > 20  # one-line purpose
    assert settings(f"experiment={path.stem}").experiment == path.stem


def small(experiment: str, steps: int, *overrides: str) -> pd.DataFrame:
    ts, _ = simulate(settings(f"experiment={experiment}", f"steps={steps}", "customers.n=800", *overrides))
    return ts.set_index(["firm", "week"])


def test_outage_hits_only_the_named_firm_mid_run():
    ts = small("devotion_under_outage", 266)
    incidents = ts.incidents / ts.customers.clip(lower=1)
    during, before = slice(260, 263), slice(248, 259)
    assert incidents.loc["giving"].loc[during].mean() > 3 * incidents.loc["giving"].loc[before].mean()
    assert incidents.loc["taking"].loc[during].mean() < 1.5 * incidents.loc["taking"].loc[before].mean()


def test_newcomer_has_no_customers_before_entry_and_some_after():
    ts = small("newcomer", 140)
    assert ts.loc["newcomer"].loc[:103, "customers"].max() == 0
    assert ts.loc["newcomer"].loc[139, "customers"] > 0
    assert {"incumbent_a", "incumbent_b", "incumbent_c"} <= set(ts.index.get_level_values("firm"))


def test_drifter_moves_to_taking_and_back_over_ramps():
    ts = small("drift", 420, "customers.n=300").loc["drifter"]
    assert ts.loc[100, "lever_upsell"] == 0.0
    assert 0.0 < ts.loc[180, "lever_upsell"] < 0.6  # mid-ramp
    assert ts.loc[300, "lever_upsell"] == pytest.approx(0.6)
    assert ts.loc[419, "lever_upsell"] == pytest.approx(0.0)


def test_discount_and_generous_firms_differ_only_where_the_money_goes():
    firms = settings("experiment=discount_vs_generosity").firms
    a, b = firms["discounter"], firms["generous"]
    differ = {k for k in LEVERS if getattr(a, k) != getattr(b, k)}
    assert differ == {"generosity", "discount"}
    assert a.generosity == 0 and b.discount == 0


def test_speed_and_ease_firms_differ_only_in_speed_and_ease():
    firms = settings("experiment=speed_and_ease").firms
    assert {k for k in LEVERS if getattr(firms["fast"], k) != getattr(firms["slow"], k)} == {"speed", "ease"}


def test_recession_raises_price_sensitivity_for_a_while():
    shocks = settings("experiment=recession").market.shocks
    assert [(s.kind.value, s.week, s.duration) for s in shocks] == [("recession", 260, 104)]


@pytest.mark.slow  # over 10 s end to end: the slow set
def test_policy_map_sweep_and_heat_map(tmp_path):
    results = tmp_path / "results"
    grid = ["market.switching_cost=0.0,4.0", "market.reach=0.0,0.3", "seed=0,1"]
    proc = cli(
        "-m", "experiment=policy_map", "customers.n=300", "steps=20", "progress=false", *grid, f"results_dir={results}"
    )
    assert proc.returncode == 0, proc.stderr
    (sweep_dir,) = [p for p in (results / "policy_map").iterdir() if not p.name.startswith(".")]
    report = write_report(sweep_dir, ["market.switching_cost", "market.reach"])
    cells = pd.read_csv(report / "policy_map.csv")
    assert len(cells) == 4 and (cells.n == 2).all()
    table = pd.read_parquet(report / "runs.parquet")
    for (sc, r), cell in cells.set_index(["market.switching_cost", "market.reach"]).iterrows():
        runs = table[(table["market.switching_cost"] == sc) & (table["market.reach"] == r)]
        npv = runs.pivot(index="seed", columns="policy", values="npv")
        assert cell["mean"] == pytest.approx((npv.giving - npv.taking).mean())
    assert (report / "policy_map.png").stat().st_size > 0
    assert "Policy map" in (report / "report.md").read_text()


@pytest.mark.slow  # over 10 s end to end: the slow set
def test_aggregate_report_of_replications(tmp_path):
    results = tmp_path / "results"
    proc = cli("-m", "customers.n=300", "steps=30", "progress=false", "seed=range(0,4)", f"results_dir={results}")
    assert proc.returncode == 0, proc.stderr
    (sweep_dir,) = [p for p in (results / "giving_vs_taking").iterdir() if not p.name.startswith(".")]
    out = cli_aggregate(sweep_dir)
    table = pd.read_parquet(out / "runs.parquet")
    assert len(table) == 4 * 2 and sorted(table.seed.unique()) == [0, 1, 2, 3]
    assert {"long_run_share", "npv", "advocacy", "profit_lead_week", "run"} <= set(table.columns)
    text = (out / "report.md").read_text()
    for png in ("share.png", "cumulative_profit.png", "advocacy.png", "lead_week.png"):
        assert (out / png).stat().st_size > 0 and png in text
    giving = table[table.firm == "giving"].npv
    half = stats.t.ppf(0.975, 3) * giving.std(ddof=1) / np.sqrt(4)
    assert f"{giving.mean() - half:,.0f}" in text and f"{giving.mean() + half:,.0f}" in text
    assert "python -m sim -m" in text and "seed=range(0,4)" in text  # the command that reproduces it


def cli_aggregate(sweep_dir):
    proc = subprocess.run([sys.executable, "-m", "sim.aggregate", str(sweep_dir)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return sweep_dir / "report"


def test_discount_and_generosity_spend_the_same_measured_money():
    """experiment=discount_vs_generosity: discounts given and free fixes cost the same per customer-week (±5%)."""
    from sim.validation.spend import spends

    table = spends([], seeds=(0,))
    assert table.free_fixes.iloc[0] == pytest.approx(table.discounts.iloc[0], rel=0.05)
