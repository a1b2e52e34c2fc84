"""A market card: an observed market to fit the model to (``conf/market_data/<name>.yaml``).

The card names the firms (each a policy preset and its price), the KPIs observed per firm with their
uncertainty (``sim.calibration.kpis.KPIS``), the size of the market to simulate, and the free
parameters with their prior ranges. It is validated like every config: one line naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
from dataclasses import dataclass as plain_dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from ..config import (
    ConfigError,
    Settings,
    check_folder_name,
    compose,
    parameter,
    presets,
    to_plain,
    validate,
    validated,
)
from ..config import _preset_levers as preset_levers
from .kpis import FRACTIONS, KPIS, MAX_YEARS, NONNEGATIVE, TENURE, YEAR, allowed, retention_year

_STRICT = ConfigDict(extra="forbid")
Finite = Annotated[float, Field(allow_inf_nan=False)]
SMALLEST_SD = 1e-6  # below this an observation admits no simulated value: the fit would never end
CARD_FIRM = "card_firm"  # where a card firm's preset is composed, before it takes the card's name


@dataclass(config=_STRICT, frozen=True)
class Observed:
    """An observed KPI: its value and the standard deviation of the observation (its uncertainty)."""

    value: Finite
    sd: Annotated[float, Field(ge=SMALLEST_SD, allow_inf_nan=False)]


@dataclass(config=_STRICT, frozen=True)
class CardFirm:
    """A firm of the observed market: the policy preset it starts from, its price."""

    preset: str
    price: Annotated[float, Field(gt=0.0, le=1000.0)]


@dataclass(config=_STRICT, frozen=True)
class Cohort:
    """An acquisition cohort of a firm: its size, and the share of it still with the firm after 1, 2, ... years.

    Its uncertainty follows from the counts: each year's retention (survival over the year before) is a
    binomial share of those still there, and is observed as ``retention_year_<k>`` with that sd."""

    size: Annotated[int, Field(ge=1, le=1_000_000_000)]
    survival: Annotated[list[Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]], Field(min_length=1)]


@dataclass(config=_STRICT, frozen=True)
class MarketCard:
    """An observed market: firms, KPIs per firm, what to simulate, what to fit."""

    name: str
    description: str
    customers: Annotated[int, Field(ge=100, le=20_000_000)]
    weeks: Annotated[int, Field(ge=104, le=2080)]
    seeds: Annotated[int, Field(ge=1, le=100)]
    firms: Annotated[dict[str, CardFirm], Field(min_length=1, max_length=50)]
    kpis: dict[str, dict[str, Observed]]
    free: Annotated[dict[str, tuple[Finite, Finite]], Field(min_length=1)]
    overrides: list[str]
    truth: dict[str, Finite]
    sources: dict[str, str]
    cohorts: dict[str, Cohort] = Field(default_factory=dict)


def load_card(name: str) -> MarketCard:
    """Compose ``conf/market_data/<name>.yaml`` and validate it (one-line ``ConfigError`` on bad input)."""
    cfg = compose([f"+market_data={name}"])
    return check_card(to_plain(cfg)["market_data"])


@dataclass(config=_STRICT, frozen=True)
class _CardFile:
    """A card where it is composed, so every message names its keys as ``market_data.<key>``."""

    market_data: MarketCard


def check_card(raw: dict) -> MarketCard:
    """Validate a card's plain mapping, and its cross-references, into a ``MarketCard``."""
    if not raw:
        keys = ", ".join(f.name for f in dataclasses.fields(MarketCard))
        raise ConfigError(f"config error: market_data: the card is empty; a card has {keys} (conf/market_data/)")
    card = validated(_CardFile, {"market_data": raw}).market_data
    check_folder_name("market_data.name", card.name)  # its calibrations go to <results_dir>/calibration/<name>/
    for firm, spec in card.firms.items():
        if spec.preset not in presets():
            raise ConfigError(
                f"config error: market_data.firms.{firm}.preset = {spec.preset!r}: no such preset "
                f"(allowed: {', '.join(presets())})"
            )
    if not any(card.kpis.values()) and not card.cohorts:
        raise ConfigError(
            "config error: market_data.kpis: nothing observed; allowed: {firm: {kpi: {value, sd}}} "
            "or market_data.cohorts"
        )
    for firm, kpis in card.kpis.items():
        if firm not in card.firms:
            raise ConfigError(
                f"config error: market_data.kpis.{firm}: no such firm in the card (firms: {', '.join(card.firms)})"
            )
        for kpi, observed in kpis.items():
            if kpi not in KPIS:
                raise ConfigError(f"config error: market_data.kpis.{firm}.{kpi}: unknown KPI (allowed: {allowed()})")
            where = f"market_data.kpis.{firm}.{kpi}.value = {observed.value}"
            if kpi in FRACTIONS and not 0 <= observed.value <= 1:
                raise ConfigError(f"config error: {where}: allowed: 0 ≤ value ≤ 1")
            if kpi in NONNEGATIVE and observed.value < 0:
                raise ConfigError(f"config error: {where}: allowed: 0 ≤ value")
            if kpi == "margin" and observed.value > 1:
                raise ConfigError(f"config error: {where}: allowed: value ≤ 1 (profit over revenue)")
    for firm, cohort in card.cohorts.items():
        where = f"market_data.cohorts.{firm}"
        if firm not in card.firms:
            raise ConfigError(f"config error: {where}: no such firm in the card (firms: {', '.join(card.firms)})")
        if len(cohort.survival) > MAX_YEARS:
            raise ConfigError(
                f"config error: {where}.survival: {len(cohort.survival)} years; allowed: 1 to {MAX_YEARS}"
            )
        if any(b > a for a, b in itertools.pairwise(cohort.survival)):
            raise ConfigError(f"config error: {where}.survival: rises from one year to the next; allowed: never rising")
        twice = [k for k in card.kpis.get(firm, {}) if retention_year(k)]
        if twice:
            raise ConfigError(f"config error: market_data.kpis.{firm}.{twice[0]}: observed twice (also {where})")
    years = retention_years(card)
    if card.weeks < YEAR * (years + 1) + 1:
        raise ConfigError(
            f"config error: market_data.weeks = {card.weeks}: {years} years of cohort retention after the first "
            f"year need at least {YEAR * (years + 1) + 1} weeks"
        )
    shares = sum(k["share"].value for k in card.kpis.values() if "share" in k)
    if shares > 1 + 1e-9:
        raise ConfigError(f"config error: market_data.kpis.*.share: the shares sum to {shares:g}; allowed: at most 1")
    world = _world(card)
    for key, (lo, hi) in card.free.items():
        where = f"market_data.free.{key}"
        parameter(key, where, {"seed": "market_data.seeds", "steps": "market_data.weeks"})
        if not lo < hi:
            raise ConfigError(f"config error: {where} = [{lo}, {hi}]: an empty prior range; allowed: low < high")
        node: Any = world
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"config error: {where}: not a config key")
            node = node[part]
        if isinstance(node, bool) or not isinstance(node, int | float):
            what = "a group of keys" if isinstance(node, dict) else "a list" if isinstance(node, list) else repr(node)
            raise ConfigError(f"config error: {where}: {what}, not a number; allowed: a numeric key (market.reach)")
        for end in (lo, hi):  # each end of the range must be a valid value
            _with(copy.deepcopy(world), {key: end})
    return card


