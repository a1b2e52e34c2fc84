"""One class's room: the twin worlds, the lesson and its step, the customers followed; and the rooms a server
holds, each under a short code, so a reload returns to the class's run and other screens follow it."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .game import Game, GameSetup
from .journey import KINDS, pick
from .lessons import Lesson, Step, lessons
from .worlds import WORLDS, Setup, Twins

CARDS = 2  # customers followed side by side
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # a room's code: no I or O, read aloud and typed on a phone without doubt
CODE_LENGTH = 4
KEPT = 24  # rooms a server keeps (the least recently opened goes first): each holds two worlds in memory


class Classroom:
    """What a class sees and does: the teacher's page draws it and calls its methods; other pages of the same
    room draw it too. ``version`` counts the changes, so a following page knows when to redraw; ``lock`` is held
    while the worlds change and while a following page reads them."""

    def __init__(self, setup: Setup | None = None, code: str = "", key: str = ""):
        self.code, self.key = code, key  # the room's code; the teacher's key (who may change the worlds)
        self.lock = threading.RLock()
        self.version = 0
        self.lesson: Lesson | None = None
        self.step_index = 0
        self.generation = 0  # counts rebuilds: controls reset to the new worlds' values
        self.error = ""  # what went wrong with the last click, said on the page
        self.game: Game | None = None  # the room's market game, once the teacher starts one
        self.players: set[str] = set()  # firms a device has joined the game as
        self.debrief = None  # the game's debrief table, once asked for
        self.exported: Path | None = None
        self.deadline: float | None = None
        self.rebuild(setup or Setup())

    def rebuild(self, setup: Setup) -> None:
        """New twin worlds from ``setup``, back at week 0; nobody followed."""
        self.twins = Twins(setup)
        self.cards: list[tuple[int, int] | None] = [None] * CARDS  # (world, customer)
        self.next_card = 0
        self.rng = np.random.default_rng([setup.seed, 11])  # the page's picks; never the model's dice
        self.message = ""
        self.generation += 1

    @property
    def setup(self) -> Setup:
        return self.twins.setup

    def load_lesson(self, key: str | None, customers: int | None = None) -> None:
        """Start a lesson at its first step (None: free play, the default duopoly)."""
        self.lesson = lessons()[key] if key else None
        self.step_index = 0
        if self.lesson is not None:
            self.rebuild(self.lesson.setup(customers))
        else:
            self.rebuild(Setup(customers=customers or Setup().customers))

    @property
    def step(self) -> Step | None:
        return self.lesson.steps[self.step_index] if self.lesson else None

    def go(self, delta: int) -> None:
        """The lesson's next (1) or previous (-1) step."""
        if self.lesson:
            self.step_index = min(max(self.step_index + delta, 0), len(self.lesson.steps) - 1)

    def act(self) -> None:
        """Do what the current lesson step says: a moment, then weeks, then customers to follow."""
        step = self.step
        if step is None:
            return
        if step.moment:
            self.twins.trigger(step.moment)
        if step.run:
            self.twins.step(step.run)
        for card, f in enumerate(step.follow[:CARDS]):
            self.follow_kind(f.kind, WORLDS.index(f.world), f.firm - 1, card, settled=True)

    def follow(self, world: int, customer: int, card: int | None = None) -> None:
        """Follow ``customer`` of ``world`` on a card (the next one in turn unless given)."""
        card = self.next_card if card is None else card
        self.cards[card] = (world, customer)
        self.next_card = (card + 1) % CARDS
        for journal in self.twins.journals:  # the same person in both worlds
            journal.watch(customer)

    def follow_kind(
        self, kind: str, world: int, firm: int, card: int | None = None, settled: bool = False
    ) -> int | None:
        """Follow a customer in ladder state ``kind`` at ``firm`` of ``world``, drawn at random (a lesson's
        ``settled``: among the longest with the firm)."""
        exclude = [c[1] for c in self.cards if c is not None]
        who = pick(self.twins.worlds[world], KINDS[kind], firm, self.twins.sample, exclude, self.rng, settled)
        if who is None:
            label = self.twins.labels[world][firm]
            self.message = f"No {kind} customer at {label} in world {WORLDS[world]} right now."
        else:
            self.follow(world, who, card)
        return who

    # ------------------------------------------------------------------------------------------- the game
    def start_game(self, setup: GameSetup, game: Game | None = None) -> None:
        self.game, self.players, self.debrief, self.exported = game or Game(setup), set(), None, None
        self.deadline: float | None = None  # when the quarter runs whoever has decided (monotonic seconds)

    def resume_game(self, path: str | Path) -> None:
        """A saved game (``game.json``, as an export writes it) continued in this room where it stopped."""
        game = Game.load(Path(path))
        self.start_game(game.setup, game)

    def set_timer(self, seconds: float | None, now: float) -> None:
        """The quarter runs ``seconds`` from ``now`` with the decisions made by then (None: no timer)."""
        self.deadline = None if seconds is None else now + seconds

    def tick(self, now: float) -> bool:
        """Run the quarter if its timer has run out; True if it did (the timer then stops)."""
        if self.game is None or self.deadline is None or now < self.deadline or self.game.over:
            return False
        self.deadline = None
        self.play_quarter()
        return True

    def join(self, firm: str) -> None:
        """A device plays ``firm``."""
        if self.game is not None and firm in self.game.firms:
            self.players.add(firm)

    def decide(self, firm: str, levers: dict[str, float]) -> None:
        """``firm``'s decision; when every firm a device plays has decided, the quarter runs."""
        self.game.decide(firm, levers)
        if self.players and self.players <= set(self.game.pending):
            self.play_quarter()

    def play_quarter(self) -> None:
        if self.game is not None and not self.game.over:
            self.game.play()
            self.deadline = None

    def run_debrief(self) -> None:
        self.debrief = self.game.debrief()

    def export_game(self, results_dir: str | Path = "results") -> None:
        self.exported = self.game.export(results_dir)

    def unfollow(self, card: int) -> None:
        self.cards[card] = None
        self.next_card = card


_ROOMS: OrderedDict[str, Classroom] = OrderedDict()
_ROOMS_LOCK = threading.Lock()


def open_room() -> Classroom:
    """A new room with a fresh code and teacher's key (drawn by the operating system's generator, not the
    model's: a code must not be guessable from a seed)."""
    with _ROOMS_LOCK:
        while True:
            code = "".join(secrets.choice(LETTERS) for _ in range(CODE_LENGTH))
            if code not in _ROOMS:
                break
        room = Classroom(code=code, key=secrets.token_urlsafe(8))
        _ROOMS[code] = room
        while len(_ROOMS) > KEPT:
            _ROOMS.popitem(last=False)
        return room


def find_room(code: str) -> Classroom | None:
    """The room under ``code`` (any case), or None if this server holds none (it may have restarted)."""
    with _ROOMS_LOCK:
        room = _ROOMS.get(code.strip().upper())
        if room is not None:
            _ROOMS.move_to_end(room.code)
        return room
