"""Stylized facts of the loyalty literature on replicated runs (docs/validation.md).

Measured by ``python -m sim.validate facts`` on seeds 0-2, 4,000 customers (default experiment, eight
years; and a two-firm complaint-handling design, four years), pooled over seeds. Tolerances are
stated with each test; the runs are deterministic, so a failure means the model's behaviour moved.
"""

import numpy as np
import pytest

from sim.validation import facts as sf


@pytest.fixture(scope="module")
def facts():
    return sf.measure(n=4000, seeds=(0, 1, 2))


def test_cohort_retention_rises_with_tenure_at_every_firm(facts):
    """Fader & Hardie (2007): each year a cohort survives, its retention rate is higher, because the
    customers most likely to leave leave first; for each firm separately (acquisitions pooled over
    weeks), retention rises from year 1 to year 4 by at least 5 points and falls in no year by more
    than 1 point."""
    by_firm = facts["cohort_retention_by_firm"].retention
    for firm in ("giving", "taking"):
        r = by_firm[firm].to_numpy()
        assert len(r) == 4 and r[3] - r[0] > 0.05 and np.all(np.diff(r) > -0.01), (firm, r)


def test_devoted_stay_far_more_than_merely_satisfied(facts):
    """Jones & Sasser (1995): completely satisfied customers stay far more often. Tolerance: the
    merely satisfied (customer) defect at least 3 times as often within a year as the devoted."""
    d = facts["retention_by_state"].defection
    assert d["customer"] > 3 * d["devoted"], d.to_dict()
    assert d["detractor"] > d["customer"] > d["loyal"] > d["devoted"]


def test_word_of_mouth_is_u_shaped_in_satisfaction(facts):
    """Anderson (1998): both extremes talk more than the middle (at least twice the least talkative
    decile), and the dissatisfied extreme talks at least as often as the satisfied one, but not by the
    folklore's 2:1 or more (ratio at least 1, below 1.5)."""
    talk = facts["wom_by_satisfaction"].talk_rate.to_numpy()
    low, high, middle = talk[0], talk[-1], talk[1:-1].min()
    assert low > 2 * middle and high > 2 * middle, talk
    assert 1.0 <= low / high < 1.5, talk


def test_complainants_resolved_quickly_stay_most_and_the_silent_least(facts):
    """TARP (1979, 1986): one-year retention after a problem orders as resolved quickly > resolved slowly
    > unresolved > did not complain at all (first problem of each customer; each step at least half a point)."""
    r = facts["complaint_retention"].retained
    order = ["resolved quickly", "resolved slowly", "unresolved", "did not complain"]
    assert np.all(np.diff(r[order].to_numpy()) < -0.005), r.to_dict()
