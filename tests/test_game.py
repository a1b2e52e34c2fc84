"""The market game: players' levers take effect at the quarter, within a budget, at a cost; a game replays
exactly from its record; rivals are seen as the management rules see them; the debrief sets each firm against
the fixed presets in the same world with the same luck; an exported game is a run folder the aggregate reads."""

import pandas as pd
import pytest

from sim.classroom.game import Game, GameSetup
from sim.config import ConfigError

SMALL = GameSetup(customers=600, quarters=3, seed=4)


def played(game: Game, quarters: int) -> Game:
    """A few quarters of decisions that move the market, and a moment."""
    turns = [
        {"firm_1": {"upsell": 0.8, "generosity": 0.1}, "firm_2": {"price": 11.0}},
        {"firm_1": {"upsell": 0.6}, "firm_3": {"speed": 1.0}},
        {"firm_2": {"discount": 0.2}},
    ]
    for q in range(quarters):
        if q == 1:
            game.strike("outage")
        for firm, levers in turns[q].items():
            game.decide(firm, levers)
        game.play()
    return game


def test_a_players_levers_take_effect_at_the_quarter_and_are_paid_for():
    game = played(Game(SMALL), 2)
    ts = game.timeseries().set_index(["firm", "week"])
    weeks = game.weeks
    assert ts.loc[("firm_1", 1), "lever_upsell"] == 0.8 and ts.loc[("firm_2", 1), "lever_price"] == 11.0  # opening
    assert ts.loc[("firm_3", weeks), "lever_speed"] != 1.0 and ts.loc[("firm_3", weeks + 1), "lever_speed"] == 1.0
    assert ts.loc[("firm_3", weeks + 1), "lever_change_cost"] > 0  # a change costs, in the week it is made
    assert ts.loc[("firm_4", weeks + 1), "lever_change_cost"] == 0  # nobody played firm 4: it keeps its levers
    assert [(s.week, s.firm) for s in game.market.shocks] == [(weeks + 1, "firm_1")]  # the moment, next quarter
    books = game.books("firm_1")
    assert list(books.quarter) == [1, 2] and books.profit.sum() == pytest.approx(ts.loc["firm_1"].profit.sum())


def test_a_decision_outside_its_range_or_the_budget_is_refused_in_one_line():
    game = played(Game(SMALL), 1)
    for levers, message in (
        ({"upsell": 1.5}, r"firm_1.upsell = 1.5: allowed: 0 ≤ value ≤ 1"),
        ({"claims": 0.5}, r"firm_1.claims: a player sets price, speed"),
        ({"upsell": 0.0, "generosity": 1.0, "speed": 0.0}, r"moves its levers by 2.\d\d of their ranges; allowed: ≤ 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            game.decide("firm_1", levers)
    with pytest.raises(ConfigError, match="firm 'firm_9': allowed: firm_1, firm_2, firm_3, firm_4"):
        game.decide("firm_9", {})


def test_a_game_replays_exactly_and_resumes_from_its_file(tmp_path):
    whole = played(Game(SMALL), 3)
    half = played(Game(SMALL), 2)
    half.save(tmp_path / "game.json")
    resumed = Game.load(tmp_path / "game.json")
    assert resumed.quarter == 2 and resumed.record.moments == {1: ["outage"]}
    resumed.decide("firm_2", {"discount": 0.2})
    resumed.play()
    pd.testing.assert_frame_equal(resumed.timeseries(), whole.timeseries())  # common random numbers hold
    assert resumed.over
    with pytest.raises(ConfigError, match="the game is over"):
        resumed.play()


def test_rivals_are_seen_as_the_management_rules_see_them():
    game = played(Game(SMALL), 2)
    seen = {r["firm"]: r for r in game.rivals("firm_1")}
    observe = game.base.firms["firm_1"].management.observe
    lag = game.base.firms["firm_1"].management.lag
    assert set(seen) == {"firm_2", "firm_3", "firm_4"}
    assert all(set(r["levers"]) == set(observe) for r in seen.values())  # public levers only: not speed
    assert seen["firm_2"]["levers"]["price"] == 11.0
    assert max(seen["firm_3"]["profits"]) == game.market.week - 1 - lag  # profits reported a quarter late


@pytest.mark.slow
def test_the_debrief_sets_each_firm_against_the_presets_with_the_same_luck(tmp_path):
    from sim.aggregate import main as aggregate

    game = played(Game(SMALL), 3)
    table = game.debrief().set_index("firm")
    assert {"played", "giving", "taking", "fake_love"} <= set(table.columns)
    # nobody played firm 4, which starts from the giving preset: the same world, the same luck, the same profit
    assert table.loc["firm_4", "played"] == pytest.approx(table.loc["firm_4", "giving"], rel=1e-12)
    assert table.loc["firm_1", "played"] != table.loc["firm_1", "giving"]
    folder = game.export(tmp_path)
    assert (folder / "game.json").is_file() and (folder / "played" / "summary.csv").is_file()
    aggregate([str(folder)])
    runs = pd.read_parquet(folder / "report" / "runs.parquet")
    assert sorted(runs.firm) == game.firms


def test_a_room_runs_a_quarter_when_its_players_decide_or_its_timer_ends_and_resumes_a_saved_game(tmp_path):
    from sim.classroom.room import Classroom
    from sim.classroom.worlds import Setup

    room = Classroom(Setup(customers=300))
    room.start_game(SMALL)
    room.join("firm_1")
    room.join("firm_2")
    room.decide("firm_1", {"upsell": 0.7})
    assert room.game.quarter == 0  # firm_2's player has not decided yet
    room.decide("firm_2", {"price": 11.0})
    assert room.game.quarter == 1  # every firm a device plays has decided: the quarter ran
    room.decide("firm_1", {"upsell": 0.6})
    room.set_timer(60, now=100.0)
    assert not room.tick(130.0) and room.game.quarter == 1
    assert room.tick(160.0) and room.game.quarter == 2 and room.deadline is None  # whoever had decided
    paths = room.game.paths()
    assert len(paths) == 4 * 2 and (paths.left >= 0).all()
    assert (paths.devoted + paths.merely_satisfied <= room.game.books("firm_1").customers.max() * 4).all()
    room.game.save(tmp_path / "game.json")
    other = Classroom(Setup(customers=300))
    other.resume_game(tmp_path / "game.json")
    assert other.game.quarter == 2
    pd.testing.assert_frame_equal(other.game.timeseries(), room.game.timeseries())
