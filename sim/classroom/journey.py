"""One customer's journey: a diary of their declared state, week by week, told in plain words.

The diary (``Journal``) records every state variable declared in ``sim.model.state`` (traits but
the segment excepted: they are fixed for life) for the watched customers of one world, after
every week. ``tell`` reads two consecutive weeks of a customer and says what happened to them:
incidents and how they felt, what they remembered, heard and said, their bond and trust, their
place on the ladder, and when and why they left. It reads the state; it applies no rule of the
model, so the story cannot drift from what the model did.
"""

from __future__ import annotations

import numpy as np

from ..config import CustomersConfig, MarketConfig
from ..model.market import LoyaltyMarket
from ..model.state import STATE, TRAITS
from ..model.vocabulary import Complaint, Ladder

RECORDED = tuple(v.name for v in STATE if v.name not in TRAITS or v.name == "segment")

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


def tell(
    prev: Day, cur: Day, names: list[str], cfg: CustomersConfig, market: MarketConfig, outage: np.ndarray
) -> list[str]:
    """What happened to a customer in week ``cur["week"]``, in plain words (empty: a quiet week).

    ``outage`` is each firm's outage severity that week.
    """
    if cur["identity"] != prev["identity"]:
        return ["left the market (moved away); a newcomer takes their place"]
    n_firms = len(names)
    old, new = int(prev["firm"]), int(cur["firm"])
    stayed = old == new
    said: list[str] = []
    if cur["feeling"] != 0:  # an incident, at the firm they had at the start of the week
        f = float(cur["feeling"])
        line = f"had a service incident at {names[old]}"
        if outage[old] > 0:
            line += " during the outage"
        line += f" and was {felt(f)} ({f:+.2f})"
        if f < 0 and prev["bond"] >= cfg.devoted_bond:
            line += f"; devotion forgives: their bond ({prev['bond']:.2f}) softened the blow"
        complaint = Complaint(int(cur["complaint"]))
        line += {
            Complaint.HANDLED: "; complained, and the firm put it right",
            Complaint.IGNORED: "; complained and was ignored, which hurt more",
            Complaint.SILENT: "; had a problem and said nothing",
        }.get(complaint, "")
        said.append(line)
    if stayed and new < n_firms:
        fade = 1 - cfg.peak_decay
        if cur["peak_pos"] > prev["peak_pos"] * fade + 1e-4:
            said.append(f"a new best moment to remember ({cur['peak_pos']:+.2f})")
        if cur["peak_neg"] < prev["peak_neg"] * fade - 1e-4:
            said.append(f"a new worst moment to remember ({cur['peak_neg']:+.2f})")
        if cur["tariff"] < prev["tariff"] - 1e-4:
            said.append("was told of a cheaper tariff, unasked: pays less now")
        elif cur["tariff"] > prev["tariff"] + 1e-4:
            said.append("accepted an upsell: pays more now")
        expected = prev["trust"] + cfg.trust_recovery * (cfg.trust_initial - prev["trust"])
        change = cur["trust"] - expected
        if change < -0.1:
            said.append(f"saw that the firm's claims were bigger than its acts: trust fell to {cur['trust']:.2f}")
        elif change < -0.02 and cur["tariff"] <= prev["tariff"]:
            said.append(f"got a sales call pushing an upgrade: trust fell to {cur['trust']:.2f}")
        elif change > 0.02:  # a gift: cheaper-tariff advice (above) or, at an incident, a free fix
            gift = "the fix was free, unasked: " if cur["feeling"] != 0 and cur["tariff"] >= prev["tariff"] else ""
            said.append(f"{gift}trust grew to {cur['trust']:.2f}")
        bond_change = cur["bond"] - prev["bond"] * (1 - cfg.bond_decay)
        if abs(bond_change) > 0.02:
            said.append(f"bond {'grew' if bond_change > 0 else 'weakened'} to {cur['bond']:.2f}")
    heard = cur["heard"] - (1 - market.wom_decay) * prev["heard"]
    for j in range(n_firms):
        if j == new and not stayed:
            continue  # what was heard of the firm joined became the expectation of it
        if heard[j] > 1e-4:
            said.append(f"heard good things about {names[j]}")
        elif heard[j] < -1e-4:
            said.append(f"heard others criticise {names[j]}" + (" (their own firm)" if j == old else ""))
    if cur["spoke"]:
        said.append(_spoke(prev, cur, names, cfg))
    if not stayed:
        said.append(_moved(prev, cur, names, cfg))
    elif cur["state"] != prev["state"]:
        said.append(f"became {STATE_WORDS[Ladder(int(cur['state']))]}")
    return said


