"""The market game: students run the firms, quarter by quarter (participatory simulation, as NetLogo's HubNet
does for its models).

Each firm of ``conf/experiment/market_game.yaml`` is played (``conf/management/played.yaml``): before a quarter
its player sets the levers that file names, within the quarter's budget of change, and pays the rule's change
cost; the simulated customers respond while the market runs the quarter's weeks. A firm nobody plays keeps its
levers. The teacher may strike a classroom moment before a quarter.

A game is its setup, its decisions and its moments: replayed with them it gives the same market (common random
numbers), so it saves as a small file and resumes by replaying. The debrief replays the same world with the same
luck once per firm and preset, that firm running the preset whole from the first week and the others playing as
they played, so each policy a student chose is set against what the fixed presets would have earned for them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..config import ConfigError, presets, settings
from ..model.management import Played, Space
from ..model.market import LoyaltyMarket
from ..runs.results import run_folder, write_atomic, write_run
from ..runs.run import tables_of
from .worlds import MOMENTS, preset_levers

EXPERIMENT = "market_game"
BOOKS = ("share", "customers", "n_customer", "n_loyal", "n_devoted", "n_detractor", "revenue", "profit", "advocacy")


@dataclass(frozen=True)
class GameSetup:
    """What a game is played on; the firms are the experiment's."""

    customers: int = 10_000
    quarters: int = 8
    seed: int = 0
    budget: float = 1.0  # most lever change a firm makes in a quarter, in lever ranges (one lever across its range)


@dataclass
class Record:
    """Everything that makes a game: replayed, it gives the same market."""

    setup: GameSetup
    decisions: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)  # quarter -> firm -> levers
    moments: dict[int, list[str]] = field(default_factory=dict)  # quarter -> moments struck before it

    def to_json(self) -> str:
        return json.dumps({"setup": asdict(self.setup), "decisions": self.decisions, "moments": self.moments})

    @classmethod
    def from_json(cls, text: str) -> Record:
        raw = json.loads(text)
        return cls(
            GameSetup(**raw["setup"]),
            {int(q): d for q, d in raw["decisions"].items()},
            {int(q): m for q, m in raw["moments"].items()},
        )


