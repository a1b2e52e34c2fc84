"""Regression: the default experiment's summary metrics for fixed seeds match the stored baseline.

A deliberate change of the numbers (e.g. a new order of random draws) is recorded by
``.venv/bin/python experiments/refresh_baseline.py``; any other difference is a regression.
Tolerance: relative 1e-6 (float32 arithmetic, same platform), absolute 1e-9.
"""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
import refresh_baseline as rb  # noqa: E402


def test_summary_metrics_match_baseline():
    expected = pd.read_csv(rb.BASELINE)
    got = rb.summaries(tuple(expected.seed.unique()))
    got["firm"] = got.firm.astype(str)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected, check_dtype=False, rtol=1e-6, atol=1e-9, obj="summary metrics"
    )
