"""The words both engines and the records share.

Where a customer stands (``Ladder``), what became of a complaint (``Complaint``), how a
customer was acquired (``Channel``), what is counted each week (``Count``, kept in a
``Tally``), and what every firm offers this week (``Offer``).

Index ``F`` (the number of firms) stands for "no firm", both in a customer's ``firm`` and
in the per-firm arrays of ``Offer``, so gathers need no masking.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from ..config import LEVERS


class Ladder(IntEnum):
    """Where a customer stands with a firm."""

    PROSPECT = 0  # buys from no firm and holds no grudge
    CUSTOMER = 1  # buys; merely satisfied: neither rationally nor emotionally held
    LOYAL = 2  # buys; its firm beats the alternatives on value by a margin (logic)
    DEVOTED = 3  # buys; a strong emotional bond (emotion)
    DETRACTOR = 4  # buys, but remembers bad experiences; talks against the firm
    DEFECTED = 5  # left a firm unhappy and still holds a grudge against it


# The ladder states of a buyer: a firm's paying customers.
PAYING = (Ladder.CUSTOMER, Ladder.LOYAL, Ladder.DEVOTED, Ladder.DETRACTOR)


class Complaint(IntEnum):
    """What became of a customer's problem this week (an incident felt below ``complaint_threshold``)."""

    NONE = 0  # no problem this week
    HANDLED = 1  # voiced and acted on by the firm
    IGNORED = 2  # voiced and ignored
    SILENT = 3  # a problem, not voiced


class Channel(IntEnum):
    """What prompted a new customer's look at the firm they joined (the first that applies)."""

    REFERRAL = 0  # praise of that firm heard this week
    ADVERTISING = 1  # that firm's ad seen this week
    ORGANIC = 2  # neither: an unprompted look, or one prompted by another firm


class Happened(IntEnum):
    """What happened to a customer this week, one bit each, recorded by the rule that made it happen (a customer's
    ``happened``); the classroom's narrator tells these and derives nothing. Values are bits: test with ``&``."""

    LEFT_MARKET = 1 << 0  # turn_over: moved away; a newcomer takes the place
    INCIDENT = 1 << 1  # experience_service: needed service (how it felt: ``feeling``)
    FREE_FIX = 1 << 2  # experience_service: the fix was free, unasked
    COMPLAINED = 1 << 3  # complain: voiced a problem (its fate: ``complaint``)
    SAW_THROUGH = 1 << 4  # see_through: saw that the firm's claims exceed its acts
    GRATEFUL = 1 << 5  # be_grateful: a gift raised the bond
    NEW_BEST = 1 << 6  # remember: a new best moment
    NEW_WORST = 1 << 7  # remember: a new worst moment
    ADVISED = 1 << 8  # receive_offers: told of a cheaper tariff, unasked
    UPSELL_CALL = 1 << 9  # receive_offers: a sales call pushing a bigger tariff
    UPSOLD = 1 << 10  # receive_offers: accepted the bigger tariff
    PRAISED = 1 << 11  # decide_to_talk: told others good things about their firm
    CRITICISED = 1 << 12  # decide_to_talk: told others what went wrong at their firm
    VENTED = 1 << 13  # vent: talked against the firm they left unhappy (``grudge_firm``)
    HEARD_PRAISE = 1 << 14  # hear: heard good things of a firm (the most praised: ``referred``)
    HEARD_CRITICISM = 1 << 15  # hear: heard others criticise a firm (their own: ``alarmed``)
    DEFENDED = 1 << 16  # defend: answered criticism of their firm
    LOOKED = 1 << 17  # look_around: looked at the market
    SAW_AD = 1 << 18  # look_around: saw a firm's ad
    LEFT_FIRM = 1 << 19  # leave: left their firm (for a rival or for none)
    LEFT_UNHAPPY = 1 << 20  # leave: left with bad memories, holding a grudge
    JOINED = 1 << 21  # join: joined a firm (``firm``)
    JOINED_BY_REFERRAL = 1 << 22  # join: praise of that firm heard this week prompted the look
    JOINED_BY_AD = 1 << 23  # join: that firm's ad seen this week prompted the look (no referral)
    TOOK_DISCOUNT = 1 << 24  # join: took the firm's welcome discount
    DISCOUNT_DECIDED = 1 << 25  # join: at list price they would have chosen otherwise
    SELF_SERVED = 1 << 26  # seek_help: settled an incident without calling
    CALLED = 1 << 27  # seek_help: called the firm
    CALLED_AGAIN = 1 << 28  # seek_help: called again, the problem not fixed the first time
    FOUND_OUT = 1 << 29  # find_out: found out they pay above their need (alone, or from an annual notice)
    MOVED_TO_FIT = 1 << 30  # receive_offers, find_out: moved to the tariff that fits their need


