"""Typed, validated settings: the one gate between Hydra config and the model.

The YAML files under ``conf/`` hold every default; these dataclasses hold the
types and allowed ranges, and have no defaults of their own, so a parameter has
exactly one source. ``compose`` composes ``conf/`` with Hydra overrides, ``apply_design``
applies a design row, ``validate`` turns a plain mapping into ``Settings``; ``load`` does
all three. Every bad input, Hydra's own override and composition errors included, is a
``ConfigError`` with a one-line message naming the key and the allowed values.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

# Unknown keys are errors, and every float is finite: inf and nan are refused like any value out of range.
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)

# The kinds of number the settings hold, each with its natural bounds (a value beyond them is nonsense, not a
# bold experiment): shares and chances; weights in utility and multipliers; feelings, memories and thresholds on
# them (service and expectation live on [0, 1]); utilities; money per customer-week or per event, on the scale of
# the price (at most 1000); weeks.
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Weight = Annotated[float, Field(ge=0.0, le=100.0)]
Feeling = Annotated[float, Field(ge=0.0, le=10.0)]
SignedFeeling = Annotated[float, Field(ge=-10.0, le=10.0)]
Utility = Annotated[float, Field(ge=-100.0, le=100.0)]
Money = Annotated[float, Field(ge=0.0, le=1000.0)]
Week = Annotated[int, Field(ge=0, le=100_000)]


# Top-level keys that say how a run is launched (a design row, the sweep's folder), not what runs:
# declared in conf/config.yaml, applied or read by the launch machinery, stripped before validation.
RUN_CONTROL = ("design", "design_row", "sweep", "strict", "reuse")
# Keys that say where a run's results go and how it is shown: set for a whole command, never by a design row.
NOT_DESIGN_COLUMNS = ("experiment", "results_dir", "progress")
PRESETS_DIR = CONF_DIR / "policy"
MAX_FOLDER_NAME = 255  # characters in one folder name (most file systems)
FOLDER_NAME = re.compile(rf"[A-Za-z0-9._,=@+-]{{1,{MAX_FOLDER_NAME}}}")
FOLDER_NAME_ALLOWED = "one folder name of letters, digits and . _ , = @ + - (not starting with .)"

# Keys that are not parameters of the market, each with the reason: a what-if cannot change one, a fit cannot
# free one, an analysis cannot vary one. A command about one of them has its own flag for it (``--seeds``).
NOT_PARAMETERS: dict[str, str] = {
    "seed": "the seeds are the replicates",
    "steps": "the weeks simulated are the horizon",
    "progress": "it only shows a progress bar",
    "engine": "both engines give the same numbers",
    "results_dir": "it only says where results go",
    **dict.fromkeys((*RUN_CONTROL, "strict", "reuse"), "it says how runs are launched, not what runs"),
    "hydra": "the launcher's own settings",
}
# Those that never change a number: they never name a sweep or a run, and are no part of a run's fingerprint.
RESULT_NEUTRAL: tuple[str, ...] = ("progress", "engine", "results_dir", "sweep", "strict", "reuse", "hydra")


def parameter(key: str, where: str, own: dict[str, str] | None = None) -> str:
    """``key`` (a dotted key, or a Hydra override's key) if it is a parameter of the market, else a one-line
    ``ConfigError`` naming ``where`` it was given and why: ``config error: --param seed=0:9: 'seed' is not a
    parameter of the market (the seeds are the replicates: --replicates)``; ``own`` names the command's own
    flag for such a key."""
    top = re.split(r"[./@]", key.lstrip("+~"), maxsplit=1)[0]
    if top in NOT_PARAMETERS:
        flag = f": {own[top]}" if own and top in own else ""
        raise ConfigError(
            f"config error: {where}: '{top}' is not a parameter of the market ({NOT_PARAMETERS[top]}{flag})"
        )
    return key


class ConfigError(ValueError):
    """A configuration value is unknown, missing, mistyped or out of range: always one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))  # a typed value may hold a newline


def is_folder_name(name: Any) -> bool:
    """Whether ``name`` is one plain folder name, so a path made with it stays inside its parent folder."""
    return isinstance(name, str) and bool(FOLDER_NAME.fullmatch(name)) and not name.startswith(".")


def check_folder_name(key: str, name: Any) -> str:
    """``name`` (an experiment, a sweep, a card: it becomes a folder under ``results_dir``), or a ``ConfigError``."""
    if not is_folder_name(name):
        raise ConfigError(f"config error: {key} = {name!r}: allowed: {FOLDER_NAME_ALLOWED}")
    return name


