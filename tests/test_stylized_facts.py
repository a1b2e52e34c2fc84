"""Stylized facts of the loyalty literature on replicated runs (docs/validation.md).

Measured by experiments/stylized_facts.py on seeds 0-2, 4,000 customers (default experiment, six
years; and a two-firm complaint-handling design, four years), pooled over seeds. Tolerances are
stated with each test; the runs are deterministic, so a failure means the model's behaviour moved.
"""

import numpy as np
import pytest

from sim.validation import facts as sf


@pytest.fixture(scope="module")
def facts():
    return sf.measure(n=4000, seeds=(0, 1, 2))


def test_cohort_retention_rises_with_tenure(facts):
    """Fader & Hardie (2007): each year a cohort survives, its retention rate is higher; rises by
    at least 1 point a year, and 8 points in all, over the first four years."""
    r = facts["cohort_retention"].retention.to_numpy()
    assert len(r) >= 4
    assert np.all(np.diff(r[:4]) > 0.01) and r[3] - r[0] > 0.08, r


def test_devoted_stay_far_more_than_merely_satisfied(facts):
    """Jones & Sasser (1995): completely satisfied customers stay far more often. Tolerance: the
    merely satisfied (customer) defect at least 3 times as often within a year as the devoted."""
    d = facts["retention_by_state"].defection
    assert d["customer"] > 3 * d["devoted"], d.to_dict()
    assert d["detractor"] > d["customer"] > d["loyal"] > d["devoted"]


def test_word_of_mouth_is_u_shaped_in_satisfaction(facts):
    """Anderson (1998): both extremes talk more than the middle (at least twice the least talkative
    decile), and the dissatisfied extreme does not out-talk the satisfied one by the folklore's 2:1
    or more (ratio below 1.5)."""
    talk = facts["wom_by_satisfaction"].talk_rate.to_numpy()
    low, high, middle = talk[0], talk[-1], talk[1:-1].min()
    assert low > 2 * middle and high > 2 * middle, talk
    assert low / high < 1.5, talk


def test_quick_resolution_keeps_more_than_slow_than_none(facts):
    """Complaints resolved quickly keep more customers than those resolved slowly, which keep more than
    unresolved ones (one-year retention of complainants; each step at least 1.5 and 3 points)."""
    r = facts["complaint_retention"].retained
    assert r["resolved quickly"] > r["resolved slowly"] + 0.015, r.to_dict()
    assert r["resolved slowly"] > r["unresolved"] + 0.03, r.to_dict()
