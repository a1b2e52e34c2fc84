"""A market card: an observed market to fit the model to (``conf/market_data/<name>.yaml``).

The card names the firms (each a policy preset and its price), the KPIs observed per firm with their
uncertainty (``sim.calibration.kpis.KPIS``), the size of the market to simulate, and the free
parameters with their prior ranges. It is validated like every config: one line naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass as plain_dataclass
from typing import Annotated, Any

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
from .kpis import KPIS

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
    if not any(card.kpis.values()):
        raise ConfigError("config error: market_data.kpis: nothing observed; allowed: {firm: {kpi: {value, sd}}}")
    for firm, kpis in card.kpis.items():
        if firm not in card.firms:
            raise ConfigError(
                f"config error: market_data.kpis.{firm}: no such firm in the card (firms: {', '.join(card.firms)})"
            )
        for kpi, observed in kpis.items():
            if kpi not in KPIS:
                raise ConfigError(
                    f"config error: market_data.kpis.{firm}.{kpi}: unknown KPI (allowed: {', '.join(KPIS)})"
                )
            fraction = kpi in ("share", "annual_churn", "referral_share", "complaint_rate") or kpi.startswith(
                "retention"
            )
            if fraction and not 0 <= observed.value <= 1:
                raise ConfigError(
                    f"config error: market_data.kpis.{firm}.{kpi}.value = {observed.value}: allowed: 0 ≤ value ≤ 1"
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


def observed(card: MarketCard) -> dict[str, float]:
    """The card's KPIs as ``{"firm.kpi": value}``."""
    return {f"{firm}.{kpi}": o.value for firm, kpis in card.kpis.items() for kpi, o in kpis.items()}


def uncertainty(card: MarketCard) -> dict[str, float]:
    return {f"{firm}.{kpi}": o.sd for firm, kpis in card.kpis.items() for kpi, o in kpis.items()}


def needs_retention(card: MarketCard) -> bool:
    return any(k.startswith("retention") for kpis in card.kpis.values() for k in kpis)


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
    raw["seed"] = seed
    raw["progress"] = False
    return raw


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