@dataclass(config=_STRICT, frozen=True)
class Levers:
    """What a firm controls. Each lever in [0, 1] except price."""

    price: Annotated[float, Field(gt=0.0, le=1000.0)]
    quality: Unit
    speed: Unit
    ease: Unit
    humanity: Unit
    generosity: Unit
    proactive_advice: Unit
    upsell: Unit
    discount: Annotated[float, Field(ge=0.0, le=0.9)]
    advertising: Unit
    listening: Unit
    claims: Unit


LEVERS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Levers))


@dataclass(config=_STRICT, frozen=True)
class PolicyChange:
    """From ``week`` on, move levers to new values over ``ramp`` weeks.

    The targets are ``levers``, on top of every lever of the preset named by ``policy`` (if any):
    ``{week: 156, ramp: 52, policy: taking}`` drifts a firm to the taking preset.
    """

    week: Week
    ramp: Week
    levers: dict[str, float] = Field(default_factory=dict)
    policy: str | None = None


class ManagementKind(StrEnum):
    FIXED = "fixed"  # follow the plan
    MYOPIC = "myopic"  # hill climbing on next quarter's profit
    PATIENT = "patient"  # hill climbing on a longer window's profit
    IMITATE = "imitate"  # move towards the most profitable rival's observable levers
    LEARNER = "learner"  # an evolution strategy over lever vectors
    PLAYED = "played"  # a person decides at each review (the classroom's market game, sim.classroom.game)


class Start(StrEnum):
    PLAN = "plan"  # the managed levers start where the plan puts them
    RANDOM = "random"  # drawn uniformly within their ranges, per seed, from the firm's management stream


@dataclass(config=_STRICT, frozen=True)
class Management:
    """How a firm's levers are managed: a rule (``kind``) and its parameters (``conf/management/``).

    Every rule reads only what a firm sees (``sim.model.management``); the parameters a rule does not
    use are ignored by it.
    """

    kind: ManagementKind
    review: Annotated[int, Field(ge=1, le=100_000)]
    horizon: Annotated[int, Field(ge=1, le=100_000)]
    step: Annotated[float, Field(gt=0.0, le=1.0)]
    change_cost: Money
    levers: Annotated[list[str], Field(min_length=1)]
    observe: list[str]
    lag: Week
    rate: Annotated[float, Field(gt=0.0, le=1.0)]
    population: Annotated[int, Field(ge=2, le=1000)]
    sigma: Annotated[float, Field(gt=0.0, le=1.0)]
    start: Start


@dataclass(config=_STRICT, frozen=True)
class FirmConfig(Levers):
    """A firm: a named policy preset (its levers), entry week, planned changes and how it is managed."""

    policy: str
    enters_at: Week
    initial_share: Annotated[float, Field(ge=0.0, le=1000.0)]  # a relative weight
    referral_reward: Money
    changes: list[PolicyChange]
    management: Management

    @property
    def levers(self) -> Levers:
        return Levers(**{k: getattr(self, k) for k in LEVERS})


Multiplier = Annotated[float, Field(ge=0.0, le=100.0)]
Spread = Annotated[float, Field(ge=0.0, le=3.0)]


@dataclass(config=_STRICT, frozen=True)
class Segment:
    """A kind of customer: its share of the population and its traits, as multipliers of the average person.

    The traits (every field but ``share``) are the customers' dispositions, drawn at birth: how
    price-sensitive, how restless (how often they reconsider), how readily they bond, how outspoken
    (voice a complaint), how talkative. Declared here once; ``sim.model.state`` derives the state from it.
    """

    share: Unit
    price_sensitivity: Multiplier
    restlessness: Multiplier
    bonding: Multiplier
    outspokenness: Multiplier
    talkativeness: Multiplier


TRAIT_MULTIPLIERS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Segment) if f.name != "share")


@dataclass(config=_STRICT, frozen=True)
class TraitSpread:
    """Within a segment, each trait multiplier is lognormal with mean 1 and this sigma."""

    price_sensitivity: Spread
    restlessness: Spread
    bonding: Spread
    outspokenness: Spread
    talkativeness: Spread


@dataclass(config=_STRICT, frozen=True)
class Segments:
    """Who the customers are: segments with shares, and the spread of traits within a segment."""

    groups: Annotated[dict[str, Segment], Field(min_length=1, max_length=20)]
    spread: TraitSpread


