"""What is recorded of each firm each week, and the run's summary.

``RECORD`` declares the columns of the timeseries (one row per firm per week), each with
a one-line definition and how it is read off the firm; Mesa's ``DataCollector`` collects
them as agent-type reporters of ``Firm``. Recording changes nothing in the model: firms
settle their accounts in the model's step, before the week is recorded.

Advocacy is a net-promoter-style score: 100 x (devoted - detractors) / customers,
devoted customers being the promoters. Long-run figures average the last year.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from mesa import DataCollector

from ..config import LEVERS
from .firms import Firm
from .vocabulary import CHANNEL_MEANING, PAYING, Channel, Count, Ladder, acquired

LONG_RUN_WEEKS = 52


def _count(what: Count, firm: Firm) -> int:
    return int(firm.counts[what])


def _in_state(state: Ladder, firm: Firm) -> int:
    return int(firm.ladder[state])


def _per_customer(what: Count, firm: Firm) -> float:
    n = firm.customers
    return float(firm.counts[what] / n) if n else np.nan


def _lever(name: str, firm: Firm) -> float:
    return getattr(firm.levers, name)


def _advocacy(firm: Firm) -> float:
    n = firm.customers
    return 100.0 * (firm.ladder[Ladder.DEVOTED] - firm.ladder[Ladder.DETRACTOR]) / n if n else 0.0


def _experienced_quality(firm: Firm) -> float:
    incidents = firm.counts[Count.INCIDENTS]
    return float(firm.counts[Count.EXPERIENCE_SUM] / incidents) if incidents else np.nan


# Column: (one-line definition, how it is read off the firm), in the order of the timeseries.
RECORD: dict[str, tuple[str, Callable[[Firm], Any]]] = {
    "week": ("the week (0: the starting position, before anything happens)", lambda f: f.model.week),
    "firm": ("the firm's name", lambda f: f.name),
    "policy": ("the firm's policy label (its preset, or the experiment's name for it)", lambda f: f.policy),
    "entered": ("the firm is in the market", lambda f: f.entered),
    "customers": ("paying customers: merely satisfied, loyal, devoted and detractors", lambda f: f.customers),
    "share": ("customers / all firms' customers", lambda f: f.share),
    "penetration": ("customers / population", lambda f: f.customers / f.model.settings.customers.n),
    "prospects": (
        "people buying from no firm and holding no grudge (ladder state prospect); the same in every firm's row",
        lambda f: f.model.prospects,
    ),
    "non_buyers": (
        "people buying from no firm (prospects and the defected); the same in every firm's row",
        lambda f: f.model.non_buyers,
    ),
    **{
        f"n_{s.name.lower()}": (
            f"customers in ladder state {s.name.lower()}"
            if s is not Ladder.DEFECTED
            else "people who left the firm unhappy, buy from no firm and still hold a grudge against it",
            partial(_in_state, s),
        )
        for s in Ladder
        if s is not Ladder.PROSPECT
    },
    **{
        f"acquired_{ch.name.lower()}": (f"new customers: {CHANNEL_MEANING[ch]}", partial(_count, acquired(ch)))
        for ch in Channel
    },
    "acquisitions": ("new customers, all channels", lambda f: int(sum(f.counts[acquired(ch)] for ch in Channel))),
    "acquired_on_discount": (
        "new customers who took an acquisition discount (any channel)",
        partial(_count, Count.ACQUIRED_ON_DISCOUNT),
    ),
    "acquired_by_discount": (
        "new customers who would have chosen otherwise at list price (same random draws)",
        partial(_count, Count.ACQUIRED_BY_DISCOUNT),
    ),
    "defections": ("customers who left the firm (to a rival or to no firm)", partial(_count, Count.DEFECTIONS)),
    "switches": ("customers who left the firm for a rival", partial(_count, Count.SWITCHES)),
    "grudges_held": (
        "people (buying elsewhere or nowhere) holding a grudge against the firm",
        lambda f: f.grudges_held,
    ),
    "departures": ("customers who left the market (turnover)", partial(_count, Count.DEPARTURES)),
    "revenue": ("revenue this week", lambda f: f.revenue),
    "cost": ("running, event, advertising and lever-change costs this week", lambda f: f.cost),
    "profit": ("revenue - cost", lambda f: f.profit),
    "cumulative_revenue": ("revenue so far", lambda f: f.cumulative_revenue),
    "cumulative_profit": ("profit so far", lambda f: f.cumulative_profit),
    "npv": ("profit so far, discounted to week 0", lambda f: f.npv),
    "advocacy": ("100 x (devoted - detractors) / customers", _advocacy),
    "wom_positive": (
        "positive speech acts about the firm: speakers (a broadcast is one act) and devoted customers "
        "answering criticism",
        partial(_count, Count.WOM_POSITIVE),
    ),
    "wom_negative": (
        "negative speech acts about the firm (a broadcast is one act)",
        partial(_count, Count.WOM_NEGATIVE),
    ),
    "heard_positive": (
        "positive words about the firm that reached a listener (a broadcast reaches many)",
        partial(_count, Count.HEARD_POSITIVE),
    ),
    "heard_negative": (
        "negative words about the firm taken in by a listener (defended ones are not)",
        partial(_count, Count.HEARD_NEGATIVE),
    ),
    "defenses": ("criticisms of the firm answered by its devoted customers", partial(_count, Count.DEFENSES)),
    "experienced_quality": ("mean experienced service over this week's incidents", _experienced_quality),
    "service_level": ("the firm's service level this week, after outages", lambda f: f.service_level),
    "quality": ("the firm's quality after this week's learning", lambda f: f.quality),
    "incidents": ("service incidents", partial(_count, Count.INCIDENTS)),
    "free_fixes": ("incidents fixed free (generosity)", partial(_count, Count.FREE_FIXES)),
    "advice_given": ("customers told of a cheaper tariff", partial(_count, Count.ADVICE_GIVEN)),
    "advice_value": (
        "weekly revenue given up by this week's advice (price x tariff reduction; it lasts while the customer stays)",
        lambda f: float(f.counts[Count.ADVICE_VALUE]),
    ),
    "upsell_contacts": ("upsell contacts made", partial(_count, Count.UPSELL_CONTACTS)),
    "upsells": ("upsells accepted", partial(_count, Count.UPSELLS)),
    "discount_given": (
        "acquisition discounts given this week (currency)",
        lambda f: float(f.counts[Count.DISCOUNT_GIVEN]),
    ),
    "problems": (
        "incidents felt as a problem (below customers.complaint_threshold), voiced or not",
        partial(_count, Count.PROBLEMS),
    ),
    "complaints": ("problems voiced as complaints", partial(_count, Count.COMPLAINTS)),
    "complaints_handled": ("voiced complaints the firm acted on", partial(_count, Count.COMPLAINTS_HANDLED)),
    "detections": ("incidents at which claims above acts were seen through", partial(_count, Count.DETECTIONS)),
    "bond_mean": ("mean bond of paying customers", partial(_per_customer, Count.BOND_SUM)),
    "trust_mean": ("mean trust of paying customers", partial(_per_customer, Count.TRUST_SUM)),
    "tariff_mean": (
        "mean tariff of paying customers (fraction of list price)",
        partial(_per_customer, Count.TARIFF_SUM),
    ),
    "price": ("list price this week, after price cuts", lambda f: f.price),
    **{f"lever_{k}": (f"the {k} lever this week", partial(_lever, k)) for k in LEVERS},
    "lever_change_cost": (
        "cost of this week's lever changes by the firm's management (part of cost)",
        lambda f: f.lever_change_cost,
    ),
    "management_moves": (
        "levers the firm's management changed this week (0 under a fixed plan)",
        lambda f: f.management_moves,
    ),
    "contacts": (
        "calls to the firm: incidents not settled by self-service, repeat calls, complaints about overpaying",
        partial(_count, Count.CONTACTS),
    ),
    "failure_contacts": (
        "calls that easy self-service or a first-time fix would have avoided, and complaints about overpaying "
        "(failure demand)",
        partial(_count, Count.FAILURE_CONTACTS),
    ),
    "self_served": ("incidents customers settled without calling", partial(_count, Count.SELF_SERVED)),
    "advice_taken": ("customers told of a cheaper tariff who moved to it", partial(_count, Count.ADVICE_TAKEN)),
    "discoveries": (
        "customers paying above their need who found out (alone, or from an annual notice)",
        partial(_count, Count.DISCOVERIES),
    ),
    "refits": (
        "customers who found out and were moved to the tariff that fits them (a complaint put right, or asked)",
        partial(_count, Count.REFITS),
    ),
    "running_cost": (
        "cost of serving the customers at the firm's lever settings, its fixed part included (part of cost)",
        lambda f: f.running_cost,
    ),
    "fixed_cost": ("the running cost's fixed part: network, systems, brand", lambda f: f.fixed_cost),
    "contact_cost": ("cost of calls, less what the firm's community answers (part of cost)", lambda f: f.contact_cost),
    "gift_cost": ("cost of free fixes (part of cost)", lambda f: f.gift_cost),
    "complaint_cost": ("cost of handling complaints (part of cost)", lambda f: f.complaint_cost),
    "advertising_cost": ("cost of advertising (part of cost)", lambda f: f.advertising_cost),
    "referral_rewards": ("rewards paid for referred new customers (part of cost)", lambda f: f.referral_rewards),
}


# The segments table: one row per week, firm and customer segment (whom a firm wins, keeps and loses).
SEGMENT_RECORD: dict[str, str] = {
    "week": "the week",
    "firm": "the firm's name",
    "segment": "the customer segment (customers.segments.groups)",
    "customers": "the firm's paying customers in the segment",
    **{f"n_{s.name.lower()}": f"of them, in ladder state {s.name.lower()}" for s in PAYING},
    "acquisitions": "new customers from the segment this week",
    "defections": "customers of the segment who left the firm this week",
    "departures": "customers of the segment who left the market this week",
    "revenue": "revenue from the segment this week",
}


# The tenure and cohort tables: one row per week, firm and tenure year (or acquisition cohort): what a customer brings
# and costs as the relationship ages. Costs per event are the firm's of that week (``summarize_tenure``).
BUCKET_RECORD: dict[str, str] = {
    "customers": "the firm's paying customers of this tenure year (cohort) at the week's end",
    "revenue": "their revenue this week",
    "discounts": "acquisition discounts they were given this week",
    "contacts": "their calls to the firm this week",
    "free_fixes": "their incidents fixed free this week",
    "complaints_handled": "their complaints the firm acted on this week",
}
BUCKET_COUNTS = {  # the engine's counts behind each column
    "customers": Count.CUSTOMERS,
    "revenue": Count.REVENUE,
    "discounts": Count.DISCOUNT_GIVEN,
    "contacts": Count.CONTACTS,
    "free_fixes": Count.FREE_FIXES,
    "complaints_handled": Count.COMPLAINTS_HANDLED,
}
TENURE_RECORD = ["week", "firm", "tenure_year", *BUCKET_RECORD]
COHORT_RECORD = ["week", "firm", "cohort", *BUCKET_RECORD]


# Market-level records (Mesa model reporters): what ``mesa.batch_run`` reports beside each firm's row.
MARKET_RECORD: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "week": ("the week", lambda m: m.week),
    "buyers": ("people buying from some firm", lambda m: m.settings.customers.n - m.non_buyers),
    "non_buyers": ("people buying from no firm", lambda m: m.non_buyers),
    "prospects": ("people buying from no firm and holding no grudge", lambda m: m.prospects),
}


class FirmRecords(DataCollector):
    """Mesa's data collection, with the agent reporters (``RECORD``) applied to the firms only.

    Mesa applies agent reporters to every agent of the model; with ``engine=agents`` the customers are
    Mesa agents too, and they are recorded by the segments table, not one row per person per week.
    """

    def add_table_rows(self, table_name: str, columns: dict[str, list]) -> None:
        """Add many rows to a table at once, given as columns (one list per column of the table)."""
        table = self.tables[table_name]
        if set(columns) != set(table):
            raise ValueError(f"table {table_name!r} has the columns {', '.join(table)}")
        for column, values in table.items():
            values.extend(columns[column])

    def _record_agents(self, model):
        reporters = list(self.agent_reporters.values())
        return [(model.time, firm.unique_id, *(report(firm) for report in reporters)) for firm in model.firms]


def ledger() -> DataCollector:
    """Mesa's data collection: ``RECORD`` per firm, ``MARKET_RECORD`` per market, the segments table."""
    return FirmRecords(
        model_reporters={name: read for name, (_, read) in MARKET_RECORD.items()},
        agent_reporters={name: read for name, (_, read) in RECORD.items()},
        tables={"segments": list(SEGMENT_RECORD), "tenure": TENURE_RECORD, "cohorts": COHORT_RECORD},
    )


