"""Guided lessons: an experiment of the library, its twin, and narration steps the teacher clicks through.

The lessons live in ``sim/classroom/lessons.yaml`` (its header says what a step may do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from .journey import KINDS
from .worlds import MOMENTS, WORLDS, Choice, Setup, experiment_settings

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


@dataclass(frozen=True)
class Step:
    """One narration step: what the teacher reads out, and what its button does."""

    say: str
    moment: str | None = None
    run: int = 0
    follow: tuple[Follow, ...] = ()
    look: str | None = None

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
            )
            for s in spec["steps"]
        )
        out[key] = Lesson(
            key, spec["title"], spec["experiment"], _choice(spec["world_a"]), _choice(spec["world_b"]), steps
        )
    return out
