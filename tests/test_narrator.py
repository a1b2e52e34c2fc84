"""What happened to each customer is recorded by the rules (``happened``), agrees with the books, and is what the
classroom's narrator tells, event for event."""

import numpy as np
import pytest
from conftest import settings

import sim
from sim.classroom.journey import TOLD, Journal, told
from sim.model.shocks import conditions_at
from sim.model.vocabulary import Count, Happened

# Each recorded event, and the weekly count it is one of, by the firm it concerns ("before": the firm at the start
# of the week; "after": at its end; "devoted": the firm the defender is devoted to).
BOOKED = {
    Happened.LEFT_MARKET: (Count.DEPARTURES, "before"),
    Happened.INCIDENT: (Count.INCIDENTS, "before"),
    Happened.FREE_FIX: (Count.FREE_FIXES, "before"),
    Happened.SAW_THROUGH: (Count.DETECTIONS, "before"),
    Happened.ADVISED: (Count.ADVICE_GIVEN, "before"),
    Happened.UPSELL_CALL: (Count.UPSELL_CONTACTS, "before"),
    Happened.UPSOLD: (Count.UPSELLS, "before"),
    Happened.LEFT_FIRM: (Count.DEFECTIONS, "before"),
    Happened.JOINED: (Count.ACQUIRED_ORGANIC, "after"),  # all channels: see below
    Happened.JOINED_BY_REFERRAL: (Count.ACQUIRED_REFERRAL, "after"),
    Happened.JOINED_BY_AD: (Count.ACQUIRED_ADVERTISING, "after"),
    Happened.TOOK_DISCOUNT: (Count.ACQUIRED_ON_DISCOUNT, "after"),
    Happened.DISCOUNT_DECIDED: (Count.ACQUIRED_BY_DISCOUNT, "after"),
    Happened.SELF_SERVED: (Count.SELF_SERVED, "before"),
    Happened.FOUND_OUT: (Count.DISCOVERIES, "before"),
}


def _by_firm(firm: np.ndarray, mask: np.ndarray, n_firms: int) -> np.ndarray:
    return np.bincount(firm[mask], minlength=n_firms + 1)[:n_firms]


@pytest.mark.parametrize("engine", ["compiled", "agents"])
def test_the_record_of_every_customer_agrees_with_the_books(engine):
    """Every event a rule records is one of the week's counts: the record misses nothing and adds nothing."""
    n = 3000 if engine == "compiled" else 400
    overrides = ("experiment=devotion_under_outage", "market.shocks.0.week=8", f"engine={engine}", f"customers.n={n}")
    economics = ("customers.discovery=0.01", "customers.self_service=0.8", "customers.advice_uptake=0.3")
    m = sim.LoyaltyMarket(settings(*overrides, "market.reach=0.2", *economics))
    c, F = m.customers, len(m.firms)
    seen = dict.fromkeys(BOOKED, 0)
    for _ in range(30):
        before = c.firm.astype(np.int64)
        m.step()
        row = m.timeseries().query(f"week == {m.week}").set_index("firm").loc[m.names]
        after, happened = c.firm.astype(np.int64), c.happened
        for event, (count, when) in BOOKED.items():
            did = (happened & event) > 0
            seen[event] += int(did.sum())
            column = "acquisitions" if event is Happened.JOINED else count.name.lower()
            expected = row[column].to_numpy()
            got = _by_firm(before if when == "before" else after, did, F)
            assert (got == expected).all(), (event.name, m.week, got, expected)
        defended = (happened & Happened.DEFENDED) > 0
        complained = _by_firm(before, (happened & Happened.COMPLAINED) > 0, F)  # one may complain twice a week
        assert (complained <= row.complaints.to_numpy()).all() and (complained > 0).sum() == (row.complaints > 0).sum()
        defenses = row.defenses.sum()  # words answered: a defender may answer more than one
        assert (defended.sum() == 0) if defenses == 0 else (0 < defended.sum() <= defenses)
        speakers = (happened & (Happened.PRAISED | Happened.CRITICISED | Happened.VENTED)) > 0
        assert (speakers == c.spoke).all()
        moved = _by_firm(before, (happened & Happened.MOVED_TO_FIT) > 0, F)
        assert (moved == row.advice_taken.to_numpy() + row.refits.to_numpy()).all()
    assert all(seen[e] > 0 for e in (Happened.INCIDENT, Happened.LEFT_FIRM, Happened.JOINED, Happened.UPSELL_CALL))


