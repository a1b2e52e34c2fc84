"""Equal spend in ``experiment=discount_vs_generosity``: money per customer-week on each firm's lever, as measured.

    python -m sim.validate spend                     # seeds 0-1, 5,000 customers, 520 weeks
    python -m sim.validate spend customers.n=3000 firms.generous.generosity=0.5

The discounter's spend is the acquisition discounts it gave (``discount_given``); the generous firm's,
its free fixes times ``market.costs.free_fix``; both over the firm's customer-weeks.
"""

from __future__ import annotations

import pandas as pd

from ..config import load
from ..runs.run import simulate


def spends(overrides: list[str], seeds: tuple[int, ...] = (0, 1)) -> pd.DataFrame:
    """Per seed: discount and free-fix spend per customer-week."""
    rows = []
    for seed in seeds:
        s = load(
            ["experiment=discount_vs_generosity", "customers.n=5000", "progress=false", f"seed={seed}", *overrides]
        )
        ts, _ = simulate(s)
        tot = ts.groupby("firm")[["discount_given", "free_fixes", "customers"]].sum()
        rows.append(
            {
                "seed": seed,
                "discounts": tot.at["discounter", "discount_given"] / tot.at["discounter", "customers"],
                "free_fixes": s.market.costs.free_fix
                * tot.at["generous", "free_fixes"]
                / tot.at["generous", "customers"],
            }
        )
    return pd.DataFrame(rows)


def main(overrides: list[str]) -> None:
    table = spends(overrides)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    d, f = table.discounts.mean(), table.free_fixes.mean()
    print(f"spend per customer-week: discounts {d:.3f}, free fixes {f:.3f} (ratio {f / d:.2f})")
