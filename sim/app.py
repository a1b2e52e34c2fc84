"""Classroom dashboard: devotion vs loyalty, told as a story, live in the browser.

    solara run sim/app.py --host localhost        # this machine only
    solara run sim/app.py --host 0.0.0.0          # a class's devices follow rooms over the local network

Twin worlds: the same customers, ties and luck (common random numbers) with firm 1 giving in one
world and taking in the other (or any two policies), stepped together; a classroom moment strikes
both. Follow a customer (click them in a network, or "show me a devoted one") and read their weeks.
Guided lessons (``sim/classroom/lessons.yaml``) walk a class through it step by step. A page opens a room
(``?room=CODE&teacher=KEY``: a reload returns to it); other screens follow it with ``?room=CODE``, read-only.

Every firm runs its policy preset whole and is shown under the preset's name; a lever slider starts at
the value its firm has, and changes that lever only when moved. The page is plain Solara (the models are
Mesa models; their parts are in ``sim/classroom``).
"""

from __future__ import annotations

import html
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qs

import solara

from sim.classroom.game_views import FirmPanel, GameTeacher
from sim.classroom.room import Classroom, find_room, open_room
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
FOLLOW_INTERVAL = 0.5  # seconds between a following page's looks at its room
QUEUED = 0.05  # seconds after a click's work is done in which a click of the same control was waiting behind it
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


def room_address(search: str | None) -> tuple[str, str, str]:
    """The room's code, the teacher's key and the firm a player runs in a page's query (``?room=ABCD&teacher=...``,
    ``?room=ABCD&firm=firm_2``); empty if absent."""
    query = parse_qs(search or "")
    return (
        query.get("room", [""])[0].strip().upper(),
        query.get("teacher", [""])[0],
        query.get("firm", [""])[0].strip(),
    )


@solara.component_vue("classroom/address.vue")
def Address(address: str, event_arrive: Callable[[str], None]):
    pass


@solara.component_vue("classroom/oneclick.vue")
def OneClick():
    pass


@solara.component
def Page():
    """A page opened without a room opens one and becomes its teacher: its address then names the room and the
    teacher's key, so a reload returns to the class's run. A page opened with only the room's code follows it."""
    solara.Title("Loyalty market: devotion vs loyalty")
    solara.Style(CSS)
    query = solara.use_reactive(None)  # the query the browser opened the page with, once it has said
    address = solara.use_reactive("")  # the room opened for this page, written into the browser's address

    def arrive(search: str) -> None:
        if room_address(search)[0]:
            query.set(search)
            return
        room = open_room()
        address.set(f"room={room.code}&teacher={room.key}")
        query.set(address.value)

    Address(address=address.value, event_arrive=arrive)
    OneClick()
    if query.value is None:
        solara.Text("Opening the classroom…")
        return
    code, key, firm = room_address(query.value)
    room = find_room(code)
    if room is None:
        solara.HTML(
            tag="div",
            classes=["lm-app", "lm-missing"],
            unsafe_innerHTML=(
                f"<h2>No room {html.escape(code)} on this server</h2><p>It may have restarted, or the code is "
                "mistyped. <a href='/'>Open a new room</a>.</p>"
            ),
        )
        return
    if firm:
        FirmPage(room, firm)
        return
    ClassPage(room, teacher=bool(key) and secrets.compare_digest(key, room.key))


@solara.component
def FirmPage(room: Classroom, firm: str):
    """A player's device: the firm it runs in the room's market game."""
    version, act = use_room(room, can_act=True)
    solara.use_effect(lambda: act(lambda: room.join(firm), click=False), [])
    with solara.Div(classes=["lm-app", "lm-player"]):
        solara.HTML(
            tag="div",
            classes=["lm-header"],
            unsafe_innerHTML=(
                f"<h1>Loyalty market: the market game</h1><span class='lm-join'>Room <b class='lm-room'>"
                f"{room.code}</b>: you run <b>{html.escape(firm)}</b></span>"
            ),
        )
        with solara.Div(classes=["lm-main"]):
            if room.error:
                solara.Text(room.error, classes=["lm-error"])
            FirmPanel(room, firm, version.value, act)