class Game:
    """A market game in play: firms decide, the market runs a quarter, everyone reads the books."""

    def __init__(self, setup: GameSetup | None = None, record: Record | None = None, replace: dict | None = None):
        """A new game on ``setup``, or the game ``record`` replayed to where it stopped. ``replace``: firm ->
        preset, that firm running the preset whole from the first week (the debrief's worlds)."""
        self.record = Record(setup or GameSetup()) if record is None else Record(record.setup)
        self.replace = dict(replace or {})
        self.base = base = settings(experiment=EXPERIMENT)
        self.firms = list(base.firms)
        self.levers = list(base.firms[self.firms[0]].management.levers)  # the levers a player sets
        self.weeks = base.firms[self.firms[0]].management.review  # a quarter
        self.market: LoyaltyMarket | None = None
        self.pending: dict[str, dict[str, float]] = {}
        self.struck: list[str] = []
        if record is not None:
            for q in sorted(set(record.decisions) | set(record.moments)):
                for key in record.moments.get(q, []):
                    self.strike(key)
                for firm, levers in record.decisions.get(q, {}).items():
                    self.decide(firm, levers)
                if q in record.decisions:
                    self.play()

    @property
    def setup(self) -> GameSetup:
        return self.record.setup

    @property
    def quarter(self) -> int:
        """The next quarter to play (0: the first)."""
        return len(self.record.decisions)

    @property
    def over(self) -> bool:
        return self.quarter >= self.setup.quarters

    def current(self, firm: str) -> dict[str, float]:
        """The levers ``firm`` runs now (before the game: the experiment's)."""
        if self.market is None:
            start = self.base.firms[firm]
            return {k: float(getattr(start, k)) for k in self.levers}
        levers = self.market.firms[self.firms.index(firm)].levers
        return {k: float(getattr(levers, k)) for k in self.levers}

    def space(self, firm: str) -> Space:
        """The range of each lever a player sets (a price within its band around the starting price)."""
        return Space(self.base.firms[firm], self.levers)

    def decide(self, firm: str, levers: dict[str, float]) -> None:
        """``firm``'s levers for the next quarter; a one-line ``ConfigError`` naming the lever and its range, or
        the budget, if they are not allowed."""
        if self.over:
            raise ConfigError("game error: the game is over")
        if firm not in self.firms:
            raise ConfigError(f"game error: firm {firm!r}: allowed: {', '.join(self.firms)}")
        space, now = self.space(firm), self.current(firm)
        for k, v in levers.items():
            if k not in self.levers:
                raise ConfigError(f"game error: {firm}.{k}: a player sets {', '.join(self.levers)}")
            lo, hi = space.lo[space.names.index(k)], space.hi[space.names.index(k)]
            if not lo - 1e-9 <= v <= hi + 1e-9:
                raise ConfigError(f"game error: {firm}.{k} = {v:g}: allowed: {lo:g} ≤ value ≤ {hi:g}")
        spent = sum(abs(v - now[k]) / space.span[k] for k, v in levers.items())
        if self.quarter > 0 and spent > self.setup.budget + 1e-9:
            raise ConfigError(
                f"game error: {firm} moves its levers by {spent:.2f} of their ranges; allowed: ≤ {self.setup.budget:g} "
                "a quarter"
            )
        self.pending[firm] = {k: float(v) for k, v in levers.items()}

    def strike(self, key: str) -> None:
        """A classroom moment (``worlds.MOMENTS``) from the next quarter's first week on."""
        if key not in MOMENTS:
            raise ConfigError(f"game error: moment {key!r}: allowed: {', '.join(MOMENTS)}")
        self.struck.append(key)

    def play(self) -> None:
        """Run the next quarter with the decisions made (a firm without one keeps its levers)."""
        if self.over:
            raise ConfigError("game error: the game is over")
        q = self.quarter
        if self.market is None:
            self.market = self._build(self.pending)
        else:
            for firm, levers in self.pending.items():
                manager = self.market.firms[self.firms.index(firm)].manager
                if isinstance(manager, Played):
                    manager.orders[q * self.weeks] = levers
        first = self.market.week + 1
        for key in self.struck:
            self.market.trigger(MOMENTS[key].shock(first, self.firms))
        if self.struck:
            self.record.moments[q] = list(self.struck)
        self.record.decisions[q] = self.pending
        self.pending, self.struck = {}, []
        for _ in range(self.weeks):
            self.market.step()

    def _build(self, opening: dict[str, dict[str, float]]) -> LoyaltyMarket:
        firms: dict[str, Any] = {f: dict(opening.get(f, {})) for f in self.firms}
        for firm, preset in self.replace.items():
            firms[firm] = {**preset_levers(preset), "policy": preset, "management": {"kind": "fixed"}}
        s = settings(
            experiment=EXPERIMENT,
            seed=self.setup.seed,
            customers={"n": self.setup.customers},
            steps=self.setup.quarters * self.weeks,
            firms=firms,
            progress=False,
        )
        return LoyaltyMarket(s)

    # --------------------------------------------------------------------------------------- what firms see
    def timeseries(self) -> pd.DataFrame:
        return self.market.timeseries() if self.market is not None else pd.DataFrame(columns=["week", "firm"])

    def books(self, firm: str) -> pd.DataFrame:
        """``firm``'s own books, quarter by quarter: share and customers at the quarter's end (by ladder state),
        revenue and profit over it, advocacy at its end."""
        ts = self.timeseries()
        mine = ts[(ts.firm == firm) & (ts.week > 0)].copy()
        if mine.empty:
            return pd.DataFrame(columns=["quarter", *BOOKS])
        mine["quarter"] = (mine.week - 1) // self.weeks + 1
        flows = mine.groupby("quarter")[["revenue", "profit"]].sum()
        stocks = mine.groupby("quarter").last()[[b for b in BOOKS if b not in ("revenue", "profit")]]
        return stocks.join(flows)[list(BOOKS)].reset_index()

    def rivals(self, firm: str) -> list[dict]:
        """What ``firm`` can see of its rivals, as every management rule sees them: the levers it observes, their
        profits once reported (``management.observe``, ``management.lag``)."""
        if self.market is None:
            return []
        me = self.market.firms[self.firms.index(firm)]
        seen = {f.name: f.levers for f in self.market.firms}
        return [{"firm": r.name, "levers": r.levers, "profits": r.profits} for r in me.market_reports(seen)]

    def leaderboard(self) -> pd.DataFrame:
        """Every firm now: share, profit so far, advocacy; the most profitable first."""
        ts = self.timeseries()
        if ts.empty:
            return pd.DataFrame(columns=["firm", "share", "cumulative_profit", "advocacy", "n_devoted"])
        last = ts[ts.week == ts.week.max()]
        table = last[["firm", "share", "cumulative_profit", "advocacy", "n_devoted"]]
        return table.sort_values("cumulative_profit", ascending=False).reset_index(drop=True)

    # --------------------------------------------------------------------------------------- after the game
    def debrief(self) -> pd.DataFrame:
        """Per firm: what its player's policy earned, and what each fixed preset would have earned for it in the
        same world with the same luck (the other firms playing as they played)."""
        played = self.timeseries().groupby("firm").cumulative_profit.last()
        rows = []
        for firm in self.firms:
            row = {"firm": firm, "played": float(played[firm])}
            for preset in presets():
                other = Game(record=self.record, replace={firm: preset})
                row[preset] = float(other.timeseries().groupby("firm").cumulative_profit.last()[firm])
            rows.append(row)
        return pd.DataFrame(rows)

    def paths(self) -> pd.DataFrame:
        """Per firm and quarter: devoted against merely satisfied customers at its end, those who left it during
        the quarter, and the moments struck at its start (the debrief's paths)."""
        ts = self.timeseries()
        ts = ts[ts.week > 0].assign(quarter=lambda t: (t.week - 1) // self.weeks + 1)
        out = ts.groupby(["firm", "quarter"]).agg(
            devoted=("n_devoted", "last"), merely_satisfied=("n_customer", "last"), left=("defections", "sum")
        )
        out = out.reset_index()
        out["moments"] = out.quarter.map(lambda q: ", ".join(self.record.moments.get(q - 1, [])))
        return out

    def save(self, path: Path) -> None:
        """The game as a small file (setup, decisions, moments), written atomically: ``Game.load`` resumes it."""
        write_atomic(Path(path), lambda p: p.write_text(self.record.to_json()))

    @classmethod
    def load(cls, path: Path) -> Game:
        return cls(record=Record.from_json(Path(path).read_text()))

    def export(self, results_dir: str | Path = "results") -> Path:
        """The game as results: ``<results_dir>/market_game/<date_time>/`` holds ``played/``, the market's run
        folder as ``python -m sim`` writes one (``python -m sim.aggregate`` reads the game's folder), and
        ``game.json`` (``Game.load`` resumes it)."""
        if self.market is None:
            raise ConfigError("game error: nothing to export before the first quarter is played")
        folder = run_folder(results_dir, EXPERIMENT)
        config = yaml.safe_dump(json.loads(json.dumps(asdict(self.market.settings), default=str)), sort_keys=False)
        write_run(folder / "played", self.market.settings, config, tables_of(self.market), plots=False)
        self.save(folder / "game.json")
        return folder


def scripted(game: Game, firm: str) -> dict[str, float]:
    """A player's turn for the command line's game: each firm nudges one lever a quarter, in turn (no outcome
    is chosen; the point is a market that moves)."""
    k = game.levers[(game.firms.index(firm) + game.quarter) % len(game.levers)]
    space, now = game.space(firm), game.current(firm)
    step = 0.25 * space.span[k] * (1 if (game.quarter + game.firms.index(firm)) % 2 == 0 else -1)
    lo, hi = space.lo[space.names.index(k)], space.hi[space.names.index(k)]
    return {k: float(min(max(now[k] + step, lo), hi))}


def main(argv: list[str] | None = None) -> None:
    """``python -m sim.classroom.game``: a game of scripted players, timed quarter by quarter (a quarter's turn:
    every firm decides, the market runs 13 weeks, the books are read), then its leaderboard and, with
    ``--debrief``, each firm against the fixed presets; ``--out`` exports it as results."""
    import sys
    import time

    from ..runs.errors import ArgumentParser, number

    ap = ArgumentParser(prog="python -m sim.classroom.game", description=main.__doc__.splitlines()[0])
    ap.add_argument("--customers", type=number(int, 100, 1_000_000), default=10_000)
    ap.add_argument("--quarters", type=number(int, 1, 80), default=4)
    ap.add_argument("--seed", type=number(int, 0, 2**63 - 1), default=0)
    ap.add_argument("--debrief", action="store_true", help="replay each firm as each fixed preset")
    ap.add_argument("--out", help="export the game under this results folder")
    a = ap.parse_args(argv)
    game = Game(GameSetup(customers=a.customers, quarters=a.quarters, seed=a.seed))
    print(f"command: python -m sim.classroom.game {' '.join(sys.argv[1:] if argv is None else argv)}")
    turns = []
    while not game.over:
        start = time.perf_counter()
        for firm in game.firms:
            game.decide(firm, scripted(game, firm))
        game.play()
        for firm in game.firms:
            game.books(firm), game.rivals(firm)
        game.leaderboard()
        turns.append(time.perf_counter() - start)
    print(
        f"{len(game.firms)} firms, {a.customers:,} customers: a quarter's turn took "
        + ", ".join(f"{t:.2f}" for t in turns)
        + " s (the first includes building the market)"
    )
    print(game.leaderboard().to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    if a.debrief:
        print(game.debrief().to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    if a.out:
        print(f"exported: {game.export(a.out)}")


if __name__ == "__main__":
    main()