def cohort_kpis(cohort: Cohort) -> dict[str, Observed]:
    """A cohort's survival curve as yearly retention KPIs, each with the binomial sd its counts give."""
    alive = [1.0, *cohort.survival]
    out = {}
    for k, (before, after) in enumerate(itertools.pairwise(alive), start=1):
        at_risk = cohort.size * before
        rate = after / before if before > 0 else 0.0
        sd = float(np.sqrt(rate * (1 - rate) / at_risk)) if at_risk >= 1 else 0.5
        out[f"retention_year_{k}"] = Observed(rate, max(sd, 0.5 / max(at_risk, 1.0)))  # a floor: 0 or 1 observed
    return out


def observations(card: MarketCard) -> dict[str, Observed]:
    """Every observed KPI of the card, ``{"firm.kpi": Observed}``: its KPIs, and its cohorts' yearly retention."""
    out = {f"{firm}.{kpi}": o for firm, kpis in card.kpis.items() for kpi, o in kpis.items()}
    for firm, cohort in card.cohorts.items():
        out |= {f"{firm}.{kpi}": o for kpi, o in cohort_kpis(cohort).items()}
    return out


def observed(card: MarketCard) -> dict[str, float]:
    """The card's KPIs as ``{"firm.kpi": value}``."""
    return {key: o.value for key, o in observations(card).items()}