def segment_rows(week: int, firms: list, segments: list[str], stocks: np.ndarray, tally) -> dict[str, list]:
    """The segments table's rows of a week, as columns (``SEGMENT_RECORD``), a row per firm and segment:
    ``stocks`` is (firms, segments, ladder states)."""
    paying = stocks[..., list(PAYING)]
    counts = {
        "customers": paying.sum(axis=2),
        **{f"n_{s.name.lower()}": stocks[..., s] for s in PAYING},
        "acquisitions": sum(tally.segments(acquired(ch)) for ch in Channel).astype(np.int64),
        "defections": tally.segments(Count.DEFECTIONS).astype(np.int64),
        "departures": tally.segments(Count.DEPARTURES).astype(np.int64),
    }
    n_rows = len(firms) * len(segments)
    return {
        "week": [week] * n_rows,
        "firm": [firm.name for firm in firms for _ in segments],
        "segment": list(segments) * len(firms),
        **{name: values.ravel().tolist() for name, values in counts.items()},
        "revenue": tally.segments(Count.REVENUE).ravel().tolist(),
    }


def bucket_rows(week: int, firms: list, tally, by: str) -> dict[str, list]:
    """The tenure (``by="tenure_year"``) or cohort (``by="cohort"``) table's rows of a week, as columns."""
    read = tally.tenures if by == "tenure_year" else tally.cohorts
    n_buckets = read(Count.CUSTOMERS).shape[1]
    return {
        "week": [week] * (len(firms) * n_buckets),
        "firm": [firm.name for firm in firms for _ in range(n_buckets)],
        by: list(range(n_buckets)) * len(firms),
        **{name: read(what).ravel().tolist() for name, what in BUCKET_COUNTS.items()},
    }