def _spoke(prev: Day, cur: Day, names: list[str], cfg: CustomersConfig) -> str:
    old, n_firms = int(prev["firm"]), len(names)
    if old >= n_firms:
        grudge = int(cur["grudge_firm"])
        return f"vented about {names[grudge]}, the firm they left" if grudge < n_firms else "talked about firms"
    # The talk came before any change of firm: the state it came from is this week's if they stayed, else last week's.
    state, f = Ladder(int(cur["state"] if cur["firm"] == prev["firm"] else prev["state"])), float(cur["feeling"])
    if abs(f) > cfg.talk_threshold:
        good = f > 0
    elif state in (Ladder.DEVOTED, Ladder.LOYAL, Ladder.DETRACTOR):
        good = state is not Ladder.DETRACTOR
    else:
        good = cur["spoke_feeling"] >= 0
    return f"told others {'good things about' if good else 'what went wrong at'} {names[old]}"


def _moved(prev: Day, cur: Day, names: list[str], cfg: CustomersConfig) -> str:
    """A change of firm, and why, as far as the customer's state shows it."""
    old, new, n_firms = int(prev["firm"]), int(cur["firm"]), len(names)
    why: list[str] = []
    if new < n_firms:
        if int(cur["referred"]) == new:
            why.append(f"someone recommended {names[new]}")
        if cur["discount_left"] > 0:
            why.append(f"{names[new]}'s welcome discount")
    if old < n_firms:
        if cur["feeling"] < 0:
            why.append("a bad experience this week")
        if prev["remembered"] < 0 or cur["remembered"] < 0:
            worst = min(float(prev["peak_neg"]), float(cur["peak_neg"]))
            why.append(
                f"bad memories (remembered experience {float(prev['remembered']):+.2f}, worst moment {worst:+.2f})"
            )
        if cur["alarmed"]:
            why.append(f"heard others criticise {names[old]}")
        state = Ladder(int(prev["state"]))
        if state is Ladder.CUSTOMER:
            why.append("merely satisfied: nothing held them")
        elif state is Ladder.LOYAL:
            why.append("loyal on value only: no bond held them")
        elif state is Ladder.DEVOTED:
            why.append(f"even their bond ({float(prev['bond']):.2f}) did not hold them")
    if not why:
        why.append("another offer looked better that week")
    if old >= n_firms:
        what = f"joined {names[new]}"
    elif new >= n_firms:
        what = f"left {names[old]} and buys from no firm"
    else:
        what = f"left {names[old]} for {names[new]}"
    return f"{what} ({'; '.join(why)})"


def story(days: list[Day], names: list[str], cfg: CustomersConfig, market: MarketConfig, outages) -> list[tuple]:
    """The eventful weeks of a diary, oldest first: (week, [what happened]). ``outages(week)``: severities."""
    out = [(days[0]["week"], [f"{where(days[0], names)}; bond {days[0]['bond']:.2f}, trust {days[0]['trust']:.2f}"])]
    for prev, cur in zip(days, days[1:], strict=False):
        said = tell(prev, cur, names, cfg, market, outages(cur["week"]))
        if said:
            out.append((cur["week"], said))
    return out


def departures(days: list[Day], names: list[str], cfg: CustomersConfig) -> list[tuple[int, str]]:
    """Every change of firm in a diary: (week, what and why)."""
    out = []
    for prev, cur in zip(days, days[1:], strict=False):
        if cur["identity"] != prev["identity"]:
            out.append((cur["week"], "left the market (moved away)"))
        elif cur["firm"] != prev["firm"]:
            out.append((cur["week"], _moved(prev, cur, names, cfg)))
    return out


def pick(
    model: LoyaltyMarket, kind: Ladder, firm: int, prefer: np.ndarray, exclude: list[int], rng: np.random.Generator
) -> int | None:
    """A customer in ladder state ``kind`` at ``firm``, from ``prefer`` (the drawn sample) if it has one."""
    c = model.customers
    ok = (c.state == kind) & (c.firm == firm)
    ok[[e for e in exclude if e is not None]] = False
    inside = prefer[ok[prefer]]
    pool = inside if len(inside) else np.flatnonzero(ok)
    return int(rng.choice(pool)) if len(pool) else None
