"""Guided lessons: an experiment of the library, its twin, and narration steps the teacher clicks through.

The lessons live in ``sim/classroom/lessons.yaml`` (its header says what a step may do). What a step's narration
says about the market is written beside it as claims, statements about the lesson's own run
(``A1.n_devoted > 0.8 * A1.n_devoted@100``: firm 1 of world A's devoted customers now, against week 100), which
``tests/test_classroom.py`` checks on every lesson: a lesson stays a story, and an honest one.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from .journey import KINDS
from .worlds import CURVES, MOMENTS, WORLDS, Choice, Setup, experiment_settings

LESSONS_FILE = Path(__file__).with_name("lessons.yaml")
LOOKS = ("setup", "moments", "worlds", "luck", "curves", "customers", "levers")


@dataclass(frozen=True)
class Follow:
    """Follow a customer in ladder state ``kind`` at ``firm`` (1-based) of ``world`` ("A" or "B")."""

    kind: str
    world: str = "A"
    firm: int = 1

    def __post_init__(self):
        if self.kind not in KINDS or self.world not in WORLDS or self.firm < 1:
            raise ValueError(f"follow: kind in {list(KINDS)}, world in {list(WORLDS)}, firm from 1; got {self}")


OPERAND = re.compile(r"\b([A-Z])(\d+)\.([a-z_]+)(?:@(\d+))?")  # world, firm (from 1), measure, week (default: now)
ALLOWED = (  # a claim is arithmetic, comparisons and "and" over operands and numbers
    ast.Expression, ast.Compare, ast.BinOp, ast.BoolOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.And, ast.Gt, ast.GtE, ast.Lt, ast.LtE, ast.Eq,
)  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """A statement of the narration about the lesson's run, e.g. ``A1.customers / A1.customers@100 >
    B1.customers / B1.customers@100``: an operand is a world, a firm (from 1), a measure the page records
    (``worlds.CURVES``) and optionally ``@week`` (default: the step's week, after its button)."""

    text: str

    def __post_init__(self):
        for world, firm, measure, _ in OPERAND.findall(self.text):
            if world not in WORLDS or int(firm) < 1 or measure not in CURVES:
                raise ValueError(f"claim {self.text!r}: world in {list(WORLDS)}, firm from 1, measure in {CURVES}")
        for node in ast.walk(self._tree()):
            if not isinstance(node, ALLOWED):
                raise ValueError(f"claim {self.text!r}: only arithmetic, comparisons and 'and' are allowed")

    def _tree(self) -> ast.Expression:
        return ast.parse(OPERAND.sub(lambda m: f"_{m.start()}", self.text), mode="eval")

    def values(self, history: tuple[list[dict], ...], week: int) -> dict[str, float]:
        """Each operand's value in ``history`` (per world, per week: the page's records)."""
        return {
            f"_{m.start()}": float(history[WORLDS.index(w)][int(at or week)][measure][int(firm) - 1])
            for m in OPERAND.finditer(self.text)
            for w, firm, measure, at in [m.groups()]
        }

    def holds(self, history: tuple[list[dict], ...], week: int) -> bool:
        code = compile(self._tree(), "<claim>", "eval")
        return bool(eval(code, {"__builtins__": {}}, self.values(history, week)))  # checked: arithmetic only


@dataclass(frozen=True)
class Step:
    """One narration step: what the teacher reads out, and what its button does."""

    say: str
    moment: str | None = None
    run: int = 0
    follow: tuple[Follow, ...] = ()
    look: str | None = None
    claims: tuple[Claim, ...] = ()  # what the narration says about the run, checked after the step's button

    def __post_init__(self):
        if self.moment is not None and self.moment not in MOMENTS:
            raise ValueError(f"moment {self.moment!r}: one of {list(MOMENTS)}")
        if self.look is not None and self.look not in LOOKS:
            raise ValueError(f"look {self.look!r}: one of {list(LOOKS)}")

    @property
    def action(self) -> str | None:
        """The button's label, or None for a step that only talks."""
        parts = []
        if self.moment:
            parts.append(
                {"outage": "Trigger the outage", "price_cut": "Cut the price", "recession": "Start the recession"}.get(
                    self.moment, "Give customers a voice"
                )
            )
        if self.run:
            parts.append(f"run {self.run} weeks")
        if self.follow:
            who = [f"a {f.kind}" + ("" if f.kind == "detractor" else " customer") for f in self.follow]
            where = {(f.firm, f.world) for f in self.follow}
            if len(where) == 1:
                firm, world = where.pop()
                parts.append(f"follow {' and '.join(who)} of firm {firm} in world {world}")
            else:
                parts.append(
                    "follow "
                    + " and ".join(
                        f"{w} of firm {f.firm} in world {f.world}" for w, f in zip(who, self.follow, strict=True)
                    )
                )
        if not parts:
            return None
        text = ", then ".join(parts)
        return text[0].upper() + text[1:]


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    experiment: str
    first: Choice  # firm 1 in world A
    twin: Choice  # firm 1 in world B
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def setup(self, customers: int | None = None, seed: int = 0) -> Setup:
        """The twin worlds of the lesson; the other firms as the experiment sets them (whole presets)."""
        s = experiment_settings(self.experiment)
        others = tuple(Choice.of(f.policy) for f in list(s.firms.values())[1:])
        n = customers if customers is not None else s.customers.n
        return Setup(self.experiment, self.first, self.twin, others, customers=n, seed=seed)


def _choice(spec: dict) -> Choice:
    return Choice(spec.get("label", spec["preset"]), spec["preset"], dict(spec.get("levers") or {}))


@cache
def lessons() -> dict[str, Lesson]:
    """Every lesson of ``lessons.yaml``, by key."""
    raw = yaml.safe_load(LESSONS_FILE.read_text())
    out = {}
    for key, spec in raw.items():
        steps = tuple(
            Step(
                say=s["say"],
                moment=s.get("moment"),
                run=int(s.get("run", 0)),
                follow=tuple(Follow(**f) for f in s.get("follow", [])),
                look=s.get("look"),
                claims=tuple(Claim(c) for c in s.get("claims", [])),
            )
            for s in spec["steps"]
        )
        out[key] = Lesson(
            key, spec["title"], spec["experiment"], _choice(spec["world_a"]), _choice(spec["world_b"]), steps
        )
    return out