@dataclass(config=_STRICT, frozen=True)
class CustomersConfig:
    """Population size, initial state and behavioural parameters of customers."""

    n: Annotated[int, Field(ge=10, le=20_000_000)]
    initial_penetration: Unit
    price_sensitivity: Weight
    segments: Segments
    fit_tariff_min: Annotated[float, Field(gt=0.0, le=1.0)]
    initial_bond: Unit
    turnover: Unit
    incident_rate: Unit
    experience_noise: Feeling
    expectation_adaptation: Unit
    promise_pull: Unit
    memory_learning: Unit
    memory_decay: Unit
    peak_decay: Unit
    peak_weight: Weight
    loss_aversion: Annotated[float, Field(ge=1.0, le=10.0)]
    surprise_threshold: Feeling
    surprise_gain: Annotated[float, Field(ge=1.0, le=10.0)]
    forgiveness: Unit
    gratitude: Unit
    delight_bond: Weight
    frustration_bond: Weight
    community_bond: Weight
    bond_decay: Unit
    trust_initial: Unit
    trust_recovery: Unit
    gift_trust: Unit
    upsell_trust_loss: Unit
    detection_rate: Unit
    detection_trust_loss: Unit
    detection_bond_loss: Unit
    complaint_threshold: SignedFeeling
    voice: Unit
    recovery_gain: Feeling
    ignored_penalty: Feeling
    quality_weight: Weight
    memory_weight: Weight
    bond_weight: Weight
    trust_weight: Weight
    bond_price_tolerance: Unit
    review_rate: Unit
    dissatisfied_review: Weight
    negative_wom_review: Weight
    prospect_consider: Unit
    ad_prompt: Unit
    referral_uptake: Unit
    grudge_decay: Unit
    talk_devoted: Unit
    talk_loyal: Unit
    talk_customer: Unit
    talk_detractor: Unit
    talk_defected: Unit
    talk_event: Unit
    talk_threshold: Feeling
    loyal_margin: Utility
    devoted_bond: Unit
    detractor_memory: SignedFeeling
    advice_uptake: Unit
    discovery: Unit
    self_service: Unit
    first_fix: Unit
    referred_restlessness: Annotated[float, Field(ge=0.0, le=10.0)]  # a multiplier
    devoted_premium: Unit


class NetworkKind(StrEnum):
    WATTS_STROGATZ = "watts_strogatz"
    BARABASI_ALBERT = "barabasi_albert"
    ERDOS_RENYI = "erdos_renyi"
    MIXED = "mixed"
    NONE = "none"


@dataclass(config=_STRICT, frozen=True)
class NetworkConfig:
    """The social network over which word of mouth travels."""

    kind: NetworkKind
    mean_degree: Annotated[int, Field(ge=0, le=1000)]
    rewire: Unit


@dataclass(config=_STRICT, frozen=True)
class Costs:
    """Weekly costs per customer of each lever at full setting, per event, and the fixed part of running costs."""

    per_customer: Money
    quality: Money
    speed: Money
    ease: Money
    humanity: Money
    listening: Money
    contact: Money
    free_fix: Money
    complaint: Money
    advertising_per_capita: Money
    fixed_share: Unit


class Regulation(StrEnum):
    NONE = "none"  # firms may walk prices and need tell no one of a better tariff
    NOTICES = "notices"  # every firm tells each customer once a year of its best tariff for them (Ofcom, 2020)
    NO_PRICE_WALKING = "no_price_walking"  # an existing customer pays no more than a new one for the same need (FCA)


class ShockKind(StrEnum):
    OUTAGE = "outage"
    PRICE_CUT = "price_cut"
    RECESSION = "recession"
    VOICE = "voice"


@dataclass(config=_STRICT, frozen=True)
class Shock:
    """An event at ``week`` lasting ``duration`` weeks (0 = for the rest of the run).

    outage: the firm's service fails (size = severity in [0, 1]);
    price_cut: the firm cuts its price by the fraction ``size``;
    recession: price sensitivity rises by the fraction ``size``;
    voice: word-of-mouth reach becomes ``size``.
    """

    kind: ShockKind
    week: Week
    duration: Week
    size: Annotated[float, Field(ge=0.0, le=10.0)]
    firm: str | None = None