def test_the_narrator_tells_every_recorded_event_of_a_followed_customer_through_an_outage():
    """Followed customers through a month-long outage: each told event is one the engine recorded for them that
    week, and each recorded event is told, once."""
    m = sim.LoyaltyMarket(settings("experiment=lesson_outage", "customers.n=3000", "customers.discovery=0.01"))
    followed = np.arange(0, 3000, 15)
    journal = Journal(m, followed)
    for _ in range(m.settings.market.shocks[0].week + 12):
        m.step()
        journal.record()
    told_events = dict.fromkeys(TOLD, 0)
    for slot in followed:
        days = journal.diary(int(slot))
        for prev, cur in zip(days, days[1:], strict=False):
            outage = conditions_at(m.shocks, cur["week"], m.names, m.settings.market.reach).outage
            items = told(prev, cur, m.names, outage)
            events = [t.event for t in items if isinstance(t.event, Happened)]
            assert len(events) == len(set(events)), (slot, cur["week"], events)
            recorded = {e for e in TOLD if int(cur["happened"]) & e}
            if Happened.LEFT_FIRM in recorded:
                recorded.discard(Happened.JOINED)  # a switch is told once: left one firm for another
            if Happened.LEFT_MARKET in recorded:
                recorded = {Happened.LEFT_MARKET}  # the week they moved away: the diary ends
            assert set(events) == recorded, (slot, cur["week"], events, recorded)
            for e in events:
                told_events[e] += 1
            # What is told of an event agrees with the state the week left.
            if Happened.INCIDENT in recorded:
                assert cur["feeling"] != 0
            flags = int(cur["happened"])
            if flags & Happened.LEFT_FIRM:
                continue  # a new relationship, a new tariff
            if flags & Happened.UPSOLD and not flags & Happened.MOVED_TO_FIT:
                assert cur["tariff"] > prev["tariff"]
            if flags & Happened.MOVED_TO_FIT and not flags & Happened.UPSOLD:
                assert cur["tariff"] < prev["tariff"] and cur["tariff"] == cur["fit"]
            if Happened.JOINED in events or Happened.LEFT_FIRM in events:
                assert cur["firm"] != prev["firm"]
    events = (Happened.INCIDENT, Happened.LEFT_FIRM, Happened.HEARD_PRAISE, Happened.PRAISED, Happened.FOUND_OUT)
    for e in events:
        assert told_events[e] > 0, e


def test_a_step_on_the_ladder_without_an_event_says_which_line_was_crossed():
    """A customer who stays with their firm and changes ladder state crossed one of ``classify``'s lines (memory,
    bond, value for money): the narrator says which, from the recorded values, and it agrees with the new state."""
    from sim.model.vocabulary import Ladder

    m = sim.LoyaltyMarket(settings("experiment=lesson_outage", "customers.n=2000", "market.shocks.0.week=20"))
    followed = np.arange(0, 2000, 7)
    journal = Journal(m, followed)
    for _ in range(40):
        m.step()
        journal.record()
    lines, steps = m.settings.customers, 0
    for slot in followed:
        days = journal.diary(int(slot))
        for prev, cur in zip(days, days[1:], strict=False):
            for t in told(prev, cur, m.names, np.zeros(len(m.names)), lines):
                if t.event != "ladder":
                    continue
                steps += 1
                reasons = ("memories faded", "memories took hold", "bond grew", "bond weakened", "value for money p")
                assert any(r in t.text for r in reasons) or "value for money slipped" in t.text, t.text
                was, now = Ladder(int(prev["state"])), Ladder(int(cur["state"]))
                if now is Ladder.DETRACTOR:
                    assert "bad memories took hold" in t.text, t.text
                if was is Ladder.DETRACTOR:
                    assert "bad memories faded" in t.text, t.text
    assert steps > 20
