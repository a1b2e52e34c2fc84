"""The classroom dashboard's logic, without a browser: twin worlds, whole presets, a customer's story, lessons."""

import numpy as np
import pytest

from sim.classroom.journey import KINDS, departures, story
from sim.classroom.lessons import lessons
from sim.classroom.room import Classroom
from sim.classroom.worlds import Choice, Setup, Twins, connected_sample, experiment_settings, preset_levers
from sim.config import LEVERS, load


def levers(firm) -> dict:
    return {k: getattr(firm.levers, k) for k in LEVERS}


def test_twin_worlds_share_people_network_and_incidents_and_differ_only_by_firm_1():
    twins = Twins(Setup(customers=1000))
    a, b = twins.worlds
    np.testing.assert_array_equal(a.network.indices, b.network.indices)
    np.testing.assert_array_equal(a.customers.firm, b.customers.firm)  # the same week-0 customers
    assert levers(a.firms[0]) != levers(b.firms[0])
    assert levers(a.firms[1]) == levers(b.firms[1])
    twins.step(3)
    twins.trigger("outage")  # the same outage in both worlds, from next week
    twins.step(4)
    assert [(s.week, s.firm) for s in a.shocks] == [(s.week, s.firm) for s in b.shocks] == [(4, a.names[0])]
    np.testing.assert_array_equal(a.customers.identity, b.customers.identity)  # the same people come and go
    first = twins.luck[0]
    assert first.same_firm > 800 and first.shared > 0  # 90% buy at week 0
    assert first.incidents[0] == first.incidents[1]  # week 1: everyone still with the same firm in both worlds
    assert all(luck.differ == 0 for luck in twins.luck)  # same firm, same week: the same incidents
    before, during = twins.luck[2], twins.luck[3]  # week 3, week 4 (the outage at firm 1 in both worlds)
    assert during.incidents[0] > 2 * before.incidents[0] and during.incidents[1] > 2 * before.incidents[1]


def test_each_firm_runs_its_preset_whole_under_its_name():
    setup = Setup(first=Choice.of("taking"), twin=Choice.of("giving"), others=(Choice.of("giving"),), customers=300)
    twins = Twins(setup)
    a, b = twins.worlds
    assert levers(a.firms[0]) == preset_levers("taking") and levers(a.firms[1]) == preset_levers("giving")
    assert levers(b.firms[0]) == preset_levers("giving")
    # firm 2 is "giving #2" in both worlds: a firm keeps its label across the twins
    assert twins.labels == (["taking", "giving #2"], ["giving #1", "giving #2"])
    assert twins.title(0) == "World A: firm 1's policy is taking"
    fake = Twins(Setup(first=Choice.of("fake_love"), customers=300))
    assert fake.labels == (["fake love", "taking #2"], ["taking #1", "taking #2"])  # in words
    # A moved slider changes firm 1's lever in world A only; world B keeps its preset whole.
    moved = Twins(Setup(levers=((0, "generosity", 0.9), (1, "upsell", 0.2)), customers=300))
    assert moved.worlds[0].firms[0].levers.generosity == 0.9
    assert levers(moved.worlds[1].firms[0]) == preset_levers("taking")
    assert moved.worlds[0].firms[1].levers.upsell == moved.worlds[1].firms[1].levers.upsell == 0.2


def test_controls_leave_presets_whole_and_follow_the_chosen_preset():
    pytest.importorskip("solara")
    from sim.classroom.views import draft_of, setup_of

    setup = Setup()
    choices = {p: Choice.of(p) for p in ("giving", "taking", "fake_love")}
    draft = draft_of(setup)
    assert (draft["generosity"], draft["speed"]) == (0.5, 0.8)  # the giving preset's, as built
    assert setup_of(draft, setup, choices) == setup  # untouched controls change nothing
    taking = {**draft, "first": "taking", "generosity": 0.0, "speed": 0.4}  # what choosing "taking" does
    chosen = setup_of(taking, setup, choices)
    assert chosen.first == Choice.of("taking") and chosen.levers == ()  # the whole preset, no lever changes
    assert setup_of({**taking, "generosity": 0.3}, setup, choices).levers == ((0, "generosity", 0.3),)