def happened(flags: int) -> list[Happened]:
    """The events in a customer's ``happened`` flags, in the order of the week."""
    return [h for h in Happened if int(flags) & h]


CHANNEL_MEANING = {
    Channel.REFERRAL: "praise of the firm heard that week prompted the look",
    Channel.ADVERTISING: "the firm's ad seen that week prompted the look (no referral)",
    Channel.ORGANIC: "neither: an unprompted look, or one prompted by something else",
}


# What is counted (or summed) per firm each week, and what each count means.
COUNTED: dict[str, str] = {
    "departures": "customers who left the market (turnover), by the firm they left",
    "incidents": "service incidents",
    "experience_sum": "experienced service, summed over incidents",
    "free_fixes": "incidents fixed free (gifts)",
    "problems": "incidents felt as a problem (below complaint_threshold), voiced or not",
    "complaints": "complaints voiced",
    "complaints_handled": "voiced complaints the firm acted on",
    "contacts": "calls to the firm: incidents not settled by self-service, and repeat calls",
    "failure_contacts": "calls that a first-time fix or easy self-service would have avoided (failure demand)",
    "self_served": "incidents the customer settled without calling (self-service)",
    "detections": "incidents at which claims above acts were seen through",
    "advice_given": "customers told of a cheaper tariff",
    "advice_value": "weekly revenue given up by this week's advice (price x tariff reduction)",
    "advice_taken": "customers told of a cheaper tariff who moved to it",
    "discoveries": "customers paying above their need who found out (alone, or from an annual notice)",
    "refits": "customers who found out and were moved to the tariff that fits them (a complaint put right, or asked)",
    "upsell_contacts": "upsell contacts made",
    "upsells": "upsells accepted",
    "wom_positive": "positive speech acts about the firm: speakers, and devoted customers answering criticism",
    "wom_negative": "negative speech acts about the firm (a broadcast is one act)",
    "heard_positive": "positive words about the firm that reached a listener (a broadcast reaches many)",
    "heard_negative": "negative words about the firm taken in by a listener (defended ones are not)",
    "defenses": "criticisms answered by a devoted customer",
    "defections": "customers who left the firm (to a rival or to no firm)",
    "switches": "customers who left the firm for a rival",
    **{f"acquired_{ch.name.lower()}": f"new customers: {CHANNEL_MEANING[ch]}" for ch in Channel},
    "acquired_on_discount": "new customers who took an acquisition discount",
    "acquired_by_discount": "new customers for whom the discount was decisive (at list price they would have chosen otherwise)",
    "discount_given": "acquisition discounts given (currency)",
    "revenue": "revenue (currency)",
    "customers": "paying customers",
    "bond_sum": "bond of paying customers, summed",
    "trust_sum": "trust of paying customers, summed",
    "tariff_sum": "tariff of paying customers, summed",
}

Count = IntEnum("Count", [name.upper() for name in COUNTED], start=0, module=__name__)
Count.__doc__ = "What is counted per firm each week (see ``COUNTED`` for what each means)."