def use_room(room: Classroom, can_act: bool, before: Callable[[], None] = lambda: None, ticks: bool = False):
    """A page's link to its room: ``act`` changes the room (the teacher's, or a player's own firm) under its lock
    and redraws; the page redraws when anyone else changed it. Returns (the room's version drawn, act)."""
    finished = solara.use_memo(dict, [])  # per control: when its last click's work was done (monotonic seconds)
    alive = solara.use_memo(lambda: [True], [])
    version = solara.use_reactive(room.version)

    def act(action: Callable[[], object], click: bool = True) -> None:
        """Do something to the room, then redraw. A click of a control that waited while the same control's work
        ran (an impatient second press) is dropped, and the page drops a double-click's second click
        (``oneclick.vue``): one press, one action. (A control is its handler's code: the same button on every
        redraw.) What goes wrong is logged and said on the page."""
        control = getattr(action, "__code__", action)
        if not can_act or (click and time.monotonic() - finished.get(control, -1e9) < QUEUED):
            return  # a click that waited behind the same control's work
        with room.lock:
            before()
            room.message = room.error = ""
            try:
                action()
            except Exception as err:
                log.exception("a click failed")
                room.error = f"That did not work ({type(err).__name__}: {err}); the server's log has the details."
            finally:
                if click:
                    finished[control] = time.monotonic()
                room.version += 1
                version.value = room.version

    def follow_room():
        """Redraw when the room changed (the teacher's page, a player's, another of the teacher's tabs): the
        room is read under its lock, so never half-way through a week."""
        while alive[0]:
            time.sleep(FOLLOW_INTERVAL)
            if ticks:  # the teacher's page runs the game's quarter when its timer runs out
                with room.lock:
                    try:
                        if room.tick(time.monotonic()):
                            room.version += 1
                    except Exception:
                        log.exception("the timed quarter failed")
            if room.version != version.value:
                with room.lock:
                    version.set(room.version)

    def leave():
        alive[0] = False

    solara.use_effect(lambda: leave, [])  # the page closed: stop following
    solara.lab.use_task(follow_room, dependencies=[], prefer_threaded=True)
    return version, act


@solara.component
def ClassPage(room: Classroom, teacher: bool):
    """The class's market: the teacher's page drives it; a following page draws the same worlds, read-only."""
    timing = solara.use_memo(Timing, [])
    playing = solara.use_reactive(False)
    ready = solara.use_reactive(PREPARED.is_set())
    gaming = solara.use_reactive(room.game is not None)
    version, act = use_room(room, teacher, before=lambda: timing.start(room.twins.week), ticks=teacher)

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
    busy = playing.value or not ready.value or not teacher  # no week runs before the simulator is prepared

    joined = (
        f"Room <b class='lm-room'>{room.code}</b>: other screens follow it at this address with "
        f"<code>?room={room.code}</code>"
        if teacher
        else f"Following room <b class='lm-room'>{room.code}</b> (read-only): the teacher's screen drives it"
    )
    with solara.Div(classes=["lm-app"] + ([] if teacher else ["lm-follower"])):
        solara.HTML(
            tag="div",
            classes=["lm-header"],
            unsafe_innerHTML=(
                "<h1>Loyalty market: devotion vs loyalty</h1><span>Same people, same luck, two policies: "
                f"why a devoted customer stays and a merely satisfied one leaves.</span><span class='lm-join'>"
                f"{joined}</span>"
            ),
        )
        with solara.Div(classes=["lm-body"]):
            with solara.Div(classes=["lm-side"] + (["lm-look"] if look == "setup" else [])):
                if teacher:
                    SetupPanel(room, room.generation, on_change=lambda: act(lambda: None), disabled=busy)
                else:
                    Prose(
                        "### Following the class\nThe teacher's screen chooses the worlds, runs the weeks and "
                        "strikes the moments; this screen shows them as they happen."
                    )
                if teacher:
                    solara.Button(
                        "Back to the twin worlds" if gaming.value else "The market game",
                        on_click=lambda: gaming.set(not gaming.value),
                        outlined=True,
                        block=True,
                        classes=["lm-game-toggle"],
                    )
            if gaming.value or (not teacher and room.game is not None):
                with solara.Div(classes=["lm-main"]):
                    if room.error:
                        solara.Text(room.error, classes=["lm-error"])
                    GameTeacher(room, version.value, act, address="")
                return
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