@dataclass(config=_STRICT, frozen=True)
class MarketConfig:
    """Market structure, word-of-mouth reach, money and shocks."""

    switching_cost: Annotated[float, Field(ge=0.0, le=100.0)]  # a utility
    outside_utility: Utility
    reference_price: Annotated[float, Field(ge=0.01, le=1000.0)]  # the scale of the price lever
    discount_weeks: Week
    ad_reach: Unit
    ad_claim_weight: Feeling
    prior_quality: Unit
    wom_weight: Feeling
    wom_decay: Unit
    negativity: Annotated[float, Field(ge=0.0, le=20.0)]
    reach: Unit
    broadcast_size: Annotated[int, Field(ge=0, le=10_000)]
    upsell_contact: Unit
    upsell_accept: Unit
    upsell_step: Annotated[float, Field(ge=0.0, le=1.0)]
    upsell_annoyance: Feeling
    upsell_fit: Unit
    advice_contact: Unit
    gift_value: Feeling
    service_weights: Annotated[list[Weight], Field(min_length=4, max_length=4)]
    outage_incidents: Weight
    innovation: Weight
    obsolescence: Unit
    regulation: Regulation
    community_support: Unit
    annual_discount_rate: Annotated[float, Field(ge=0.0, lt=1.0)]
    costs: Costs
    shocks: list[Shock]


class Engine(StrEnum):
    AGENTS = "agents"  # every customer a Mesa agent: the readable reference (sim/model/agents.py)
    COMPILED = "compiled"  # struct of arrays, Numba kernels on all cores, same numbers (sim/model/compiled.py)


@dataclass(config=_STRICT, frozen=True)
class Settings:
    """Everything one run needs."""

    experiment: str
    seed: Annotated[int, Field(ge=0, lt=2**63)]
    steps: Annotated[int, Field(ge=1, le=100_000)]
    engine: Engine
    progress: bool
    results_dir: str
    customers: CustomersConfig
    network: NetworkConfig
    market: MarketConfig
    firms: Annotated[dict[str, FirmConfig], Field(min_length=1, max_length=50)]

    @property
    def firm_names(self) -> list[str]:
        return list(self.firms)


def _allowed(meta: list[Any]) -> str:
    """Render a field's numeric constraints as an allowed range."""
    lo = hi = None
    lo_op = hi_op = ""
    for m in meta:
        if isinstance(m, Ge):
            lo, lo_op = m.ge, "≤"
        elif isinstance(m, Gt):
            lo, lo_op = m.gt, "<"
        elif isinstance(m, Le):
            hi, hi_op = m.le, "≤"
        elif isinstance(m, Lt):
            hi, hi_op = m.lt, "<"
    if lo is None and hi is None:
        return ""
    left = f"{lo} {lo_op} " if lo is not None else ""
    right = f" {hi_op} {hi}" if hi is not None else ""
    return f"allowed: {left}value{right}"


def _field_info(cls: type, loc: tuple) -> tuple[Any, Any]:
    """Follow ``loc`` through nested dataclasses; return (owner class, FieldInfo)."""
    owner, info = cls, None
    for part in loc:
        fields = getattr(owner, "__pydantic_fields__", None)
        if fields is None:
            continue
        if isinstance(part, str) and part in fields:
            info = fields[part]
            ann = info.annotation
            args = [a for a in getattr(ann, "__args__", ()) if dataclasses.is_dataclass(a)]
            owner = ann if dataclasses.is_dataclass(ann) else (args[-1] if args else ann)
    return owner, info


def allowed_range(key: str) -> tuple[float | None, float | None]:
    """The allowed (low, high) of a dotted settings key, from its type; ``firms``: its count of firms."""
    from annotated_types import MaxLen, MinLen

    _, info = _field_info(Settings, tuple(key.split(".")))
    if info is None:
        raise KeyError(key)
    lo = hi = None
    for m in info.metadata:
        if isinstance(m, Ge | MinLen):
            lo = m.ge if isinstance(m, Ge) else m.min_length
        elif isinstance(m, Gt):
            lo = m.gt
        elif isinstance(m, Le | MaxLen):
            hi = m.le if isinstance(m, Le) else m.max_length
        elif isinstance(m, Lt):
            hi = m.lt
    return lo, hi


def _one_line(err: dict, root: type) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc)
    kind = err["type"]
    owner, info = _field_info(root, loc)
    if kind == "unexpected_keyword_argument":
        allowed = ", ".join(getattr(owner, "__pydantic_fields__", {}) or [])
        return f"config error: unknown key '{key}' (allowed keys here: {allowed})"
    if kind == "missing_argument" or kind == "missing":
        return f"config error: missing key '{key}'"
    rng = _allowed(info.metadata) if info is not None else ""
    value = err.get("input")
    extra = f"; {rng}" if rng else ""
    return f"config error: {key} = {value!r}: {err['msg'].lower()}{extra}"


def _noun(cls: type) -> str:
    """What a dataclass of settings is called in a message: ``Segment``: segment, ``FirmConfig``: firm."""
    return " ".join(re.findall(r"[A-Z][a-z]*", re.sub(r"Config$", "", cls.__name__))).lower()