# Counts also kept per customer segment (whom a firm wins and loses, and what they pay).
BY_SEGMENT: tuple = (
    Count.DEPARTURES,
    Count.DEFECTIONS,
    *(Count[f"ACQUIRED_{ch.name}"] for ch in Channel),
    Count.REVENUE,
)


_SEGMENT_ROW = np.full(len(Count), -1)  # a count's row among those kept by segment, or -1
_SEGMENT_ROW[list(BY_SEGMENT)] = np.arange(len(BY_SEGMENT))

# Counts also kept per tenure year and per acquisition cohort (what a customer is worth as the relationship ages):
# the whole numbers first, then the sums of money.
BY_TENURE: tuple = (Count.CUSTOMERS, Count.CONTACTS, Count.FREE_FIXES, Count.COMPLAINTS_HANDLED)
BY_TENURE_MONEY: tuple = (Count.REVENUE, Count.DISCOUNT_GIVEN)
_TENURE_ROW = np.full(len(Count), -1)  # a count's row among those kept by tenure and cohort, or -1
_TENURE_ROW[list(BY_TENURE + BY_TENURE_MONEY)] = np.arange(len(BY_TENURE + BY_TENURE_MONEY))
TENURE_YEARS = 10  # tenure years told apart: 0, 1, ..., 9 years with the firm, and 10 or more