def test_a_followed_customer_has_a_week_by_week_story():
    room = Classroom(Setup(customers=1000))
    room.twins.step(40)
    who = room.follow_kind("devoted", world=0, firm=0)
    assert who is not None and room.cards[0] == (0, who)
    assert who in room.twins.sample  # picked from the drawn network, so their whole diary is there
    room.twins.trigger("outage")
    room.twins.step(12)
    days = room.twins.journals[0].diary(who)
    assert [d["week"] for d in days] == list(range(53))
    assert len({round(float(d["bond"]), 3) for d in days}) > 5  # their state changes
    tw = room.twins
    told = story(days, tw.labels[0], lambda week: tw.outage(0, week))
    text = " ".join(" ".join(said) for _, said in told)
    assert "incident" in text and "during the outage" in text
    # Someone in the sample changed firm: the story says when and why.
    moved = []
    for slot in tw.sample[:200]:
        moved += departures(tw.journals[0].diary(int(slot)), tw.labels[0])
    assert moved and all(text.startswith(("left", "joined")) and "(" in text for _, text in moved)
    # A customer outside the drawn sample is followed from now on, in both worlds.
    outside = int(np.setdiff1d(np.arange(1000), tw.sample)[0])
    room.follow(1, outside)
    tw.step(2)
    assert [d["week"] for d in tw.journals[1].diary(outside)] == [52, 53, 54]
    assert [d["week"] for d in tw.journals[0].diary(outside)] == [52, 53, 54]


def test_show_me_picks_the_kind_asked_for():
    room = Classroom(Setup(customers=1000))
    room.twins.step(30)
    for card, kind in enumerate(KINDS):
        who = room.follow_kind(kind, world=0, firm=0, card=card % 2)
        if who is not None:
            assert room.twins.worlds[0].customers.state[who] == KINDS[kind]
            assert room.twins.worlds[0].customers.firm[who] == 0
    assert room.follow_kind("devoted", world=1, firm=0) is None  # a taking firm has no devoted customers
    assert "No devoted customer at taking #1 in world B" in room.message


def test_the_network_view_draws_a_connected_sample():
    twins = Twins(Setup(customers=2000))
    net, sample = twins.worlds[0].network, twins.sample
    assert len(sample) == 400 and len(np.unique(sample)) == 400
    g = net.to_networkx(sample)
    import networkx as nx

    assert nx.is_connected(g)
    assert twins.layout.shape == (400, 2) and twins.layout.min() >= 0 and twins.layout.max() <= 1
    assert len(connected_sample(net, 0, 5000)) == 2000  # a small market is drawn whole


@pytest.mark.parametrize("key", list(lessons()))
def test_a_lesson_is_an_experiment_and_its_world_a_is_the_experiment_file(key):
    lesson = lessons()[key]
    s = experiment_settings(lesson.experiment)
    assert s.experiment.startswith("lesson_")
    first = next(iter(s.firms.values()))
    assert first.policy == lesson.first.label and levers(first) == lesson.first.values  # python -m sim runs world A
    assert lesson.twin.values != lesson.first.values
    for firm in list(s.firms.values())[1:]:  # the other firms are whole presets
        assert levers(firm) == preset_levers(firm.policy)
    assert 3 <= len(lesson.steps) <= 8 and all(step.say for step in lesson.steps)
    assert load([f"experiment={lesson.experiment}"]).experiment == lesson.experiment


@pytest.mark.parametrize("key", list(lessons()))
def test_a_lesson_can_be_clicked_through_and_its_narration_holds(key):
    """Every claim of every step holds on the lesson's own run, and the customers a step follows are still with
    their firm at the steps that read their cards."""
    room = Classroom()
    room.load_lesson(key)
    lesson, weeks, followed, checked = room.lesson, 0, {}, 0
    for i, step in enumerate(lesson.steps):
        assert room.step_index == i
        room.act()
        weeks += step.run
        assert room.twins.week == weeks
        if step.follow:
            assert all(card is not None for card in room.cards[: len(step.follow)]), room.message
            followed = {
                room.cards[c]: (f.firm - 1, room.twins.worlds[room.cards[c][0]].customers.identity[room.cards[c][1]])
                for c, f in enumerate(step.follow)
            }
        if step.look == "customers":
            for (world, slot), (firm, who) in followed.items():
                people = room.twins.worlds[world].customers
                assert people.identity[slot] == who and people.firm[slot] == firm, (key, i + 1, slot)
        for claim in step.claims:
            assert claim.holds(room.twins.history, room.twins.week), (key, i + 1, claim.text)
            checked += 1
        room.go(1)
    assert room.step_index == len(lesson.steps) - 1
    assert checked >= 3  # every lesson says something about its run, and it is checked


