"""The market game's pages: the teacher's (start, run quarters, strike moments, leaderboard, debrief) and a
firm's (its levers, its books, its rivals as a firm sees them), drawn from the room's ``Game``."""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import solara

from .game import BOOKS, Game, GameSetup
from .room import Classroom
from .views import Prose, html_table, panel_svg
from .worlds import MOMENTS, colour

Act = Callable[[Callable[[], object]], None]
WORDS = {"proactive_advice": "advice", "speed": "speed of service", "generosity": "free fixes"}


def money(v: float) -> str:
    return f"{v:,.0f}"


def leaderboard_html(game: Game) -> str:
    rows = [
        [r.firm, f"{r.share:.1%}", money(r.cumulative_profit), f"{r.advocacy:+.1f}", f"{r.n_devoted:,}"]
        for r in game.leaderboard().itertuples()
    ]
    return html_table(["firm", "share", "profit so far", "advocacy", "devoted"], rows)


def books_html(game: Game, firm: str) -> str:
    books = game.books(firm)
    head = ["quarter", "share", "customers", "merely satisfied", "loyal", "devoted", "detractors", "revenue", "profit"]
    rows = [
        [str(r.quarter), f"{r.share:.1%}", f"{r.customers:,}", f"{r.n_customer:,}", f"{r.n_loyal:,}"]
        + [f"{r.n_devoted:,}", f"{r.n_detractor:,}", money(r.revenue), money(r.profit)]
        for r in books.itertuples()
    ]
    assert len(head) == len(BOOKS)
    return html_table(head, rows) if rows else "<p class='lm-note'>No quarter played yet.</p>"


def rivals_html(game: Game, firm: str) -> str:
    seen = game.rivals(firm)
    if not seen:
        return "<p class='lm-note'>Nothing seen of the rivals yet.</p>"
    levers = list(seen[0]["levers"])
    rows = []
    for r in seen:
        last = max(r["profits"]) if r["profits"] else None
        reported = money(sum(r["profits"].values())) + f" (to week {last})" if last else "not reported yet"
        rows.append([r["firm"], *(f"{r['levers'][k]:g}" for k in levers), reported])
    return html_table(["rival", *(k.replace("_", " ") for k in levers), "reported profit"], rows)


def debrief_html(table) -> str:
    presets = [c for c in table.columns if c not in ("firm", "played")]
    rows = [[r["firm"], money(r["played"]), *(money(r[p]) for p in presets)] for _, r in table.iterrows()]
    header = ["firm", "as played", *(f"had it run {p.replace('_', ' ')}" for p in presets)]
    return html_table(header, rows)


def market_html(game: Game) -> str:
    """The game's market week by week: each firm's share and cumulative profit; the moments dotted."""
    ts = game.timeseries()
    if ts.empty:
        return ""
    moments = [q * game.weeks + 1 for q in game.record.moments]
    panels = []
    for key, scale, title in (("share", 100.0, "market share (%)"), ("cumulative_profit", 1e-3, "profit (thousands)")):
        lines, values = [], []
        for j, firm in enumerate(game.firms):
            mine = ts[ts.firm == firm]
            series = (mine[key] * scale).tolist()
            lines.append((mine.week.tolist(), series, colour(j), False))
            values += series
        y_range = (0.0, max(values)) if key == "share" else (min(values), max(values))
        panels.append(f'<div style="flex: 1 1 300px">{panel_svg(title, lines, ts.week.max(), y_range, moments)}</div>')
    legend = " &nbsp; ".join(
        f'<span style="color:{colour(j)}">&#9644;</span> {html.escape(f)}' for j, f in enumerate(game.firms)
    )
    return f'<div class="lm-legend">{legend}</div><div style="display:flex; flex-wrap:wrap">{"".join(panels)}</div>'


def paths_html(game: Game) -> str:
    rows = [
        [r.firm, str(r.quarter), f"{r.devoted:,}", f"{r.merely_satisfied:,}", f"{r.left:,}", html.escape(r.moments)]
        for r in game.paths().itertuples()
    ]
    return html_table(["firm", "quarter", "devoted", "merely satisfied", "left", "moments"], rows)


