"""Configuration: every experiment composes; bad values stop with one clear line."""

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, cli, settings

import sim
from sim.config import LEVERS, ConfigError, load

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_validates(experiment):
    s = settings(f"experiment={experiment}")
    assert s.experiment == experiment
    assert s.firms


def test_default_is_giving_vs_taking_duopoly():
    s = sim.load()
    assert s.experiment == "giving_vs_taking"
    assert [f.policy for f in s.firms.values()] == ["giving", "taking"]
    assert s.steps >= 520


def test_presets_and_lever_overrides():
    s = settings("policy@firms.taking=fake_love", "firms.giving.generosity=0.8")
    assert s.firms["taking"].policy == "fake_love"
    assert s.firms["giving"].generosity == 0.8
    assert set(LEVERS) <= set(vars(s.firms["giving"]))


@pytest.mark.parametrize(
    "override, key, allowed",
    [
        ("customers.n=-5", "customers.n", "10 ≤ value ≤ 20000000"),
        ("customers.incident_rate=1.5", "customers.incident_rate", "0.0 ≤ value ≤ 1.0"),
        ("firms.giving.generosity=2", "firms.giving.generosity", "0.0 ≤ value ≤ 1.0"),
        ("steps=0", "steps", "1 ≤ value"),
        ("customers.n=lots", "customers.n", "10 ≤ value"),
    ],
)
def test_out_of_range_names_key_and_range(override, key, allowed):
    with pytest.raises(ConfigError) as err:
        settings(override)
    msg = str(err.value)
    assert "\n" not in msg
    assert key in msg and allowed in msg


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match=r"unknown key 'customers.patience'"):
        settings("+customers.patience=3")


def test_empty_firm_list_is_rejected():
    with pytest.raises(ConfigError, match="at least one firm"):
        sim.config.validate({**sim.config.to_plain(sim.config.compose(["customers.n=100"])), "firms": {}})


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", ".hidden", "a/b", ""])
def test_the_experiment_name_is_one_folder_name(name):
    """It names the results folder: an experiment file cannot send results outside ``results_dir``."""
    raw = {**sim.config.to_plain(sim.config.compose(["customers.n=100"])), "experiment": name}
    with pytest.raises(ConfigError, match=r"^config error: experiment = .*: allowed: one folder name"):
        sim.config.validate(raw)


def test_shock_must_name_a_firm():
    with pytest.raises(ConfigError, match=r"market.shocks.0.firm"):
        settings("market.shocks=[{kind: outage, week: 5, duration: 2, size: 0.5, firm: nobody}]")


def test_a_shock_after_the_last_week_is_refused():
    shock = "market.shocks=[{kind: outage, week: 600, duration: 4, size: 0.8, firm: giving}]"
    with pytest.raises(ConfigError) as err:
        settings(shock, "steps=520")
    assert str(err.value) == (
        "config error: market.shocks.0.week = 600: the outage of giving starts after the last week (steps = 520);"
        " allowed: 0 ≤ value ≤ 520"
    )
    with pytest.raises(ConfigError, match=r"the recession starts after the last week \(steps = 100\)"):
        settings("experiment=recession", "steps=100")
    assert settings("experiment=recession", "steps=260").market.shocks[0].week == 260  # in the last week: it strikes


def test_policy_change_lever_validated():
    with pytest.raises(ConfigError, match=r"firms.giving.changes.0.levers.upsell"):
        settings("firms.giving.changes=[{week: 5, ramp: 0, levers: {upsell: 3}}]")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("customers.n=-5", "customers.n = -5: input should be greater than or equal to 10; allowed: 10 ≤ value"),
        ("customers.nn=5", "unknown key 'customers.nn'"),
        ("+customers.nn=5", "unknown key 'customers.nn'"),
        ("experiment=nope", "experiment=nope: no such option (allowed: "),
        ("market.reach=1.5", "market.reach = 1.5"),
    ],
)
def test_bad_config_on_cli_exits_nonzero_writes_nothing(results_dir: Path, override, expected):
    proc = cli(override, f"results_dir={results_dir}")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("config error: ") and expected in lines[0]
    assert not results_dir.exists()


@pytest.mark.parametrize(
    "override, expected",
    [
        (
            "customers.segments.groups.deal.share=0.5",
            "customers.segments.groups.*.share: the shares sum to 1.3; allowed: they sum to 1",
        ),
        ("customers.segments.spread.talkativeness=-1", "customers.segments.spread.talkativeness = -1"),
        (
            "customers.segments.groups.relationship.bonding=-0.5",
            "customers.segments.groups.relationship.bonding = -0.5",
        ),
        ("customers/segments=nope", "customers/segments=nope: no such option (allowed: alike, default)"),
        ("customers.segments.groups.vip.share=0.1", "unknown key 'customers.segments.groups.vip.share'"),
        (
            "customers.segments.groups={a: {share: 1}}",
            "customers.segments.groups.a: a segment needs all its keys; "
            "missing: price_sensitivity, restlessness, bonding, outspokenness, talkativeness",
        ),
        (
            "+customers.segments.groups.a={share: 1, bonding: 1}",
            "customers.segments.groups.a: a segment needs all its keys; "
            "missing: price_sensitivity, restlessness, outspokenness, talkativeness",
        ),
        (
            "customers.segments.groups={a: {share: 1, price_sensitivity: 1, restlessness: 1, bonding: 1, "
            "outspokenness: 1, talkativeness: 1}}",
            "customers.segments.groups.a: no such segment; add one with +customers.segments.groups.a={...}",
        ),
        (
            "customers.segments.groups.deal={share: 0.2, nope: 3}",
            "unknown key 'customers.segments.groups.deal.nope' (allowed keys here: share, price_sensitivity, ",
        ),
    ],
)
def test_bad_segments_are_one_line(override, expected):
    with pytest.raises(ConfigError) as err:
        settings(override)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_segments_shape_the_population():
    m = sim.LoyaltyMarket(settings("customers.n=20000"))
    c, groups = m.customers, m.settings.customers.segments.groups
    shares = np.bincount(c.segment, minlength=len(groups)) / c.n
    assert np.allclose(shares, [g.share for g in groups.values()], atol=0.015)
    deal, relationship = list(groups).index("deal"), list(groups).index("relationship")
    assert c.restlessness[c.segment == deal].mean() > 5 * c.restlessness[c.segment == relationship].mean()
    assert c.price_sensitivity[c.segment == deal].mean() > 2 * c.price_sensitivity[c.segment == relationship].mean()
    alike = sim.LoyaltyMarket(settings("customers.n=2000", "customers/segments=alike")).customers
    assert (alike.segment == 0).all() and (alike.bonding == 1).all() and (alike.talkativeness == 1).all()


def test_an_experiment_file_overrides_the_primary_defaults_and_the_command_line_overrides_both():
    """An experiment holds only what it changes, and what it changes applies (its length, say); the command line
    has the last word."""
    assert load(["experiment=bass"]).steps == 78  # conf/experiment/bass.yaml
    assert load(["experiment=giving_vs_taking"]).steps == 520  # conf/config.yaml
    assert load(["experiment=bass", "steps=30"]).steps == 30