def test_a_claim_reads_the_run_and_refuses_what_is_not_a_statement():
    from sim.classroom.lessons import Claim

    history = (
        [{"customers": [100, 50]}, {"customers": [80, 60]}],  # world A, weeks 0 and 1
        [{"customers": [100, 50]}, {"customers": [60, 80]}],  # world B
    )
    kept = Claim("A1.customers / A1.customers@0 > B1.customers / B1.customers@0")
    assert kept.holds(history, 1) and not kept.holds(history, 0)
    assert Claim("A2.customers == 60 and B2.customers@0 == 50").holds(history, 1)
    for bad in ("A1.customers > __import__('os')", "A1.loyalty > 0", "C1.customers > 0", "A1.customers > f()"):
        with pytest.raises(ValueError, match="claim"):
            Claim(bad)


PREPARED_CHECK = """
from numba.core.registry import CPUDispatcher
from sim.classroom.worlds import Setup, Twins
from sim.model import compiled
from sim.model.market import prepare

def built():  # every kernel's signatures compiled, or loaded from the cache, in this process
    return {(n, s) for n, k in vars(compiled).items() if isinstance(k, CPUDispatcher) for s in k.signatures}

prepare()
before = built()
twins = Twins(Setup(customers=300))
twins.step(2)
for moment in ("outage", "price_cut", "recession", "voice"):
    twins.trigger(moment)
    twins.step(1)
print(len(before), sorted(built() - before))
"""


def test_the_simulator_is_prepared_before_a_class_needs_it():
    """The server prepares the compiled kernels when it starts (a fresh process here), so no week of a class
    waits for the compiler."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PREPARED_CHECK], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    ready, late = done.stdout.split(" ", 1)
    assert int(ready) > 10 and late.strip() == "[]"  # nothing left to build for a class's week


def test_rooms_have_short_codes_and_a_server_keeps_the_latest(monkeypatch):
    from sim.classroom import room as rooms

    class Empty:  # a room's code and key without its two markets: the registry is what is tested
        def __init__(self, code: str, key: str):
            self.code, self.key = code, key

    monkeypatch.setattr(rooms, "Classroom", Empty)
    monkeypatch.setattr(rooms, "_ROOMS", type(rooms._ROOMS)())
    first = rooms.open_room()
    assert len(first.code) == rooms.CODE_LENGTH and set(first.code) <= set(rooms.LETTERS) and first.key
    assert not set("IO") & set(rooms.LETTERS)  # read aloud, typed on a phone
    assert rooms.find_room(f" {first.code.lower()} ") is first  # any case, stray spaces
    assert rooms.find_room("") is None and rooms.find_room("ZZZZZ") is None
    later = [rooms.open_room() for _ in range(rooms.KEPT)]
    assert rooms.find_room(first.code) is None  # the oldest went first
    assert all(rooms.find_room(r.code) is r for r in later) and len({r.key for r in later}) == rooms.KEPT


@pytest.mark.slow  # with the dashboard's extra, which the slow run installs
def test_a_moment_pressed_twice_strikes_once_and_the_lever_table_shows_the_cut_price():
    pytest.importorskip("solara")
    from sim.classroom.views import levers_html

    twins = Twins(Setup(customers=300))
    twins.step(2)
    said = twins.trigger("price_cut")
    assert twins.trigger("price_cut") == said and twins.moments == [(3, said)]  # logged once, struck once
    assert [s.week for s in twins.worlds[0].shocks] == [3]
    cut = 10 * twins.price_factor(0, 3)[1]
    assert cut < 10 and f"<td>{cut:g} (cut from 10)</td>" in levers_html(twins)  # firm 2 charges the cut price