@solara.component
def GameTeacher(room: Classroom, version: int, act: Act, address: str):
    """The teacher's game: join links, who has decided, run the quarter, moments, leaderboard, debrief."""
    game = room.game
    customers = solara.use_reactive(10_000)
    quarters = solara.use_reactive(8)
    saved = solara.use_reactive("")
    if game is None:
        with solara.Card("The market game: students run the firms", margin=0, classes=["lm-game-start"]):
            Prose(
                "Each student or team runs a firm from their own device, quarter by quarter; the simulated "
                "customers respond. All four firms start from the giving preset."
            )
            solara.SliderInt("Customers", value=customers, min=1000, max=20000, step=1000)
            solara.SliderInt("Quarters", value=quarters, min=2, max=16)
            solara.Button(
                "Start the game",
                on_click=lambda: act(lambda: room.start_game(GameSetup(customers.value, quarters.value))),
                color="primary",
            )
            solara.InputText("A saved game (its game.json, as Export writes it)", value=saved)
            solara.Button(
                "Resume the saved game", on_click=lambda: act(lambda: room.resume_game(saved.value)), outlined=True
            )
        return
    links = "".join(
        f"<li><b>{f}</b>: <code>{html.escape(address)}?room={room.code}&amp;firm={f}</code>"
        f"{' (decided)' if f in game.pending else ''}{' (joined)' if f in room.players else ''}</li>"
        for f in game.firms
    )
    status = "The game is over." if game.over else f"Quarter {game.quarter + 1} of {game.setup.quarters}."
    with solara.Card(f"The market game, room {room.code}", margin=0, classes=["lm-game"]):
        solara.HTML(tag="div", unsafe_innerHTML=f"<p class='lm-game-status'>{status}</p><ul>{links}</ul>")
        if not game.over:
            with solara.Div(classes=["lm-wrap"]):
                solara.Button(
                    "Run the quarter", on_click=lambda: act(room.play_quarter), color="primary", classes=["lm-run"]
                )
                for seconds in (60, 120):
                    solara.Button(
                        f"Run it in {seconds // 60} min",
                        on_click=lambda seconds=seconds: act(lambda: room.set_timer(seconds, time.monotonic())),
                        outlined=True,
                    )
                for key, m in MOMENTS.items():
                    if m.firm is None or m.firm < len(game.firms):
                        solara.Button(m.button, on_click=lambda key=key: act(lambda: game.strike(key)), outlined=True)
            if game.struck:
                solara.Text("Next quarter: " + ", ".join(game.struck), classes=["lm-note"])
            if room.deadline is not None:
                left = max(room.deadline - time.monotonic(), 0)
                solara.Text(
                    f"The quarter runs in about {left:.0f} s, with the decisions made by then.",
                    classes=["lm-note", "lm-timer"],
                )
        solara.HTML(tag="div", classes=["lm-leaderboard"], unsafe_innerHTML=leaderboard_html(game))
        solara.HTML(tag="div", classes=["lm-game-market"], unsafe_innerHTML=market_html(game))
        if game.over:
            if room.debrief is None:
                solara.Button("Debrief", on_click=lambda: act(room.run_debrief), color="primary")
            else:
                Prose(
                    "**Debrief**: profit each firm earned as played, and what each fixed preset would have earned "
                    "for it in the same world with the same luck (the other firms playing as they played)."
                )
                solara.HTML(tag="div", classes=["lm-debrief"], unsafe_innerHTML=debrief_html(room.debrief))
                Prose(
                    "**Each firm's path**, quarter by quarter: devoted against merely satisfied customers, those "
                    "who left it, and the moments struck at the quarter's start."
                )
                solara.HTML(tag="div", classes=["lm-paths"], unsafe_innerHTML=paths_html(game))
            solara.Button("Export the game", on_click=lambda: act(room.export_game), outlined=True)
            if room.exported:
                solara.Text(f"Exported: {room.exported} (python -m sim.aggregate reads it)", classes=["lm-note"])


@solara.component
def FirmPanel(room: Classroom, firm: str, version: int, act: Act):
    """A player's firm: its levers for the next quarter, its books, its rivals as it sees them."""
    game = room.game
    drafts = solara.use_reactive({})
    if game is None:
        Prose(f"### {firm}\nWaiting for the teacher to start the game in room {room.code}.")
        return
    now = game.current(firm)
    draft = {**now, **game.pending.get(firm, {}), **drafts.value.get(game.quarter, {})}
    space = game.space(firm)
    spent = sum(abs(draft[k] - now[k]) / space.span[k] for k in game.levers) if game.quarter else 0.0
    with solara.Card(f"You run {firm}", margin=0, classes=["lm-firm"]):
        if game.over:
            Prose("The game is over: the teacher's screen has the debrief.")
        else:
            decided = firm in game.pending
            Prose(
                f"Quarter {game.quarter + 1} of {game.setup.quarters}: set your levers, then **Decide**. "
                + ("You have decided; you may still change your mind." if decided else "")
            )
            for k in game.levers:
                i = space.names.index(k)
                solara.Text(f"{WORDS.get(k, k).capitalize()}: {draft[k]:.2f}", classes=["lm-slider-label"])
                solara.SliderFloat(
                    "",
                    value=draft[k],
                    min=float(space.lo[i]),
                    max=float(space.hi[i]),
                    step=float(space.span[k]) / 20,
                    on_value=lambda v, k=k: drafts.set({game.quarter: {**drafts.value.get(game.quarter, {}), k: v}}),
                    thumb_label=False,
                )
            budget = game.setup.budget
            over = game.quarter > 0 and spent > budget + 1e-9
            solara.Text(
                f"Change this quarter: {spent:.2f} of {budget:g} lever ranges" if game.quarter else "Opening levers",
                classes=["lm-error" if over else "lm-note", "lm-budget"],
            )
            changed = {k: v for k, v in draft.items() if abs(v - now[k]) > 1e-12}
            solara.Button(
                "Decide",
                on_click=lambda: act(lambda: room.decide(firm, changed)),
                color="primary",
                disabled=over,
                classes=["lm-decide"],
            )
        Prose("#### Your books")
        solara.HTML(tag="div", classes=["lm-books"], unsafe_innerHTML=books_html(game, firm))
        Prose("#### Your rivals, as a firm sees them: public levers, profits reported a quarter late")
        solara.HTML(tag="div", classes=["lm-rivals"], unsafe_innerHTML=rivals_html(game, firm))