def uncertainty(card: MarketCard) -> dict[str, float]:
    return {key: o.sd for key, o in observations(card).items()}


def retention_years(card: MarketCard) -> int:
    """How many years of cohort retention the card observes (0: none)."""
    return max((retention_year(key.split(".", 1)[1]) for key in observations(card)), default=0)


def needs_tenure(card: MarketCard) -> bool:
    """Whether the card observes a KPI by tenure year."""
    return any(key.split(".", 1)[1] in TENURE for key in observations(card))


def held_out(card: MarketCard, years: int) -> MarketCard:
    """The card with its cohorts' survival curves cut to their first ``years`` years: what a held-out
    forecast is fitted on (one line naming the key if there is nothing left to forecast)."""
    if not card.cohorts:
        raise ConfigError("config error: --holdout: the card holds no cohorts (market_data.cohorts) to forecast")
    shortest = min(len(c.survival) for c in card.cohorts.values())
    if not 1 <= years < shortest:
        raise ConfigError(f"config error: --holdout = {years}: allowed: 1 ≤ holdout ≤ {shortest - 1} (years to fit on)")
    cut = {firm: dataclasses.replace(c, survival=c.survival[:years]) for firm, c in card.cohorts.items()}
    return dataclasses.replace(card, cohorts=cut)


def settings_for(card: MarketCard, params: dict[str, float], seed: int = 0) -> Settings:
    """The model's settings for the card's market with ``params`` (dotted keys) set.

    Firms are the card's, from their presets, at the card's prices, starting from the observed shares
    (firms without an observed share share what is left equally).
    """
    return _with(_world(card, seed), params)


def _with(raw: dict, params: dict[str, float]) -> Settings:
    """Validated settings of the plain config ``raw`` with ``params`` (dotted keys) set in it."""
    for key, value in params.items():
        node = raw
        *path, leaf = key.split(".")
        for part in path:
            node = node[part]
        node[leaf] = (
            type(node[leaf])(value) if isinstance(node[leaf], int) and not isinstance(node[leaf], bool) else value
        )
    return validate(raw)


def _world(card: MarketCard, seed: int = 0) -> dict:
    """The card's market as a plain config: its overrides, its firms at its prices and shares, its size."""
    raw = copy.deepcopy(_composed(repr(card), card))
    raw["seed"] = seed
    return raw


_COMPOSED: dict[str, dict] = {}  # a card's world, composed once per process: a calibration patches it per set


def _composed(key: str, card: MarketCard) -> dict:
    if key not in _COMPOSED:
        raw = to_plain(compose(list(card.overrides)))
        shares = {firm: kpis["share"].value for firm, kpis in card.kpis.items() if "share" in kpis}
        rest = [f for f in card.firms if f not in shares]
        left = max(1.0 - sum(shares.values()), 0.0)
        firms = {}
        for name, spec in card.firms.items():
            preset = copy.deepcopy(_preset(spec.preset))
            preset["price"] = spec.price
            preset["initial_share"] = shares.get(name, left / len(rest) if rest else 0.0) or 1e-6
            firms[name] = preset
        raw["firms"] = firms
        raw["experiment"] = f"calibration_{card.name}"
        raw["customers"]["n"] = card.customers
        raw["steps"] = card.weeks
        raw["progress"] = False
        _COMPOSED.clear()  # one card at a time in practice; never a growing cache
        _COMPOSED[key] = raw
    return _COMPOSED[key]


@functools.cache
def _preset(name: str) -> dict:
    """A preset's whole config as Hydra composes it (levers, policy label, entry, changes, management)."""
    preset_levers(name, "market_data.firms.*.preset")  # a one-line error for an unknown preset
    return to_plain(compose([f"+policy@firms.{CARD_FIRM}={name}"]))["firms"][CARD_FIRM]


@plain_dataclass
class Prior:
    """A free parameter of the fit: its config key and prior range (uniform)."""

    key: str
    low: float
    high: float

    @property
    def name(self) -> str:
        """A name the inference library accepts (no dots)."""
        return self.key.replace(".", "__")


def priors(card: MarketCard) -> list[Prior]:
    return [Prior(key, lo, hi) for key, (lo, hi) in card.free.items()]
