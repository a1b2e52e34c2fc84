"""The default world's observable numbers sit in the published ranges the docs cite (docs/validation.md §2)."""

import numpy as np
import pandas as pd
import pytest

from sim.influence import design, paired
from sim.validation import observables


@pytest.fixture(scope="module")
def observed():
    return observables.table(observables.measure(n=3000, seeds=2, overrides=[], jobs=2))


def value(table: pd.DataFrame, observable: str, firm: str) -> float:
    return float(table[(table.observable == observable) & (table.firm == firm)]["mean"].iloc[0])


def test_every_firms_churn_is_that_of_a_real_subscription_market(observed):
    for firm in ("giving", "taking"):
        assert 0.05 <= value(observed, "annual_churn", firm) <= 0.40, firm
    assert value(observed, "annual_churn", "taking") > 2 * value(observed, "annual_churn", "giving")


def test_advocacy_complaints_and_referrals_sit_in_their_published_ranges(observed):
    for observable in ("advocacy", "complaint_rate"):
        for firm in ("giving", "taking"):
            lo, hi, _ = observables.PUBLISHED[observable]
            assert lo <= value(observed, observable, firm) <= hi, (observable, firm)
    lo, hi, _ = observables.PUBLISHED["referral_share"]
    assert lo <= value(observed, "referral_share", "market") <= hi


def test_first_year_retention_is_below_later_years_at_every_firm(observed):
    for firm in ("giving", "taking"):
        assert value(observed, "retention_year_1", firm) < value(observed, "retention_year_4", firm), firm


def test_the_influence_table_pairs_each_change_with_the_base_of_the_same_seed():
    rows, labels = design({"cheaper": ["firms.giving.price=9"]}, seeds=3)
    assert labels == ["base"] * 3 + ["cheaper"] * 3
    assert rows["firms.giving.price"].tolist() == [10.0] * 3 + [9.0] * 3 and rows.seed.tolist() == [0, 1, 2] * 2
    # a made-up sweep: the change adds exactly 1 to every seed's value, on top of large seed-to-seed noise
    noise = np.array([0.0, 50.0, -30.0])
    table = pd.DataFrame(
        {
            "design_row": np.repeat(np.arange(6), 1),
            "firm": "giving",
            "seed": [0, 1, 2] * 2,
            "long_run_share": np.r_[noise, noise + 1],
            "npv": 0.0,
            "advocacy": 0.0,
            "annual_churn": 0.0,
        }
    )
    effects = paired(table, labels)
    share = effects[(effects.metric == "long_run_share")].iloc[0]
    assert share["mean"] == pytest.approx(1.0) and share.ci_low == pytest.approx(1.0)  # paired: no noise left
