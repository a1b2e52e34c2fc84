"""One customer's journey: a diary of their declared state, week by week, told in plain words.

The diary (``Journal``) records every state variable declared in ``sim.model.state`` (traits but
the segment excepted: they are fixed for life) for the watched customers of one world, after
every week; among them ``happened``, what the rules recorded as they applied (``Happened``: an
incident, a free fix, a complaint, an upsell call, a word said or heard, a departure...). ``told``
tells a customer's week from that record, with the values it left (how they felt, their bond and
trust, where they stand): it applies no rule of the model and guesses nothing from differences of
state, so a new mechanism is told as soon as its rule records what it did.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..model.market import LoyaltyMarket
from ..model.state import STATE, TRAITS
from ..model.vocabulary import Complaint, Happened, Ladder

RECORDED = tuple(v.name for v in STATE if v.name not in TRAITS or v.name in ("segment", "fit"))  # fit may grow

STATE_WORDS = {
    Ladder.PROSPECT: "a prospect, buying from no firm",
    Ladder.CUSTOMER: "merely satisfied",
    Ladder.LOYAL: "loyal (on value)",
    Ladder.DEVOTED: "devoted",
    Ladder.DETRACTOR: "a detractor",
    Ladder.DEFECTED: "gone, holding a grudge",
}
KINDS = {  # what a class asks to be shown: "show me a ..."
    "devoted": Ladder.DEVOTED,
    "loyal": Ladder.LOYAL,
    "merely satisfied": Ladder.CUSTOMER,
    "detractor": Ladder.DETRACTOR,
}
SEGMENT_WORDS = {
    "relationship": "a relationship seeker",
    "mainstream": "a mainstream customer",
    "deal": "a deal seeker",
}

Day = dict  # one customer's recorded state in one week: {"week": w, name: value, ...}


class Journal:
    """The declared state of the watched customers of one world, after every week."""

    def __init__(self, model: LoyaltyMarket, watched: np.ndarray):
        self.model = model
        self.slots = np.unique(np.asarray(watched, np.int64))
        self.since: dict[int, int] = {}  # customers watched after week 0: the week watching began
        self.pages: list[tuple[int, np.ndarray, dict[str, np.ndarray]]] = []
        self.record()

    def watch(self, slot: int) -> None:
        """Watch one more customer from now on (this week's state is recorded at once)."""
        if slot in self.slots:
            return
        self.slots = np.union1d(self.slots, [slot])
        self.since[slot] = self.model.steps
        week, _, _ = self.pages[-1]
        if week == self.model.steps:
            self.pages.pop()  # replace this week's page by one that includes the newcomer
        self.record()

    def record(self) -> None:
        c = self.model.customers
        values = {name: getattr(c, name)[self.slots].copy() for name in RECORDED}
        values["remembered"] = c.remembered[self.slots]
        self.pages.append((self.model.steps, self.slots, values))

    def diary(self, slot: int) -> list[Day]:
        """The customer's weeks, from the first watched, up to the week they left the market (if they did)."""
        days: list[Day] = []
        for week, slots, values in self.pages:
            at = int(np.searchsorted(slots, slot))
            if at == len(slots) or slots[at] != slot:
                continue
            day = {name: v[at] for name, v in values.items()} | {"week": week}
            if days and day["identity"] != days[0]["identity"]:
                days.append(day)  # the week they left: a newcomer took their place
                break
            days.append(day)
        return days


def felt(x: float) -> str:
    if x >= 0.3:
        return "delighted"
    if x >= 0.05:
        return "pleased"
    if x > -0.05:
        return "indifferent"
    if x > -0.3:
        return "disappointed"
    return "angry"


def where(day: Day, names: list[str]) -> str:
    """Where the customer stands, in words: "devoted at giving", "a prospect, buying from no firm"."""
    state, firm = Ladder(int(day["state"])), int(day["firm"])
    if state in (Ladder.PROSPECT, Ladder.DEFECTED):
        grudge = int(day["grudge_firm"])
        return f"gone from {names[grudge]}, holding a grudge" if state is Ladder.DEFECTED else STATE_WORDS[state]
    return f"{STATE_WORDS[state]} at {names[firm]}"


class Told(NamedTuple):
    """One thing told of a customer's week: the recorded event it tells (or what else: "ladder"), in words."""

    event: Happened | str
    text: str


# The events a week's story tells, each once (the rest are told inside these: how a complaint ended, which firm was
# joined and why).
TOLD = (
    Happened.LEFT_MARKET,
    Happened.INCIDENT,
    Happened.SAW_THROUGH,
    Happened.ADVISED,
    Happened.UPSELL_CALL,
    Happened.FOUND_OUT,
    Happened.GRATEFUL,
    Happened.NEW_BEST,
    Happened.NEW_WORST,
    Happened.HEARD_PRAISE,
    Happened.HEARD_CRITICISM,
    Happened.DEFENDED,
    Happened.PRAISED,
    Happened.CRITICISED,
    Happened.VENTED,
    Happened.LEFT_FIRM,
    Happened.JOINED,
)


def told(prev: Day, cur: Day, names: list[str], outage: np.ndarray, lines=None) -> list[Told]:
    """What happened to a customer in week ``cur["week"]`` (their record, ``happened``), in plain words; empty: a
    quiet week. ``prev`` is their state the week before; ``outage`` each firm's outage severity that week;
    ``lines`` the customers' settings, whose ladder lines say why a step on the ladder happened."""
    events = int(cur["happened"])

    def did(what: Happened) -> bool:
        return bool(events & what)

    if did(Happened.LEFT_MARKET):
        return [Told(Happened.LEFT_MARKET, "left the market (moved away); a newcomer takes their place")]
    n_firms = len(names)
    old, new = int(prev["firm"]), int(cur["firm"])
    out: list[Told] = []
    if did(Happened.INCIDENT):  # at the firm they had at the start of the week
        f = float(cur["feeling"])
        line = f"had a service incident at {names[old]}" + (" during the outage" if outage[old] > 0 else "")
        line += " and the fix was free, unasked" if did(Happened.FREE_FIX) else ""
        if did(Happened.SELF_SERVED):
            line += "; sorted it out without calling"
        elif did(Happened.CALLED_AGAIN):
            line += "; called, and had to call again: not fixed the first time"
        elif did(Happened.CALLED):
            line += "; called the firm"
        line += f"; was {felt(f)} ({f:+.2f})"
        if f < 0 and Ladder(int(prev["state"])) is Ladder.DEVOTED:
            line += f"; devotion forgives: their bond ({prev['bond']:.2f}) softened the blow"
        line += {
            Complaint.HANDLED: "; complained, and the firm put it right",
            Complaint.IGNORED: "; complained and was ignored, which hurt more",
            Complaint.SILENT: "; had a problem and said nothing",
        }.get(Complaint(int(cur["complaint"])), "")
        out.append(Told(Happened.INCIDENT, line))
    if did(Happened.SAW_THROUGH):
        out.append(Told(Happened.SAW_THROUGH, "saw that the firm's claims were bigger than its acts"))
    if did(Happened.ADVISED):
        took = did(Happened.MOVED_TO_FIT) and not did(Happened.FOUND_OUT)
        what = "moved to it: pays less now" if took else "stayed on their tariff, glad to be told"
        out.append(Told(Happened.ADVISED, f"was told of a cheaper tariff, unasked, and {what}"))
    if did(Happened.UPSELL_CALL):
        took = "took it: pays more now" if did(Happened.UPSOLD) else "said no"
        out.append(Told(Happened.UPSELL_CALL, f"got a sales call pushing a bigger tariff, and {took}"))
    if did(Happened.FOUND_OUT):
        line = f"found out they pay more than they need (tariff {float(prev['tariff']):.2f} for a need of "
        line += f"{float(cur['fit']):.2f})"
        if did(Happened.MOVED_TO_FIT):
            line += "; moved to the tariff that fits"
        out.append(Told(Happened.FOUND_OUT, line))
    if did(Happened.GRATEFUL):
        out.append(Told(Happened.GRATEFUL, "grateful for the gift: bond and trust grew"))
    if did(Happened.NEW_BEST):
        out.append(Told(Happened.NEW_BEST, f"a new best moment to remember ({float(cur['peak_pos']):+.2f})"))
    if did(Happened.NEW_WORST):
        out.append(Told(Happened.NEW_WORST, f"a new worst moment to remember ({float(cur['peak_neg']):+.2f})"))
    if did(Happened.HEARD_PRAISE):
        out.append(Told(Happened.HEARD_PRAISE, f"heard good things about {names[int(cur['referred'])]}"))
    if did(Happened.HEARD_CRITICISM):
        whom = f"{names[old]} (their own firm)" if cur["alarmed"] else "a firm they do not buy from"
        out.append(Told(Happened.HEARD_CRITICISM, f"heard others criticise {whom}"))
    if did(Happened.DEFENDED):
        out.append(Told(Happened.DEFENDED, f"answered criticism of {names[old]}, their firm"))
    if did(Happened.PRAISED):
        out.append(Told(Happened.PRAISED, f"told others good things about {names[old]}"))
    if did(Happened.CRITICISED):
        out.append(Told(Happened.CRITICISED, f"told others what went wrong at {names[old]}"))
    if did(Happened.VENTED):
        out.append(Told(Happened.VENTED, f"vented about {names[int(prev['grudge_firm'])]}, the firm they left"))
    if did(Happened.LEFT_FIRM) or did(Happened.JOINED):
        out.append(Told(Happened.LEFT_FIRM if did(Happened.LEFT_FIRM) else Happened.JOINED, moved(prev, cur, names)))
    elif new < n_firms and cur["state"] != prev["state"]:
        why = crossed(prev, cur, lines) if lines is not None else ""
        out.append(Told("ladder", f"became {STATE_WORDS[Ladder(int(cur['state']))]}{why} ({standing(cur)})"))
    return out


def crossed(prev: Day, cur: Day, lines) -> str:
    """Which of the ladder's lines the customer's recorded values crossed this week (``classify``: a detractor by
    memory, devoted by bond, loyal by value for money), in words: a step on the ladder with no event has a reason."""
    out = []
    for key, line, words in (
        ("remembered", lines.detractor_memory, ("bad memories faded", "bad memories took hold")),
        ("bond", lines.devoted_bond, ("the bond grew strong enough", "the bond weakened")),
        ("value_margin", lines.loyal_margin, ("the value for money pulled ahead", "the value for money slipped")),
    ):
        before, now = float(prev[key]), float(cur[key])
        if (before < line) != (now < line):
            rose = now >= line
            side = "above" if rose else "below"
            out.append(f"{words[0] if rose else words[1]}: {key.replace('_', ' ')} {side} {line:+.2f}")
    return ": " + "; ".join(out) if out else ""


def tell(prev: Day, cur: Day, names: list[str], outage: np.ndarray, lines=None) -> list[str]:
    """What happened to a customer in week ``cur["week"]``, in plain words (empty: a quiet week)."""
    return [t.text for t in told(prev, cur, names, outage, lines)]


def standing(day: Day) -> str:
    """The values a customer's place on the ladder is read off: remembered experience, bond, value for money."""
    return (
        f"remembered experience {float(day['remembered']):+.2f}, bond {float(day['bond']):.2f}, "
        f"value for money against the best alternative {float(day['value_margin']):+.2f}"
    )


def moved(prev: Day, cur: Day, names: list[str]) -> str:
    """A change of firm, and what prompted it, as the customer's record says."""
    events = int(cur["happened"])
    old, new, n_firms = int(prev["firm"]), int(cur["firm"]), len(names)
    why: list[str] = []
    if events & Happened.JOINED_BY_REFERRAL:
        why.append(f"someone recommended {names[new]}")
    elif events & Happened.JOINED_BY_AD:
        why.append(f"{names[new]}'s ad caught their eye")
    if events & Happened.TOOK_DISCOUNT:
        decided = ", which decided it" if events & Happened.DISCOUNT_DECIDED else ""
        why.append(f"{names[new]}'s welcome discount{decided}")
    if events & Happened.LEFT_FIRM:
        if events & Happened.INCIDENT and cur["feeling"] < 0:
            why.append("a bad experience this week")
        if events & Happened.LEFT_UNHAPPY:
            why.append(f"bad memories (remembered experience {float(prev['remembered']):+.2f}): left holding a grudge")
        if cur["alarmed"]:
            why.append(f"heard others criticise {names[old]}")
        why.append(
            {
                Ladder.CUSTOMER: "merely satisfied: nothing held them",
                Ladder.LOYAL: "loyal on value only: no bond held them",
                Ladder.DEVOTED: f"even their bond ({float(prev['bond']):.2f}) did not hold them",
                Ladder.DETRACTOR: "a detractor already",
            }[Ladder(int(prev["state"]))]
        )
    if not why:
        why.append("another offer looked better that week")
    if old >= n_firms:
        what = f"joined {names[new]}"
    elif new >= n_firms:
        what = f"left {names[old]} and buys from no firm"
    else:
        what = f"left {names[old]} for {names[new]}"
    return f"{what} ({'; '.join(why)})"


def story(days: list[Day], names: list[str], outages, lines=None) -> list[tuple]:
    """The eventful weeks of a diary, oldest first: (week, [what happened]). ``outages(week)``: severities;
    ``lines``: the customers' settings (the ladder's lines), to say why a step on the ladder happened."""
    out = [(days[0]["week"], [f"{where(days[0], names)}; bond {days[0]['bond']:.2f}, trust {days[0]['trust']:.2f}"])]
    for prev, cur in zip(days, days[1:], strict=False):
        said = tell(prev, cur, names, outages(cur["week"]), lines)
        if said:
            out.append((cur["week"], said))
    return out


def departures(days: list[Day], names: list[str]) -> list[tuple[int, str]]:
    """Every change of firm in a diary: (week, what and why)."""
    out = []
    for prev, cur in zip(days, days[1:], strict=False):
        events = int(cur["happened"])
        if events & Happened.LEFT_MARKET:
            out.append((cur["week"], "left the market (moved away)"))
        elif events & (Happened.LEFT_FIRM | Happened.JOINED):
            out.append((cur["week"], moved(prev, cur, names)))
    return out


def pick(
    model: LoyaltyMarket,
    kind: Ladder,
    firm: int,
    prefer: np.ndarray,
    exclude: list[int],
    rng: np.random.Generator,
    settled: bool = False,
) -> int | None:
    """A customer in ladder state ``kind`` at ``firm``, from ``prefer`` (the drawn sample) if it has one; a
    ``settled`` one (a lesson's: the longest with the firm, so the likeliest still there when the lesson reads
    their card) or any of them."""
    c = model.customers
    ok = (c.state == kind) & (c.firm == firm)
    ok[[e for e in exclude if e is not None]] = False
    inside = prefer[ok[prefer]]
    pool = inside if len(inside) else np.flatnonzero(ok)
    if settled and len(pool):
        pool = pool[c.tenure[pool] == c.tenure[pool].max()]
    return int(rng.choice(pool)) if len(pool) else None