def tenure_year(tenure: int) -> int:
    """The tenure table's row of a customer ``tenure`` weeks with the firm."""
    return min(tenure // 52, TENURE_YEARS)


def cohort_of(joined_week: int, n_cohorts: int) -> int:
    """A customer's acquisition cohort: 0 for those with the firm at week 0, else the year they joined (1, 2, ...)."""
    return 0 if joined_week <= 0 else min((joined_week - 1) // 52 + 1, n_cohorts - 1)


def cohorts(steps: int) -> int:
    """How many cohorts a run of ``steps`` weeks has: the week-0 customers and one per (started) year."""
    return (steps + 51) // 52 + 1


def acquired(channel: Channel) -> Count:
    """The count of new customers acquired by ``channel``."""
    return Count[f"ACQUIRED_{channel.name}"]


class Tally:
    """What happened this week, per firm: one row per ``Count``, one column per firm; and, for the
    counts in ``BY_SEGMENT``, the same per firm and customer segment.

    Keys are ``Count`` members, so a misspelt count is an error, not a silent zero.
    """

    def __init__(self, n_firms: int, n_segments: int = 1, n_cohorts: int = 1):
        self.n_firms, self.n_segments = n_firms, n_segments
        self.counts = np.zeros((len(Count), n_firms))
        self.by_segment = np.zeros((len(BY_SEGMENT), n_firms, n_segments))
        kept = len(BY_TENURE + BY_TENURE_MONEY)
        self.by_tenure = np.zeros((kept, n_firms, TENURE_YEARS + 1))
        self.by_cohort = np.zeros((kept, n_firms, n_cohorts))

    def add(
        self, what: Count, firm: np.ndarray, weights: np.ndarray | None = None, segment: np.ndarray | None = None
    ) -> None:
        """Count (or sum ``weights``) by firm index; entries for "no firm" are dropped. A count kept by
        segment needs each entry's ``segment``."""
        f = self.n_firms
        self.counts[_checked(what)] += np.bincount(firm, weights=weights, minlength=f + 1)[:f]
        row = _SEGMENT_ROW[what]
        if row >= 0:
            s = self.n_segments
            key = firm.astype(np.int64) * s + segment
            both = np.bincount(key, weights=weights, minlength=(f + 1) * s).reshape(f + 1, s)
            self.by_segment[row] += both[:f]

    def count(
        self, what: Count, firm: int | None, weight: float = 1.0, segment: int = 0, tenure: int = 0, cohort: int = 0
    ) -> None:
        """Count one event (or add ``weight``) for one firm; ``None`` (no firm) is dropped. A count kept by segment,
        tenure year and cohort needs the customer's (``tenure_year``, ``cohort_of``)."""
        if firm is not None:
            self.counts[_checked(what), firm] += float(weight)
            row = _SEGMENT_ROW[what]
            if row >= 0:
                self.by_segment[row, firm, segment] += float(weight)
            row = _TENURE_ROW[what]
            if row >= 0:
                self.by_tenure[row, firm, tenure] += float(weight)
                self.by_cohort[row, firm, cohort] += float(weight)

    def __getitem__(self, what: Count) -> np.ndarray:
        return self.counts[_checked(what)]

    def segments(self, what: Count) -> np.ndarray:
        """(firms, segments) of a count kept by segment."""
        return self.by_segment[BY_SEGMENT.index(_checked(what))]

    def tenures(self, what: Count) -> np.ndarray:
        """(firms, tenure years) of a count kept by tenure."""
        return self.by_tenure[_TENURE_ROW[_checked(what)]]

    def cohorts(self, what: Count) -> np.ndarray:
        """(firms, cohorts) of a count kept by cohort."""
        return self.by_cohort[_TENURE_ROW[_checked(what)]]


def _checked(what: Count) -> Count:
    if type(what) is not Count:
        raise TypeError(f"a tally is indexed by Count, not {what!r}")
    return what


def census(
    state: np.ndarray,
    firm: np.ndarray,
    grudge_firm: np.ndarray,
    grudge: np.ndarray,
    segment: np.ndarray,
    n_firms: int,
    n_segments: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Everyone by firm (index F: none; the defected: the firm they left), segment and ladder state, shape
    (F + 1, segments, len(Ladder)); and people holding a grudge, by firm (F + 1)."""
    where = np.where(state == Ladder.DEFECTED, grudge_firm, firm).astype(np.int64)
    key = (where * n_segments + segment) * len(Ladder) + state
    shape = (n_firms + 1, n_segments, len(Ladder))
    stocks = np.bincount(key, minlength=int(np.prod(shape))).reshape(shape)
    return stocks, np.bincount(grudge_firm[grudge > 0], minlength=n_firms + 1)


# The offer: one array per lever (same names as sim.config.Levers), plus what the market makes of them.
OFFER_EXTRAS = {
    "available": "bool: the firm is in the market",
    "service": "service level in [0, 1], after outages",
    "acts": "how customer-centric the firm's acts are, on the scale of its claims",
    "incident_multiplier": "incidents are this many times as frequent (outages)",
}


class Offer:
    """What every firm offers this week: arrays of length F + 1, the last for "no firm".

    One array per lever of ``sim.config.Levers``, under the lever's own name, as offered this
    week (``price`` after price cuts, ``advertising`` only from firms in the market), plus
    ``OFFER_EXTRAS``; and two market-wide conditions: the multiplier of price sensitivity
    (recessions) and the chance that a word of mouth is broadcast (``reach``).
    """

    __slots__ = (*LEVERS, *OFFER_EXTRAS, "price_sensitivity", "reach")

    def __init__(self, arrays: dict[str, np.ndarray], price_sensitivity: float = 1.0, reach: float = 0.0):
        if set(arrays) != {*LEVERS, *OFFER_EXTRAS}:
            raise ValueError(f"an offer needs exactly the arrays {', '.join([*LEVERS, *OFFER_EXTRAS])}")
        for name, values in arrays.items():
            setattr(self, name, values)
        self.price_sensitivity = price_sensitivity
        self.reach = reach

    @property
    def n_firms(self) -> int:
        return len(self.price) - 1

    def relative_prices(self, j: int, reference_price: float) -> tuple[np.float32, np.float32]:
        """Firm ``j``'s price relative to the reference: to its customers (per unit tariff), to newcomers.
        (``j`` a slice: those firms' prices, as arrays.)"""
        return (
            np.float32(self.price[j] / reference_price),
            np.float32(self.price[j] * (1 - self.discount[j]) / reference_price),
        )