def bucket_timeseries(collector: DataCollector, table: str) -> pd.DataFrame:
    """One row per week, firm and tenure year (``table="tenure"``) or cohort (``"cohorts"``)."""
    df = collector.get_table_dataframe(table)
    df["firm"] = df["firm"].astype("string")
    return df


def _unit_costs(ts: pd.DataFrame) -> pd.DataFrame:
    """Per week and firm: the running cost per customer and the cost of a call, a free fix, a handled complaint."""

    def per(cost: str, events: str) -> pd.Series:
        return (ts[cost] / ts[events]).where(ts[events] > 0, 0.0)

    return pd.DataFrame(
        {
            "week": ts.week,
            "firm": ts.firm,
            "per_customer": per("running_cost", "customers"),
            "per_contact": per("contact_cost", "contacts"),
            "per_fix": per("gift_cost", "free_fixes"),
            "per_complaint": per("complaint_cost", "complaints_handled"),
        }
    )


def _costed(buckets: pd.DataFrame, ts: pd.DataFrame) -> pd.DataFrame:
    """Bucket rows with their cost to serve: running cost per customer, calls, free fixes and handled complaints at
    the firm's costs of that week."""
    out = buckets.merge(_unit_costs(ts), on=["week", "firm"], how="left")
    out["cost"] = (
        out.per_customer * out.customers
        + out.per_contact * out.contacts
        + out.per_fix * out.free_fixes
        + out.per_complaint * out.complaints_handled
    )
    return out


