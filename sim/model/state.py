"""A customer's state, declared once.

Each state variable is declared here with its type, the value a newcomer has
(``fresh``), and what becomes of it when the customer leaves the market (a newcomer
takes the place), when the customer joins a firm, and when the customer quits a firm
for no firm (the relationship ends). Both engines allocate their customers, reset them on turnover, on joining and on
quitting, and expose them as arrays from this table; the docking comparison and the
dashboard read it too. Adding a state variable is one line here plus the rule that uses it.

An integer variable declares the largest value it must hold (``bound``: a settings key whose
allowed maximum bounds it, plus a margin), so its type is checked against the whole
allowed range of the configuration (``tests/test_declarations.py``).

Traits (tastes and dispositions a person is born with) are drawn by ``draw_traits``;
the week-0 population by ``draw_start``. Both engines call these, so both start alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

import numpy as np
from scipy.special import ndtri

from ..config import TRAIT_MULTIPLIERS, CustomersConfig
from .draws import Decision, Dice, first_identities
from .vocabulary import Complaint, Happened, Ladder

f32 = np.float32


class Fate(Enum):
    """What becomes of a state variable at a life event."""

    KEPT = "kept"
    FRESH = "fresh"  # back to the newcomer's value
    DRAWN = "drawn"  # drawn anew (traits: a newcomer is a new person)
    SET = "set"  # set by the rule of the event itself (joining: the firm, the expectation it inspires)


NO_FIRM = "no firm"  # a firm index with no firm: F in the arrays, None in the agents engine


@dataclass(frozen=True)
class Var:
    """One state variable of a customer."""

    name: str
    dtype: Any
    fresh: Any  # a number, NO_FIRM, an enum member, or the name of a ``customers`` config key
    leaving: Fate  # when the customer leaves the market (turnover)
    joining: Fate  # when the customer joins a firm
    quitting: Fate  # when the customer quits a firm for no firm
    doc: str
    per_firm: bool = False  # one value per firm: shape (n, F)
    bound: tuple[str, int] | None = None  # integers: (settings key, margin); |value| <= allowed max of key + margin

    @property
    def is_firm(self) -> bool:
        """Holds a firm index (None in the agents engine when there is none)."""
        return self.fresh is NO_FIRM

    @property
    def enum(self) -> type[IntEnum] | None:
        return type(self.fresh) if isinstance(self.fresh, IntEnum) else None


K, F_, D, S = Fate.KEPT, Fate.FRESH, Fate.DRAWN, Fate.SET

STATE: tuple[Var, ...] = (
    # name, dtype, a newcomer's value; fate on leaving the market, joining a firm, quitting it for none
    # Who the customer is: the label of their random numbers (sim.model.draws); a newcomer takes a new one.
    Var(
        "identity",
        np.uint64,
        0,
        S,
        K,
        K,
        "the customer's identity: their dice are a function of it",
        bound=("", 2**64 - 1),
    ),
    # The relationship with the current firm: starts fresh (or as the joining rule sets it), ends on quitting.
    Var("firm", np.int16, NO_FIRM, F_, S, F_, "current supplier", bound=("firms", 0)),
    Var("tenure", np.int32, 0, F_, F_, F_, "weeks with the current firm", bound=("steps", 260)),
    Var(
        "joined_week",
        np.int32,
        -1,
        F_,
        S,
        F_,
        "week of joining (-1: none; week-0 customers: -tenure)",
        bound=("steps", 260),
    ),
    Var("expectation", f32, 0, F_, S, F_, "expected service of the current firm, [0, 1]"),
    Var("recent", f32, 0, F_, F_, F_, "recency trace of felt experiences"),
    Var("peak_pos", f32, 0, F_, F_, F_, "remembered best moment (>= 0)"),
    Var("peak_neg", f32, 0, F_, F_, F_, "remembered worst moment (<= 0)"),
    Var("bond", f32, 0, F_, F_, F_, "emotional bond to the current firm, [0, 1]"),
    Var("trust", f32, "trust_initial", F_, F_, F_, "trust in the current firm, [0, 1]"),
    Var(
        "tariff", f32, 1, F_, S, F_, "tariff as a fraction of list price (<= 2): at joining, the standard or one's need"
    ),
    Var("aware", bool, False, F_, F_, F_, "knows that the tariff is above their need (told, or found out)"),
    Var("by_referral", bool, False, F_, S, F_, "joined the current firm on a referral"),
    Var(
        "discount_left",
        np.int32,
        0,
        F_,
        S,
        F_,
        "weeks of acquisition discount still running",
        bound=("market.discount_weeks", 0),
    ),
    # Traits: drawn when a person enters the market, kept for life (the multipliers declared by config.Segment).
    Var(
        "segment",
        np.int8,
        0,
        D,
        K,
        K,
        "the customer's segment (its index in customers.segments.groups)",
        bound=("customers.segments.groups", 0),
    ),
    Var(
        "fit", f32, 1, D, K, K, "the tariff that meets one's need (fraction of list price); grows with a fitting upsell"
    ),
    *(
        Var(
            name,
            f32,
            1,
            D,
            K,
            K,
            f"trait: {name} (price sensitivity: its weight in utility; the others multiply the average person's)",
        )
        for name in TRAIT_MULTIPLIERS
    ),
    # The customer's view of the market: survives switching, except towards the firm joined.
    Var(
        "grudge_firm",
        np.int16,
        NO_FIRM,
        F_,
        S,
        K,
        "a firm left unhappy (cleared on joining it again)",
        bound=("firms", 0),
    ),
    Var("grudge", f32, 0, F_, S, K, "strength of the grudge against grudge_firm (cleared on joining it again)"),
    Var(
        "heard",
        f32,
        0,
        F_,
        S,
        K,
        "net word of mouth heard about each firm (the joined firm's becomes expectation)",
        per_firm=True,
    ),
    Var("state", np.int8, Ladder.PROSPECT, F_, K, K, "ladder state", bound=("", max(Ladder))),
    Var("value_margin", f32, 0, F_, K, K, "rational advantage of the own firm over the best alternative"),
    # This week's observations, rewritten every week.
    Var("feeling", f32, 0, F_, K, K, "this week's felt experience (0 without an incident)"),
    Var(
        "complaint",
        np.int8,
        Complaint.NONE,
        F_,
        K,
        K,
        "what became of this week's complaint",
        bound=("", max(Complaint)),
    ),
    Var("spoke", bool, False, F_, K, K, "talked this week"),
    Var("spoke_feeling", f32, 0, F_, K, K, "remembered experience when the talking was done"),
    Var("referred", np.int16, NO_FIRM, F_, K, K, "the firm most praised to the customer this week", bound=("firms", 0)),
    Var("alarmed", bool, False, F_, K, K, "heard criticism of the own firm this week"),
    Var(
        "happened",
        np.uint32,
        0,
        F_,
        K,
        K,
        "what happened to the customer this week, as ``Happened`` bits set by the rules",
        bound=("", (1 << len(Happened)) - 1),
    ),
)
BY_NAME = {v.name: v for v in STATE}
TRAITS = tuple(v.name for v in STATE if v.leaving is Fate.DRAWN)
FRESH_ON_LEAVING = tuple(v for v in STATE if v.leaving is Fate.FRESH)
FRESH_ON_JOINING = tuple(v for v in STATE if v.joining is Fate.FRESH)
# Quitting a firm for no firm ends the relationship: what joining makes fresh or sets of the relationship.
FRESH_ON_QUITTING = tuple(
    v for v in STATE if v.joining in (Fate.FRESH, Fate.SET) and v.name not in ("grudge_firm", "grudge", "heard")
)


def fresh_value(var: Var, cfg: CustomersConfig, n_firms: int) -> Any:
    """A newcomer's value of ``var``, as a number of its type (``n_firms`` for no firm)."""
    if var.is_firm:
        return n_firms
    value = getattr(cfg, var.fresh) if isinstance(var.fresh, str) else var.fresh
    return np.dtype(var.dtype).type(value)