def _needs_all(key: str, cls: type, missing: list[str]) -> str:
    return f"config error: {key}: a {_noun(cls)} needs all its keys; missing: {', '.join(missing)}"


def _error_line(errors: list, root: type) -> str:
    """The first validation error in one line; keys missing side by side (a segment given only its share) together."""
    first = errors[0]
    if first["type"] in ("missing", "missing_argument") and len(first["loc"]) > 1:
        parent = tuple(first["loc"][:-1])
        missing = [
            str(e["loc"][-1])
            for e in errors
            if e["type"] in ("missing", "missing_argument") and tuple(e["loc"][:-1]) == parent
        ]
        if len(missing) > 1:
            return _needs_all(".".join(str(p) for p in parent), _field_info(root, parent)[0], missing)
    return _one_line(first, root)


def validated(cls: type, raw: Any, prefix: str = "") -> Any:
    """``raw`` validated as the pydantic dataclass ``cls``, or a one-line ``ConfigError`` (keys under ``prefix``)."""
    try:
        return TypeAdapter(cls).validate_python(raw)
    except ValidationError as exc:
        line = _error_line(exc.errors(), cls)
        raise ConfigError(line.replace("config error: ", f"config error: {prefix}", 1) if prefix else line) from None


def presets() -> list[str]:
    """The policy presets in ``conf/policy/``."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def _preset_levers(name: Any, where: str) -> dict[str, float]:
    """The levers of the preset ``name``, for a planned change that names one."""
    from omegaconf import OmegaConf

    if not isinstance(name, str) or name not in presets():
        raise ConfigError(f"config error: {where} = {name!r}: no such preset (allowed: {', '.join(presets())})")
    try:
        preset = OmegaConf.to_container(OmegaConf.load(PRESETS_DIR / f"{name}.yaml"))
    except Exception as err:
        if (said := yaml_error(err)) is None:
            raise
        raise said from None
    return {k: v for k, v in preset.items() if k in LEVERS}  # type: ignore[union-attr]


def _resolve_preset_changes(raw: dict) -> None:
    """A planned change naming a ``policy`` moves every lever to that preset's (its own ``levers`` win)."""
    for name, firm in (raw.get("firms") or {}).items():
        changes = firm.get("changes") if isinstance(firm, dict) else None
        for i, change in enumerate(changes if isinstance(changes, list) else []):
            if isinstance(change, dict) and change.get("policy") is not None:
                targets = _preset_levers(change["policy"], f"firms.{name}.changes.{i}.policy")
                own = change.get("levers") or {}
                if not isinstance(own, dict):
                    raise ConfigError(
                        f"config error: firms.{name}.changes.{i}.levers = {own!r}: allowed: a mapping {{lever: value}}"
                    )
                change["levers"] = {**targets, **own}


def _check_management(name: str, firm: FirmConfig) -> None:
    """Managed levers and observed levers are levers; a managed firm follows its rule, not a plan."""
    m = firm.management
    for field in ("levers", "observe"):
        for i, lever in enumerate(getattr(m, field)):
            if lever not in LEVERS:
                raise ConfigError(
                    f"config error: firms.{name}.management.{field}.{i} = {lever!r}: not a lever"
                    f" (allowed: {', '.join(LEVERS)})"
                )
    if m.kind is ManagementKind.LEARNER and len(set(m.levers)) < 2:
        raise ConfigError(
            f"config error: firms.{name}.management.levers = {m.levers}: the learner searches over at least 2 levers"
        )
    if m.kind is not ManagementKind.FIXED and firm.changes:
        raise ConfigError(
            f"config error: firms.{name}.changes: a firm managed by a rule (management.kind = {m.kind.value}) "
            "has no planned changes; allowed: changes = [] or management@firms.<name>=fixed"
        )