def summarize_tenure(tenure: pd.DataFrame, ts: pd.DataFrame) -> pd.DataFrame:
    """Per firm and tenure year (10: ten years or more): customer-weeks, and per customer-week revenue, cost to serve
    and profit; calls per customer-year. Whether long-standing customers pay more or cost less (Reinartz & Kumar)."""
    costed = _costed(tenure[tenure.week > 0], ts)
    g = costed.groupby(["firm", "tenure_year"], sort=True)[["customers", "revenue", "cost", "contacts"]].sum()
    g = g[g.customers > 0]
    return pd.DataFrame(
        {
            "customer_weeks": g.customers.astype(np.int64),
            "revenue_per_customer_week": g.revenue / g.customers,
            "cost_to_serve_per_customer_week": g.cost / g.customers,
            "profit_per_customer_week": (g.revenue - g.cost) / g.customers,
            "calls_per_customer_year": g.contacts / g.customers * LONG_RUN_WEEKS,
        }
    ).reset_index()


def summarize_cohorts(cohorts: pd.DataFrame, ts: pd.DataFrame, annual_discount_rate: float) -> pd.DataFrame:
    """Per firm and acquisition cohort (0: the customers at week 0; k: those who joined in year k): how many joined,
    how many are still there at the end, and the discounted lifetime value of a customer acquired, over the years
    observed: the cohort's profit (revenue less cost to serve), less the advertising and referral rewards of its year,
    discounted to the start of that year, per customer acquired (censored at the run's end)."""
    costed = _costed(cohorts[cohorts.week > 0], ts)
    last = int(ts.week.max())
    rows = []
    for (firm, cohort), g in costed.groupby(["firm", "cohort"], sort=True):
        start = 1 if cohort == 0 else 52 * (cohort - 1) + 1
        if start > last:
            continue
        mine = ts[ts.firm == firm]
        weeks = mine[(mine.week >= start) & (mine.week < start + 52)]
        acquired = int(weeks.acquisitions.sum()) if cohort else int(mine[mine.week == 0].customers.iloc[0])
        discount = (1 + annual_discount_rate) ** (-(g.week - start) / LONG_RUN_WEEKS)
        spend = weeks.advertising_cost + weeks.referral_rewards if cohort else pd.Series(dtype=float)
        spend_discounted = float((spend * (1 + annual_discount_rate) ** (-(weeks.week - start) / LONG_RUN_WEEKS)).sum())
        value = float(((g.revenue - g.cost) * discount).sum()) - spend_discounted
        rows.append(
            {
                "firm": firm,
                "cohort": int(cohort),
                "acquired": acquired,
                "still_there": int(g[g.week == last].customers.sum()),
                "years_observed": (last - start + 1) / LONG_RUN_WEEKS,
                "lifetime_value": value / acquired if acquired else np.nan,
            }
        )
    return pd.DataFrame(rows)


