"""The 95% confidence interval of a mean over replications: one computation for every analysis that reports one."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def mean_interval(values: Any) -> tuple[Any, Any, Any]:
    """The mean of ``values`` (replications, or differences paired by seed) and its Student-t 95% interval.

    ``values`` is a numpy array or a pandas Series, each summed by its own ``mean`` and ``std`` (the two round
    differently in the last bit). Fewer than two values give no interval: (mean, NaN, NaN).
    """
    n = len(values)
    mean = values.mean()
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return mean, mean - half, mean + half