def _check_cross(s: Settings) -> None:
    check_folder_name("experiment", s.experiment)
    names = set(s.firms)
    for name, firm in s.firms.items():
        for i, ch in enumerate(firm.changes):
            for lever in ch.levers:
                if lever not in LEVERS:
                    raise ConfigError(
                        f"config error: unknown lever 'firms.{name}.changes.{i}.levers.{lever}'"
                        f" (allowed: {', '.join(LEVERS)})"
                    )
            try:
                TypeAdapter(Levers).validate_python({**dataclasses.asdict(firm.levers), **ch.levers})
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ConfigError(
                    _one_line(err, Levers).replace("config error: ", f"config error: firms.{name}.changes.{i}.levers.")
                ) from None
        _check_management(name, firm)
    if not any(f.enters_at == 0 for f in s.firms.values()):
        raise ConfigError("config error: firms: at least one firm must have enters_at = 0")
    if sum(f.initial_share for f in s.firms.values() if f.enters_at == 0) <= 0:
        raise ConfigError("config error: firms.*.initial_share: must sum to > 0 over firms present at week 0")
    for i, shock in enumerate(s.market.shocks):
        needs_firm = shock.kind in (ShockKind.OUTAGE, ShockKind.PRICE_CUT)
        if needs_firm and shock.firm not in names:
            raise ConfigError(
                f"config error: market.shocks.{i}.firm = {shock.firm!r}: "
                f"a {shock.kind.value} needs one of the firms ({', '.join(names)})"
            )
        if shock.kind in (ShockKind.OUTAGE, ShockKind.VOICE) and shock.size > 1:
            raise ConfigError(
                f"config error: market.shocks.{i}.size = {shock.size}: allowed: 0 ≤ value ≤ 1 for a {shock.kind.value}"
            )
        if shock.kind is ShockKind.PRICE_CUT and shock.size >= 1:
            raise ConfigError(
                f"config error: market.shocks.{i}.size = {shock.size}: allowed: 0 ≤ value < 1 for a price_cut"
                " (the fraction of the price cut)"
            )
        if shock.week > s.steps:  # it would never strike
            what = f"{shock.kind.value}{f' of {shock.firm}' if shock.firm else ''}"
            raise ConfigError(
                f"config error: market.shocks.{i}.week = {shock.week}: the {what} starts after the last week"
                f" (steps = {s.steps}); allowed: 0 ≤ value ≤ {s.steps}"
            )
    shares = sum(g.share for g in s.customers.segments.groups.values())
    if abs(shares - 1) > 1e-6:
        raise ConfigError(
            f"config error: customers.segments.groups.*.share: the shares sum to {shares:g}; allowed: they sum to 1"
        )
    if s.customers.n < fewest_customers(s.network):
        raise ConfigError(
            f"config error: network.mean_degree = {s.network.mean_degree}: "
            f"allowed: 0 ≤ value < customers.n ({s.customers.n})"
        )


def fewest_customers(network: NetworkConfig) -> int:
    """The fewest customers a market on this network can have: more than a graph's mean degree."""
    fewest = int(allowed_range("customers.n")[0] or 1)
    graph = network.kind in (NetworkKind.WATTS_STROGATZ, NetworkKind.BARABASI_ALBERT, NetworkKind.ERDOS_RENYI)
    return max(fewest, network.mean_degree + 1) if graph else fewest


def validate(raw: dict) -> Settings:
    """Turn a plain mapping (a resolved Hydra config) into ``Settings``."""
    raw = {k: copy.deepcopy(v) for k, v in raw.items() if k not in RUN_CONTROL and k != "hydra"}
    if not raw.get("firms"):
        raise ConfigError("config error: firms: at least one firm is required (allowed: 1 to 50 firms)")
    _resolve_preset_changes(raw)
    try:
        settings = TypeAdapter(Settings).validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(_error_line(exc.errors(), Settings)) from None
    _check_cross(settings)
    return settings


def to_plain(cfg: Any) -> dict:
    """A resolved OmegaConf config as plain Python containers."""
    from omegaconf import OmegaConf

    with _resolving():
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