def segment_timeseries(collector: DataCollector) -> pd.DataFrame:
    """One row per week, firm and segment (``SEGMENT_RECORD``)."""
    df = collector.get_table_dataframe("segments")
    for column in ("firm", "segment"):
        df[column] = df[column].astype("string")
    return df


def summarize_segments(seg: pd.DataFrame, window: int = LONG_RUN_WEEKS) -> pd.DataFrame:
    """Per firm and segment: whom the firm keeps and whom it loses.

    ``share_of_segment``: the firm's share of the segment's buyers (last ``window`` weeks); ``annual_churn``:
    defections and departures a year over mean customers, after the first year; ``devoted_share``; and
    ``revenue_share``: the segment's part of the firm's revenue (last ``window`` weeks).
    """
    last = seg.week.max()
    tail = seg[seg.week > last - window]
    buyers = tail.groupby("segment").customers.sum()
    revenue = tail.groupby("firm").revenue.sum()
    rows = []
    for (firm, segment), g in seg.groupby(["firm", "segment"], sort=False):
        t = tail[(tail.firm == firm) & (tail.segment == segment)]
        weeks = g[g.week > LONG_RUN_WEEKS]
        mean = weeks.customers.mean() if len(weeks) else np.nan
        lost = (weeks.defections.sum() + weeks.departures.sum()) * LONG_RUN_WEEKS / max(len(weeks), 1)
        rows.append(
            {
                "firm": firm,
                "segment": segment,
                "customers": int(g.customers.iloc[-1]),
                "share_of_segment": t.customers.sum() / buyers[segment] if buyers[segment] else np.nan,
                "annual_churn": lost / mean if mean else np.nan,
                "devoted_share": t.n_devoted.sum() / t.customers.sum() if t.customers.sum() else 0.0,
                "revenue_share": t.revenue.sum() / revenue[firm] if revenue[firm] else np.nan,
            }
        )
    return pd.DataFrame(rows)


