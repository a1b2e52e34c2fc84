"""The Gaussian-process emulator a calibration draws its particles from: its design, its runs, its honesty."""

import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest

from sim.calibration import emulator, inference, report
from sim.calibration.card import load_card, observed, priors
from sim.runs.errors import Failure

pytest.importorskip("pyabc")
pytest.importorskip("sklearn")


@functools.cache
def small() -> "object":
    """The synthetic card's six priors and ten KPIs on a small market."""
    return dataclasses.replace(load_card("synthetic"), customers=400, weeks=104)


@functools.cache
def fitted(n: int = 80) -> tuple:
    card = small()
    sets = emulator.design(card, n, seed=0)
    runs = inference.simulate_each(card, sets, jobs=2)
    return sets, runs, emulator.fit(card, sets, runs)


def test_the_design_fills_the_prior_box_one_stratum_per_run_and_repeats():
    card = small()
    sets = emulator.design(card, 50, seed=1)
    assert sets.equals(emulator.design(card, 50, seed=1)) and not sets.equals(emulator.design(card, 50, seed=2))
    for p in priors(card):
        v = sets[p.key].to_numpy()
        assert (v >= p.low).all() and (v <= p.high).all()
        strata = np.floor((v - p.low) / (p.high - p.low) * 50).astype(int)
        assert sorted(strata) == list(range(50))  # a Latin hypercube: each fiftieth of each prior holds one set


def test_an_interrupted_design_continues_where_its_last_saved_batch_ended(tmp_path, monkeypatch):
    card = small()
    monkeypatch.setattr(emulator, "BATCH", 3)
    whole = emulator.runs_of(card, tmp_path / "a.parquet", 10, jobs=1)
    cut = tmp_path / "b.parquet"
    whole.iloc[:6].to_parquet(cut, index=False)  # as an interruption after two batches leaves it
    ran = []
    real = inference.simulate_each
    monkeypatch.setattr(inference, "simulate_each", lambda c, s, j: ran.append(len(s)) or real(c, s, j))
    again = emulator.runs_of(card, cut, 10, jobs=1)
    assert ran == [3, 1]  # only the four sets not yet run
    pd.testing.assert_frame_equal(again, whole)  # and the same runs as without the interruption
    with pytest.raises(Failure, match="holds another design: move it away"):
        emulator.runs_of(card, cut, 10, jobs=1, seed=5)


def test_an_emulated_run_is_the_mean_plus_its_uncertainty_and_repeats_for_the_same_set():
    sets, runs, em = fitted()
    card = small()
    assert em.kpis == list(observed(card))
    params = sets.iloc[0].to_dict()
    one = em(params)
    assert one == em(params) and one != em(sets.iloc[1].to_dict())  # seeded by the set's values
    mean, var = em.predict(sets.iloc[[0]])
    draws = np.array(
        [list(em({**params, "market.reach": params["market.reach"] + 1e-12 * i}).values()) for i in range(400)]
    )
    sd = np.sqrt(np.diag(em.luck) + var[0])
    assert np.all(np.abs(draws.mean(axis=0) - mean[0]) < 4 * sd / np.sqrt(400))
    assert np.allclose(draws.std(axis=0), sd, rtol=0.2)
    # a firm's share and its rival's are one number seen twice: their luck moves together, exactly opposite
    i, j = em.kpis.index("us.share"), em.kpis.index("rival.share")
    assert em.luck[i, j] / np.sqrt(em.luck[i, i] * em.luck[j, j]) < -0.95


def test_the_emulator_states_its_uncertainty_honestly_on_runs_it_never_saw():
    card = small()
    _, _, em = fitted()
    unseen = emulator.design(card, 40, seed=9)
    check = emulator.check(em, pd.concat([unseen, inference.simulate_each(card, unseen, jobs=2)], axis=1))
    # standardised errors about 1. One luck per KPI is a simplification: on a market this small the rival's
    # referral share (few acquisitions) is noisier where referrals are rare than its one luck says
    assert 0.75 < check.error_sd.median() < 1.3 and check.error_sd.max() < 2.2, check
    assert check.beyond_2sd.mean() < 0.1, check


@pytest.mark.slow
def test_a_calibration_on_the_emulator_recovers_the_parameters_its_kpis_pin_down(tmp_path):
    """Two free parameters, a market observed at a truth as coverage observes it, calibrated on the emulator."""
    from sim.calibration.coverage import card_for

    two = {"customers.review_rate": (0.0005, 0.008), "customers.gratitude": (0.02, 0.4)}
    base = dataclasses.replace(load_card("synthetic"), customers=800, weeks=156, free=two)
    card = card_for(base, {"customers.review_rate": 0.004, "customers.gratitude": 0.12}, 800, 156)
    em = emulator.build(base, tmp_path / "design.parquet", 40, jobs=2)
    history = inference.run(card, tmp_path / "h.db", population=120, generations=3, jobs=1, progress=False, emulator=em)
    post = inference.posterior(history, card)
    table = report.summary(post, card).set_index("parameter")
    assert table.truth_inside_90.all(), table
    assert table.width_over_prior["customers.gratitude"] < 0.5  # advocacy pins gratitude down
    assert 1 / (post.weight**2).sum() > 40  # drawn from the emulator, the posterior rests on many particles


def test_a_calibration_on_another_design_is_another_calibration():
    """A folder continues only the calibration it was started for: the design's size is part of what it is."""
    from sim import calibrate

    def key(*extra):
        a, card = calibrate.parse(["market_data=synthetic", *extra])
        return calibrate.fingerprint(card, a)

    assert key() == key("--design", "400") != key("--design", "200")
    assert key("--design", "0") not in {key(), key("--design", "200")}
