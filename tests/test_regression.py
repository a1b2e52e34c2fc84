"""Regression: the default experiment's summary metrics for fixed seeds match the stored baseline.

A deliberate change of the numbers (e.g. a new order of random draws) is recorded by
``python -m sim.validate baseline --refresh``; any other difference is a regression.
Tolerance: relative 1e-6 (float32 arithmetic, same platform), absolute 1e-9.
"""

from conftest import ROOT

from sim.validation import baseline


def test_summary_metrics_match_baseline():
    baseline.compare(ROOT / baseline.BASELINE)