def timeseries(collector: DataCollector) -> pd.DataFrame:
    """One row per week per firm, the columns of ``RECORD``."""
    df = collector.get_agent_vars_dataframe().reset_index(drop=True)
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


def annual_churn(g: pd.DataFrame, skip_years: int = 1) -> float:
    """A firm's customers lost a year (defections and departures) over its mean customers that year,
    averaged over the full years after the first ``skip_years`` (NaN if none, or no customers)."""
    weeks = g[g.week > 0]
    year = (weeks.week - 1) // LONG_RUN_WEEKS
    full = year.map(year.value_counts()) == LONG_RUN_WEEKS
    per_year = weeks[full & (year >= skip_years)].groupby(year[full & (year >= skip_years)])
    lost = per_year.defections.sum() + per_year.departures.sum()
    mean = per_year.customers.mean()
    rates = (lost / mean)[mean > 0]
    return float(rates.mean()) if len(rates) else np.nan


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
                "annual_churn": annual_churn(ts[ts.firm == firm]),
                "experienced_quality": t.experienced_quality.mean(),
                "profit_lead_week": lead.get(firm, np.nan),
                **economics(ts[ts.firm == firm]),
            }
        )
    return pd.DataFrame(rows)


def economics(g: pd.DataFrame) -> dict[str, float]:
    """A firm's economics over the run: margin (profit / revenue), acquisition cost (advertising, discounts and
    referral rewards per new customer), acquisition and retention spend (those and free fixes) and contact cost as
    shares of revenue, the share of calls that are failure demand, and calls per customer-year."""

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b else np.nan

    revenue = g.revenue.sum()
    acquisition = g.advertising_cost.sum() + g.discount_given.sum() + g.referral_rewards.sum()
    return {
        "margin": ratio(g.profit.sum(), revenue),
        "acquisition_cost": ratio(acquisition, g.acquisitions.sum()),
        "acquisition_retention_share": ratio(acquisition + g.gift_cost.sum(), revenue),
        "contact_cost_share": ratio(g.contact_cost.sum(), revenue),
        "failure_demand_share": ratio(g.failure_contacts.sum(), g.contacts.sum()),
        "calls_per_customer_year": ratio(g.contacts.sum() * LONG_RUN_WEEKS, g.customers[g.week > 0].sum()),
    }
