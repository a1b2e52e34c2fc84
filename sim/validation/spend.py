"""Equal spend in ``experiment=discount_vs_generosity``: money per customer-week on each firm's lever.

    python -m sim.validate spend                     # seed 0, 10,000 customers, 520 weeks
    python -m sim.validate spend customers.n=3000 firms.generous.generosity=0.5

Discounts: every acquisition of the discounter costs discount x price x discount_weeks (the tariff of a
new customer is 1); free fixes cost costs.free_fix each. Prints the discounter's acquisitions per
customer-week (``a`` in the experiment's comment) and both spends.
"""

from __future__ import annotations

from ..config import load
from ..runs.run import simulate


def main(overrides: list[str]) -> None:
    s = load(["experiment=discount_vs_generosity", "progress=false", *overrides])
    ts, _ = simulate(s)
    tot = ts.groupby("firm")[["acquisitions", "free_fixes", "customers"]].sum()
    d = s.firms["discounter"]
    per_acquisition = d.discount * d.price * s.market.discount_weeks
    a = tot.at["discounter", "acquisitions"] / tot.at["discounter", "customers"]
    discount = per_acquisition * a
    generosity = s.market.costs.free_fix * tot.at["generous", "free_fixes"] / tot.at["generous", "customers"]
    print(f"discounter: {per_acquisition:g} per acquisition x a = {a:.4f} acquisitions per customer-week")
    print(f"spend per customer-week: discounts {discount:.3f}, free fixes {generosity:.3f}")
