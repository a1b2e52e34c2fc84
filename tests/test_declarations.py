"""One declaration of each thing: customer state, counts, recorded columns, presets, results folders."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, settings

import sim
from sim.config import TRAIT_MULTIPLIERS, ConfigError, Levers, TraitSpread
from sim.model.metrics import RECORD
from sim.model.state import BY_NAME, STATE, TRAITS, Fate, fresh_value
from sim.model.vocabulary import COUNTED, Channel, Count, Happened, Offer, Tally, acquired
from sim.runs.results import atomic_folder


@pytest.mark.parametrize("engine", ["agents", "compiled"])
def test_every_engine_holds_exactly_the_declared_state(engine):
    m = sim.LoyaltyMarket(settings("customers.n=60", "steps=3", f"engine={engine}")).run()
    for var in STATE:
        values = np.asarray(getattr(m.customers, var.name))
        assert values.dtype == np.dtype(var.dtype), var.name
        assert values.shape == ((60, 2) if var.per_firm else (60,)), var.name


def test_leaving_the_market_leaves_nothing_of_the_previous_occupant():
    """Every variable declared fresh on leaving takes a newcomer's value; traits are drawn anew (one week of the
    compiled engine with half the market leaving; the docking tests show the agents engine identical)."""
    m = sim.LoyaltyMarket(settings("customers.n=400", "customers.turnover=0.5", "network=none"))
    c, cfg = m.customers, m.settings.customers
    before = {v.name: getattr(c, v.name).copy() for v in STATE}
    m.step()
    left = (c.happened & Happened.LEFT_MARKET) > 0
    assert 120 < left.sum() < 280
    assert (c.identity[left] != before["identity"][left]).all() and (
        c.identity[~left] == before["identity"][~left]
    ).all()
    for var in STATE:
        values = getattr(c, var.name)
        if var.leaving is Fate.DRAWN:  # traits drawn anew: a new person
            changed = (values[left] != before[var.name][left]).mean()
            assert changed > (0.5 if var.name == "segment" else 0.99), var.name
            assert (values[~left] == before[var.name][~left]).all(), var.name
    # A newcomer's week: no firm, no memories, no bond, no grudge; only what a prospect's week can bring.
    for name in ("tenure", "recent", "peak_pos", "peak_neg", "bond", "grudge", "tariff", "discount_left"):
        newcomer = fresh_value(BY_NAME[name], cfg, c.n_firms)
        stayed_out = left & (c.firm == c.no_firm)
        assert (getattr(c, name)[stayed_out] == newcomer).all(), name


def test_traits_are_exactly_the_drawn_variables():
    assert ("segment", "fit", *TRAIT_MULTIPLIERS) == TRAITS
    assert set(TRAIT_MULTIPLIERS) == set(TraitSpread.__dataclass_fields__)
    assert [v.name for v in STATE if v.leaving is Fate.SET] == ["identity"]
    assert all(v.joining is Fate.KEPT for v in STATE if v.name in TRAITS)


def test_a_misspelt_count_is_an_error_not_a_silent_zero():
    tally = Tally(2)
    with pytest.raises(TypeError):
        tally["incidnets"]
    with pytest.raises(TypeError):
        tally.add("incidents", np.array([0, 1]))
    with pytest.raises(AttributeError):
        Count.INCIDNETS  # noqa: B018
    assert all(acquired(ch).name == f"ACQUIRED_{ch.name}" for ch in Channel)
    assert len(Count) == len(COUNTED)


def test_the_offer_has_one_array_per_lever_under_its_own_name():
    m = sim.LoyaltyMarket(settings("customers.n=50"))
    offer = m.offer(0)
    for lever in Levers.__dataclass_fields__:
        assert len(getattr(offer, lever)) == len(m.firms) + 1
    assert offer.proactive_advice[0] == m.settings.firms["giving"].proactive_advice
    with pytest.raises(ValueError):
        Offer({"price": np.ones(3)})


def test_recorded_columns_are_declared_once_with_a_definition():
    ts = sim.LoyaltyMarket(settings("customers.n=100", "steps=2")).run().timeseries()
    assert list(ts.columns) == list(RECORD)
    assert all(len(doc) > 8 for doc, _ in RECORD.values())


def test_recording_does_not_run_the_economy(monkeypatch):
    """The firms settle their accounts in the model's step; a model that records nothing books the same."""
    a = sim.LoyaltyMarket(settings("customers.n=300", "steps=30")).run()
    b = sim.LoyaltyMarket(settings("customers.n=300", "steps=30"))
    monkeypatch.setattr(b.datacollector, "collect", lambda model: None)
    b.run()
    for fa, fb in zip(a.firms, b.firms, strict=True):
        assert (fa.npv, fa.quality, fa.cumulative_revenue) == (fb.npv, fb.quality, fb.cumulative_revenue)


def test_a_planned_change_can_name_a_preset():
    s = settings("experiment=drift")
    taking = settings().firms["taking"]
    change = s.firms["drifter"].changes[0]
    assert change.policy == "taking"
    assert change.levers == {k: getattr(taking, k) for k in Levers.__dataclass_fields__}
    with pytest.raises(ConfigError, match=r"firms.drifter.changes.0.policy = 'nope': no such preset \(allowed: "):
        settings("experiment=drift", "firms.drifter.changes=[{week: 3, ramp: 0, policy: nope}]")


def test_two_writers_of_one_folder_each_get_the_folder_they_wrote(tmp_path):
    dest = tmp_path / "run"
    with atomic_folder(dest) as first, atomic_folder(dest) as second:
        (first.tmp / "who").write_text("first")
        (second.tmp / "who").write_text("second")
    assert second.final == dest and first.final == tmp_path / "run_1"
    assert (second.final / "who").read_text() == "second" and (first.final / "who").read_text() == "first"


def test_importing_the_package_changes_no_process_state():
    """No plotting backend is chosen and the allocator is left alone at import: entry points do that."""
    code = (
        "import matplotlib; before = matplotlib.rcParams._get_backend_or_none();"
        "import sim, sim.aggregate, sim.runs.run, sim.sensitivity, sim.validate, sim.bench, sim.docking;"
        "assert matplotlib.rcParams._get_backend_or_none() == before, matplotlib.rcParams._get_backend_or_none()"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