@contextmanager
def _resolving(key: str = "config") -> Iterator[None]:
    """OmegaConf's errors while reading a composed config (an interpolation that fails) as a ``ConfigError``."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or key
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"config error: {key}: could not resolve: {first}") from None


def hydra_error(err: Exception, find_culprit: Callable[[], tuple[str, Exception] | None] | None = None) -> ConfigError:
    """Hydra's override and composition errors, reduced to one line naming the key.

    When Hydra's message names none, ``find_culprit`` (if given) finds the first override that
    fails, and its own error is the one said.
    """
    if named := _named(str(err)):
        return named
    if find_culprit is not None and (found := find_culprit()) is not None:
        bad, bad_err = found
        return (
            _named(str(bad_err))
            or _unreadable(bad, str(bad_err))
            or ConfigError(f"config error: override {bad!r}: {_first_line(bad_err)}")
        )
    return ConfigError(f"config error: could not read the overrides: {_first_line(err)}")


LEXER_FAILED = "LexerNoViableAltException: "
EXAMPLE = "e.g. customers.n=500"


def _unreadable(override: str, text: str) -> ConfigError | None:
    """An override Hydra's parser cannot read (its message a ``LexerNoViableAltException``), in one line saying
    which character, and what is allowed there; None for other errors."""
    key, eq, value = override.partition("=")
    if not eq and not override.startswith("~"):
        return ConfigError(f"config error: {override!r} is not an override; allowed: key=value ({EXAMPLE})")
    m = re.search(rf"{LEXER_FAILED}.*\n( *)\^", text)
    if m is None:
        return None
    at = len(m[1]) - len(LEXER_FAILED)
    if not 0 <= at < len(override):
        return None
    where = f"{override[at]!r} (character {at + 1})"
    if at < len(key):
        return ConfigError(
            f"config error: override {override!r}: {where} cannot be in a key; allowed: key=value, a key of"
            f" letters a-z, digits, _ and - joined by dots ({EXAMPLE})"
        )
    quote = '"' if "'" in value else "'"
    return ConfigError(
        f"config error: override {override!r}: {where} cannot be in a value unless it is quoted;"
        f" allowed: {key}={quote}{value}{quote}"
    )


def yaml_error(err: BaseException) -> ConfigError | None:
    """A config file that is not valid YAML, in one line naming the file and the line; None if ``err`` is not that."""
    import yaml

    if not isinstance(err, yaml.YAMLError):
        return None
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or _first_line(err)
    if mark is None:
        return ConfigError(f"config error: a config file is not valid YAML ({problem})")
    path = Path(mark.name)
    if path.is_relative_to(CONF_DIR):
        path = Path(CONF_DIR.name) / path.relative_to(CONF_DIR)
    return ConfigError(f"config error: {path}, line {mark.line + 1}: not valid YAML ({problem})")


def _named(text: str) -> ConfigError | None:
    if m := re.search(r"Could not override '([^']+)'", text):
        return ConfigError(f"config error: unknown key '{m.group(1)}' (use +{m.group(1)}=... to add a key on purpose)")
    if m := re.search(r"Could not find '([^']+)'", text):
        options = [o for o in re.findall(r"^\t(\S+)", text, flags=re.M) if "=" not in o]
        group, _, name = m.group(1).rpartition("/")
        return ConfigError(f"config error: {group}={name}: no such option (allowed: {', '.join(options)})")
    return None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def culprit(overrides: list[str] | tuple[str, ...], fails: Callable[[list[str]], Any]) -> tuple[str, Exception] | None:
    """The first override whose addition makes ``fails(prefix)`` raise, and what it raised."""
    for i in range(len(overrides)):
        try:
            fails(list(overrides[: i + 1]))
        except Exception as err:  # whatever the prefix raised is what that override did wrong
            return overrides[i], err
    return None


def compose(overrides: list[str] | tuple[str, ...] = (), return_hydra_config: bool = False):
    """Compose ``conf/`` with Hydra overrides outside a Hydra app (commands, tests, notebooks, dashboard)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    def composed(overrides: list[str]):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return hydra_compose(config_name="config", overrides=overrides, return_hydra_config=return_hydra_config)

    try:
        return composed(list(overrides))
    except (HydraException, OmegaConfBaseException, ValueError, TypeError) as err:  # Hydra checks some values itself
        raise (_not_merged(err, overrides) or hydra_error(err, lambda: culprit(overrides, composed))) from None
    except Exception as err:  # a config file in conf/ that is not valid YAML
        if (said := yaml_error(err)) is None:
            raise
        raise said from None


