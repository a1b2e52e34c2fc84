"""A Mesa user's first tries: keyword construction, batch_run, the notebook example."""

import runpy

import mesa
import pandas as pd
import pytest
from conftest import ROOT

import sim
from sim import ConfigError, LoyaltyMarket


def test_the_default_model_is_the_default_experiment():
    m = LoyaltyMarket()
    assert m.settings == sim.load([])
    assert m.names == ["giving", "taking"]


def test_keywords_compose_validate_and_build_the_same_model_as_overrides():
    by_keywords = LoyaltyMarket(
        rng=3,
        experiment="monopoly",
        customers={"n": 500},
        presets={"incumbent": "giving"},
        firms={"incumbent": {"generosity": 0.8}},
        steps=20,
    )
    by_overrides = LoyaltyMarket(
        sim.load(
            [
                "seed=3",
                "experiment=monopoly",
                "customers.n=500",
                "policy@firms.incumbent=giving",
                "firms.incumbent.generosity=0.8",
                "steps=20",
            ]
        )
    )
    assert by_keywords.settings == by_overrides.settings
    pd.testing.assert_frame_equal(by_keywords.run().timeseries(), by_overrides.run().timeseries())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"customers": {"n": -5}}, "customers.n = -5"),
        ({"customers": {"patience": 1}}, "unknown key 'customers.patience'"),
        ({"experiment": "nope"}, "experiment=nope: no such option"),
        ({"rng": "three"}, "rng = 'three': allowed: an integer seed"),
    ],
)
def test_bad_keywords_are_one_line_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message) as err:
        LoyaltyMarket(**kwargs)
    assert "\n" not in str(err.value)
    with pytest.raises(TypeError):
        LoyaltyMarket(sim.load([]), rng=1)


def test_batch_run_gives_one_row_per_firm_per_run():
    rows = mesa.batch_run(
        LoyaltyMarket,
        parameters={"market": [{"reach": r} for r in (0, 0.1)], "rng": [0, 1], "customers": [{"n": 300}]},
        max_steps=30,
        display_progress=False,
    )
    df = pd.DataFrame(rows)
    assert len(df) == 4 * 2 and set(df.firm) == {"giving", "taking"}
    assert {"share", "npv", "advocacy", "buyers", "prospects", "Step"} <= set(df.columns)
    assert (df.Step == 30).all() and df.groupby("RunId").share.sum().round(9).eq(1).all()
    by_seed = df.pivot_table(index=["rng", "firm"], columns=df.market.map(str), values="npv")
    assert by_seed.loc[0].ne(by_seed.loc[1]).all().all()  # the rng of each run is its seed


def test_the_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(ROOT / "experiments" / "notebook.py"), run_name="__main__")
    assert (tmp_path / "notebook_share.png").stat().st_size > 5000


def test_the_segments_table_has_a_row_per_week_firm_and_segment_in_that_order():
    m = LoyaltyMarket(customers={"n": 500}, steps=3).run()
    seg = m.segment_timeseries()
    segments = list(m.settings.customers.segments.groups)
    assert len(seg) == 4 * len(m.names) * len(segments)  # week 0 and three weeks
    week3 = seg[seg.week == 3]
    assert list(zip(week3.firm, week3.segment, strict=True)) == [(f, s) for f in m.names for s in segments]
    with pytest.raises(ValueError, match="has the columns"):
        m.datacollector.add_table_rows("segments", {"week": [4]})