def fresh_arrays(cfg: CustomersConfig, n_firms: int, n: int) -> dict[str, np.ndarray]:
    """Every state variable of ``n`` newcomers."""
    return {v.name: np.full((n, n_firms) if v.per_firm else n, fresh_value(v, cfg, n_firms), v.dtype) for v in STATE}


def fresh_scalar(var: Var, cfg: CustomersConfig, n_firms: int) -> Any:
    """A newcomer's value of ``var`` for one Mesa agent: None for no firm, enum members, Python ints."""
    if var.is_firm:
        return None
    value = fresh_value(var, cfg, n_firms)
    if var.per_firm:
        return np.full(n_firms, value, var.dtype)
    if var.enum is not None:
        return var.enum(int(value))
    if np.issubdtype(var.dtype, np.integer):
        return int(value)
    return bool(value) if var.dtype is bool else value


_TABLES: dict[int, tuple] = {}


def _segment_table(cfg: CustomersConfig) -> tuple[np.ndarray, list[np.ndarray], list[float]]:
    """Per segment: cumulative shares, each trait's mean (price sensitivity times its average), each trait's sigma."""
    cached = _TABLES.get(id(cfg))
    if cached is None or cached[0] is not cfg:
        groups = list(cfg.segments.groups.values())
        shares = np.cumsum([g.share for g in groups])
        means = [
            np.array([getattr(g, name) for g in groups])
            * (cfg.price_sensitivity if name == "price_sensitivity" else 1.0)
            for name in TRAIT_MULTIPLIERS
        ]
        sigmas = [getattr(cfg.segments.spread, name) for name in TRAIT_MULTIPLIERS]
        cached = _TABLES[id(cfg)] = (cfg, (shares / shares[-1], means, sigmas))
    return cached[1]


