"""Classroom dashboard: devotion vs loyalty, told as a story, live in the browser.

    solara run sim/app.py --host localhost

Twin worlds: the same customers, ties and luck (common random numbers) with firm 1 giving in one
world and taking in the other (or any two policies), stepped together; a classroom moment strikes
both. Follow a customer (click them in a network, or "show me a devoted one") and read their weeks.
Guided lessons (``sim/classroom/lessons.yaml``) walk a class through it step by step.

Every firm runs its policy preset whole and is shown under the preset's name; a lever slider starts at
the value its firm has, and changes that lever only when moved. The page is plain Solara (the models are
Mesa models; their parts are in ``sim/classroom``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import solara

from sim.classroom.room import Classroom
from sim.classroom.views import (
    CSS,
    FollowPanel,
    LessonPanel,
    MomentsPanel,
    Prose,
    SetupPanel,
    WorldView,
    curves_html,
    levers_html,
    luck_text,
)

PLAY_INTERVAL = 0.15  # seconds between weeks when playing
SETTLE = 0.4  # seconds after a click's work is done in which another click is taken for the same one, and dropped
log = logging.getLogger("sim.classroom")
if not log.handlers:  # the server's terminal shows what went wrong on a page, whatever the server's logging
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False

PREPARED = threading.Event()  # the compiled simulator is built (or loaded from its cache) and a week runs at once


def _prepare() -> None:
    from sim.model.compiled import compiled_here
    from sim.model.market import prepare

    try:
        took = prepare()
        if compiled_here():
            log.info("compiled the simulator in %.0f s (once after install)", took)
    except Exception:
        log.exception("preparing the simulator failed")
    finally:
        PREPARED.set()


# When the server starts, not at the first Step: the first run after install compiles the simulator (about
# 15 s), and a class should not watch a frozen page while it does.
threading.Thread(target=_prepare, name="prepare-simulator", daemon=True).start()


@solara.component
def Layout(children=[]):  # noqa: B006 (Solara's signature)
    """No app bar, drawer or page tabs: the page lays itself out."""
    return solara.Div(children=children)


class Timing:
    """How long a click takes on the page: simulating both worlds, then redrawing the page (server side)."""

    def __init__(self):
        self.started: float | None = None
        self.week = 0
        self.draw_ms: deque[float] = deque(maxlen=20)

    def start(self, week: int) -> None:
        self.started, self.week = time.perf_counter(), week

    def stop(self, room: Classroom) -> None:
        """After a render: the time since the click, less the weeks simulated meanwhile."""
        if self.started is None:
            return
        weeks = room.twins.week - self.week
        simulated = sum(list(room.twins.model_ms)[-weeks:]) if weeks > 0 else 0.0
        self.draw_ms.append(1000 * (time.perf_counter() - self.started) - simulated)
        self.started = None

    def text(self, room: Classroom) -> str:
        model = room.twins.model_ms
        if not model:
            return ""
        n = room.setup.customers
        drawn = f"; the page took {self.draw_ms[-1]:,.0f} ms to redraw" if self.draw_ms else ""
        return f"Last week took {model[-1]:,.0f} ms to simulate (both worlds, {n:,} customers each){drawn}."


@solara.component
def Page():
    solara.Title("Loyalty market: devotion vs loyalty")
    solara.Style(CSS)
    room = solara.use_memo(Classroom, [])
    timing = solara.use_memo(Timing, [])
    lock = solara.use_memo(threading.Lock, [])
    settled = solara.use_memo(lambda: [0.0], [])  # when the last click's work was done (monotonic seconds)
    version = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    ready = solara.use_reactive(PREPARED.is_set())

    def act(action: Callable[[], object], click: bool = True) -> None:
        """Do something to the worlds, then redraw (and time the redraw). A click that arrives while another
        click's work runs, or just after it (a double-click, an impatient second press), is the same click and
        is dropped: one press, one action. What goes wrong is logged and said on the page."""
        if click and time.monotonic() - settled[0] < SETTLE:
            return
        with lock:
            timing.start(room.twins.week)
            room.message = room.error = ""
            try:
                action()
            except Exception as err:
                log.exception("a click failed")
                room.error = f"That did not work ({type(err).__name__}: {err}); the server's log has the details."
            finally:
                if click:
                    settled[0] = time.monotonic()
        version.value += 1

    def play():
        while playing.value:
            time.sleep(PLAY_INTERVAL)
            if playing.value:
                act(room.twins.step, click=False)

    def wait_until_prepared():
        PREPARED.wait()
        ready.set(True)

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True)
    solara.lab.use_task(wait_until_prepared, dependencies=[], prefer_threaded=True)

    solara.use_effect(lambda: timing.stop(room))  # after every render: the time from the click to the page drawn
    twins, look = room.twins, (room.step.look if room.step else None)
    busy = playing.value or not ready.value  # no week runs before the simulator is prepared

    with solara.Div(classes=["lm-app"]):
        solara.HTML(
            tag="div",
            classes=["lm-header"],
            unsafe_innerHTML=(
                "<h1>Loyalty market: devotion vs loyalty</h1><span>Same people, same luck, two policies: "
                "why a devoted customer stays and a merely satisfied one leaves.</span>"
            ),
        )
        with solara.Div(classes=["lm-body"]):
            with solara.Div(classes=["lm-side"] + (["lm-look"] if look == "setup" else [])):
                SetupPanel(room, room.generation, on_change=lambda: act(lambda: None), disabled=busy)
            with solara.Div(classes=["lm-main"]):
                with solara.Div(classes=["lm-wrap"], style={"margin-bottom": "8px"}):
                    solara.Text(f"Week {twins.week}", classes=["lm-week"])
                    solara.Button("Step", on_click=lambda: act(twins.step), color="primary", disabled=busy)
                    solara.Button(
                        "❚❚ Pause" if playing.value else "▶ Play",
                        on_click=lambda: playing.set(not playing.value),
                        color="primary",
                        outlined=True,
                        disabled=not ready.value,
                    )
                    solara.Button(
                        "Run 10 weeks", on_click=lambda: act(lambda: twins.step(10)), disabled=busy, outlined=True
                    )
                    solara.Button(
                        "Run a year", on_click=lambda: act(lambda: twins.step(52)), disabled=busy, outlined=True
                    )
                    if ready.value:
                        solara.Text(timing.text(room), classes=["lm-note", "lm-timing"])
                    else:
                        solara.Text(
                            "Preparing the market: the simulator is being built (once after install, about 15 s)…",
                            classes=["lm-note", "lm-preparing"],
                        )
                    if room.error:
                        solara.Text(room.error, classes=["lm-error"])
                LessonPanel(room, version.value, act=act, disabled=busy)
                MomentsPanel(room, version.value, act=act, look=look)
                with solara.Div(classes=["lm-twins"]):
                    with solara.Div(classes=["lm-two"], style={"margin-top": "8px"}):
                        for world in (0, 1):
                            WorldView(
                                room,
                                world,
                                version.value,
                                on_pick=lambda w, s: act(lambda: room.follow(w, s)),
                                look=look,
                            )
                    with solara.Div(classes=["lm-luck"] + (["lm-look"] if look == "luck" else [])):
                        Prose(luck_text(twins))
                    with solara.Card(
                        "Share, profit and advocacy: world A solid, world B dashed",
                        margin=0,
                        classes=["lm-curves"] + (["lm-look"] if look == "curves" else []),
                    ):
                        solara.HTML(tag="div", unsafe_innerHTML=curves_html(twins))
                FollowPanel(room, version.value, act=act, look=look)
                with solara.Card(
                    "What each firm does: its levers",
                    margin=0,
                    classes=["lm-levers"] + (["lm-look"] if look == "levers" else []),
                ):
                    solara.HTML(tag="div", unsafe_innerHTML=levers_html(twins))
