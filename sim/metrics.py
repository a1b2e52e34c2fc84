"""Weekly accounts and metrics per firm, and the run's summary.

Advocacy is a net-promoter-style score: 100 x (devoted - detractors) / customers,
devoted customers being the promoters. Long-run figures average the last year.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import policies
from .config import LEVERS
from .customers import Channel, Ladder, Offer, Tally

if TYPE_CHECKING:
    from .market import LoyaltyMarket

LONG_RUN_WEEKS = 52
CHANNELS = [f"acquired_{c.name.lower()}" for c in Channel]
STATES = [f"n_{s.name.lower()}" for s in Ladder]


class Ledger:
    """Books each firm's week and keeps one row per firm per week."""

    def __init__(self, model: LoyaltyMarket):
        self.model = model
        self.rows: list[dict] = []
        rate = model.settings.market.annual_discount_rate
        self.weekly_discount = (1 + rate) ** (-1 / 52)

    def record_start(self, offer: Offer) -> None:
        """Week 0: the starting position, before anything happens."""
        self.record_week(0, offer, Tally(len(self.model.firm_agents)), book=False)

    def record_week(self, week: int, offer: Offer, tally: Tally, book: bool = True) -> None:
        model = self.model
        s = model.settings
        cust = model.customers
        by_state = cust.counts_by_state()
        n_firm = by_state[:, [Ladder.CUSTOMER, Ladder.LOYAL, Ladder.DEVOTED, Ladder.DETRACTOR]].sum(axis=1)
        total = max(n_firm.sum(), 1)
        prospects = int(np.sum(cust.firm == len(model.firm_agents)))
        discount_factor = self.weekly_discount**week
        for i, firm in enumerate(model.firm_agents):
            n = int(n_firm[i])
            if book:
                cost_running = policies.running_cost(firm.levers, s.market.costs, n) if firm.entered else 0.0
                c = s.market.costs
                cost = (
                    cost_running
                    + c.incident * tally["incidents"][i]
                    + c.free_fix * tally["free_fixes"][i]
                    + c.complaint * tally["complaints_handled"][i]
                    + c.advertising_per_capita * firm.levers["advertising"] * cust.n * firm.entered
                )
                revenue = float(tally["revenue"][i])
                profit = firm.book(revenue, cost, discount_factor)
                firm.learn(float(tally["complaints_handled"][i]), n)
            else:
                revenue = cost = profit = 0.0
            incidents = tally["incidents"][i]
            row = {
                "week": week,
                "firm": firm.name,
                "policy": firm.policy,
                "entered": firm.entered,
                "customers": n,
                "share": n / total,
                "penetration": n / cust.n,
                "prospects": prospects,
                **{name: int(by_state[i, s_]) for s_, name in enumerate(STATES) if s_ != Ladder.PROSPECT},
                **{ch: int(tally[ch][i]) for ch in CHANNELS},
                "acquisitions": int(sum(tally[ch][i] for ch in CHANNELS)),
                "defections": int(tally["defections"][i]),
                "switches": int(tally["switches"][i]),
                "departures": int(tally["departures"][i]),
                "revenue": revenue,
                "cost": cost,
                "profit": profit,
                "cumulative_revenue": firm.cumulative_revenue,
                "cumulative_profit": firm.cumulative_profit,
                "npv": firm.npv,
                "advocacy": 100.0 * (by_state[i, Ladder.DEVOTED] - by_state[i, Ladder.DETRACTOR]) / n if n else 0.0,
                "wom_positive": int(tally["wom_positive"][i]),
                "wom_negative": int(tally["wom_negative"][i]),
                "defenses": int(tally["defenses"][i]),
                "experienced_quality": float(tally["experience_sum"][i] / incidents) if incidents else np.nan,
                "service_level": float(offer.service[i]),
                "quality": firm.quality,
                "incidents": int(incidents),
                "free_fixes": int(tally["free_fixes"][i]),
                "advice_given": float(tally["advice"][i]),
                "upsells": int(tally["upsells"][i]),
                "complaints": int(tally["complaints"][i]),
                "complaints_handled": int(tally["complaints_handled"][i]),
                "detections": int(tally["detections"][i]),
                "bond_mean": float(tally["bond_sum"][i] / n) if n else np.nan,
                "trust_mean": float(tally["trust_sum"][i] / n) if n else np.nan,
                "tariff_mean": float(tally["tariff_sum"][i] / n) if n else np.nan,
                "price": float(offer.price[i]),
                **{f"lever_{k}": firm.levers[k] for k in LEVERS},
            }
            self.rows.append(row)

    def timeseries(self) -> pd.DataFrame:
        """One row per week per firm."""
        df = pd.DataFrame(self.rows)
        df["firm"] = df["firm"].astype("string")
        df["policy"] = df["policy"].astype("string")
        return df


def lead_week(ts: pd.DataFrame) -> dict[str, float]:
    """Per firm, the week from which its cumulative profit stays ahead of every rival's.

    NaN if it is not ahead at the end. With two firms this is the week one
    policy's cumulative profit overtakes the other's for good.
    """
    wide = ts[ts.week > 0].pivot(index="week", columns="firm", values="cumulative_profit")
    out: dict[str, float] = {}
    for firm in wide.columns:
        rivals = wide.drop(columns=firm)
        ahead = (wide[firm] > rivals.max(axis=1)) if len(rivals.columns) else wide[firm] == wide[firm]
        if not ahead.iloc[-1]:
            out[firm] = np.nan
            continue
        behind = ahead[~ahead]
        out[firm] = float(ahead.index[0] if behind.empty else behind.index[-1] + 1)
    return out


def summarize(ts: pd.DataFrame, window: int = LONG_RUN_WEEKS) -> pd.DataFrame:
    """One row per firm: long-run share, money, advocacy and the profit-lead week."""
    last_week = ts.week.max()
    tail = ts[ts.week > last_week - window]
    final = ts[ts.week == last_week].set_index("firm")
    lead = lead_week(ts)
    rows = []
    for firm, row in final.iterrows():
        t = tail[tail.firm == firm]
        rows.append(
            {
                "firm": firm,
                "policy": row.policy,
                "final_share": row.share,
                "long_run_share": t.share.mean(),
                "customers": row.customers,
                "cumulative_revenue": row.cumulative_revenue,
                "cumulative_profit": row.cumulative_profit,
                "npv": row.npv,
                "advocacy": t.advocacy.mean(),
                "final_advocacy": row.advocacy,
                "devoted_share": row.n_devoted / row.customers if row.customers else 0.0,
                "loyal_share": row.n_loyal / row.customers if row.customers else 0.0,
                "detractor_share": row.n_detractor / row.customers if row.customers else 0.0,
                "acquisitions": ts[ts.firm == firm].acquisitions.sum(),
                "referral_acquisitions": ts[ts.firm == firm].acquired_referral.sum(),
                "defections": ts[ts.firm == firm].defections.sum(),
                "experienced_quality": t.experienced_quality.mean(),
                "profit_lead_week": lead.get(firm, np.nan),
            }
        )
    return pd.DataFrame(rows)