def draw_traits(cfg: CustomersConfig, dice: Dice, identity: np.ndarray) -> dict[str, np.ndarray]:
    """Traits of people entering the market (by identity): segment, the tariff that fits them, and each
    trait multiplier, the segment's mean times a lognormal of mean 1 (price sensitivity also times its average)."""
    cumulative, means, sigmas = _segment_table(cfg)
    u = dice.uniform64(Decision.TRAITS, 0, identity, 2 + len(TRAIT_MULTIPLIERS))
    segment = np.minimum(np.searchsorted(cumulative, u[:, 0], side="right"), len(cumulative) - 1).astype(np.int8)
    traits = {"segment": segment, "fit": (cfg.fit_tariff_min + (1.0 - cfg.fit_tariff_min) * u[:, 1]).astype(f32)}
    z = ndtri(np.maximum(u[:, 2:], 2.0**-54))
    for k, name in enumerate(TRAIT_MULTIPLIERS):
        sigma = sigmas[k]
        traits[name] = (means[k][segment] * np.exp(sigma * z[:, k] - sigma * sigma / 2)).astype(f32)
    assert tuple(traits) == TRAITS, "draw_traits must draw exactly the declared traits"
    return traits


def draw_start(
    cfg: CustomersConfig, n_firms: int, initial_weights: np.ndarray, service: np.ndarray, dice: Dice
) -> dict[str, np.ndarray]:
    """The week-0 population, shared by both engines: who buys where, since when, how bonded, traits.

    Returns the state variables that differ from a newcomer's; ``firm`` is ``n_firms`` for a
    customer who buys nothing yet.
    """
    n = cfg.n
    identity = first_identities(n)
    u = dice.uniform64(Decision.INIT, 0, identity, 4)
    weights = np.asarray(initial_weights, dtype=float)
    buys = u[:, 0] < cfg.initial_penetration
    pick = np.searchsorted(np.cumsum(weights / weights.sum()), u[:, 1], side="right").clip(0, n_firms - 1)
    firm = np.where(buys, pick, n_firms).astype(np.int16)
    tenure = np.where(buys, (u[:, 2] * 260).astype(np.int64), 0).astype(np.int32)
    bond = np.clip(np.where(buys, u[:, 3] * 2 * cfg.initial_bond, 0), 0, 1).astype(f32)
    return {
        "identity": identity,
        "firm": firm,
        "tenure": tenure,
        "bond": bond,
        **draw_traits(cfg, dice, identity),
        "expectation": np.asarray(service, dtype=f32)[firm],  # what their firm delivers now
        "joined_week": np.where(firm < n_firms, -tenure, -1).astype(np.int32),
    }