def _not_merged(err: Exception, overrides: list[str] | tuple[str, ...]) -> ConfigError | None:
    """``key={...}`` that Hydra cannot merge, a key inside it unknown: a new entry of a mapping of the config (a
    segment, a firm) said with what it lacks, or the unknown key named in full. None for any other error."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    m = re.search(r"Could not override '([^']+)'", str(err))
    full = getattr(err.__cause__, "full_key", None)
    if m is None or not isinstance(full, str) or not full.startswith(f"{m[1]}."):
        return None
    try:
        given = [o.value() for o in OverridesParser.create().parse_overrides(list(overrides)) if o.key_or_group == m[1]]
    except HydraException:
        given = []
    value = given[-1] if given else None
    parts, top = full.split("."), len(m[1].split("."))
    owner, _ = _field_info(Settings, tuple(parts[:-2]))
    info = getattr(owner, "__pydantic_fields__", {}).get(parts[-2])
    kinds = getattr(getattr(info, "annotation", None), "__args__", ())
    if len(kinds) == 2 and dataclasses.is_dataclass(kinds[1]):  # a new entry of a mapping: a segment, a firm
        kind, entry = kinds[1], value
        for part in parts[top:]:
            entry = entry.get(part) if isinstance(entry, dict) else None
        missing = [f for f, field in kind.__pydantic_fields__.items() if field.is_required()]
        missing = [f for f in missing if f not in entry] if isinstance(entry, dict) else []
        if missing:
            return ConfigError(_needs_all(full, kind, missing))
        return ConfigError(f"config error: {full}: no such {_noun(kind)}; add one with +{full}={{...}}")
    inner, _ = _field_info(Settings, tuple(parts[:-1]))
    allowed = ", ".join(getattr(inner, "__pydantic_fields__", {}) or [])
    return ConfigError(f"config error: unknown key '{full}'" + (f" (allowed keys here: {allowed})" if allowed else ""))


def design_values(path: str | Path, row: int) -> dict[str, Any]:
    """Row ``row`` of a design CSV: ``{dotted config key: value}``."""
    import pandas as pd

    if not isinstance(path, str | Path):
        raise ConfigError(f"config error: design = {path!r}: allowed: the path of a CSV file")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config error: design = '{path}': no such file")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"config error: design = '{path}': not a readable CSV file ({first})") from None
    if not 0 <= row < len(table):
        raise ConfigError(f"config error: design_row = {row}: allowed: 0 ≤ value ≤ {len(table) - 1} (rows of {path})")
    values = {}
    for key, value in table.iloc[row].items():
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(f"config error: design '{path}' row {row}, column '{key}': empty value")
        values[str(key)] = value
    return values


def apply_design(cfg: Any) -> tuple[Any, dict[str, Any]]:
    """A copy of the composed config with its design row applied, and the row's values.

    The run-control keys and Hydra's own node are removed from the copy, so the result
    validates as ``Settings`` and its YAML reloads as a plain run config.
    """
    from omegaconf import OmegaConf, open_dict

    out = copy.deepcopy(cfg)
    values: dict[str, Any] = {}
    with _resolving("design"):
        design, row = cfg.get("design"), cfg.get("design_row")
    if (design is None) != (row is None):
        missing = "design_row" if row is None else "design"
        raise ConfigError(
            f"config error: {missing}: needed too when design or design_row is set (design=path.csv design_row=N)"
        )
    if design is not None:
        if isinstance(row, bool) or not isinstance(row, int):
            raise ConfigError(f"config error: design_row = {row!r}: allowed: an integer row number, 0 ≤ value")
        values = design_values(design, row)
        with open_dict(out):
            for key, value in values.items():
                if key in (*RUN_CONTROL, *NOT_DESIGN_COLUMNS) or key.startswith("hydra"):
                    raise ConfigError(
                        f"config error: design column '{key}': not a model parameter (set it for the whole command)"
                    )
                with _resolving(key):
                    if OmegaConf.select(out, key, default="__absent__") == "__absent__":
                        raise ConfigError(f"config error: unknown key '{key}' (design column of {design})")
                    OmegaConf.update(out, key, value, merge=True)
    with open_dict(out):
        for key in (*RUN_CONTROL, "hydra"):
            if key in out:
                del out[key]  # not ``pop``: that would resolve the value, and a run-control key's is not ours to check
    return out, values


def check(cfg: Any) -> Settings:
    """Validate a composed config, its design row applied."""
    return validate(to_plain(apply_design(cfg)[0]))


def settings(
    experiment: str | None = None, presets: dict[str, str] | None = None, seed: Any = None, **values: Any
) -> Settings:
    """Settings from keywords, as Mesa users build models: nested values are Hydra keys.

    ``settings(experiment="monopoly", presets={"incumbent": "giving"}, seed=3, customers={"n": 5000})``
    composes the experiment (and each firm's preset), merges the values, and validates through the same
    gate as the command line.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

    overrides = [f"experiment={experiment}"] if experiment is not None else []
    overrides += [f"policy@firms.{firm}={preset}" for firm, preset in (presets or {}).items()]
    cfg = compose(overrides)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"config error: rng = {seed!r}: allowed: an integer seed, 0 ≤ value < 2^63")
        values = {**values, "seed": seed}
    try:
        cfg = OmegaConf.merge(cfg, OmegaConf.create(values))
    except ConfigKeyError as err:
        raise ConfigError(f"config error: unknown key '{err.full_key}'") from None
    except OmegaConfBaseException as err:
        raise ConfigError(f"config error: {str(err).splitlines()[0]}") from None
    return check(cfg)


def load(overrides: list[str] | tuple[str, ...] = ()) -> Settings:
    """Compose ``conf/`` with Hydra overrides, apply a design row if set, and validate into ``Settings``."""
    return check(compose(overrides))
