"""The classroom page's parts, drawn with Solara: controls, lessons, the two worlds, curves, customers, levers.

One encoding everywhere: a firm's colour (``worlds.colour``) marks its customers, its rows and its
curves; a customer's ladder state sets the size and shade of their dot (big: devoted, faint: merely
satisfied, ringed black: detractor, hollow: gone with a grudge, grey: prospect), in the networks and
in a followed customer's timeline alike. World A is drawn solid, world B dashed.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable

import markdown
import numpy as np
import solara
from matplotlib.ticker import MaxNLocator

from ..config import LEVERS, allowed_range
from ..model.metrics import RECORD
from ..model.vocabulary import Ladder
from .journey import KINDS, SEGMENT_WORDS, STATE_WORDS, departures, story, where
from .lessons import lessons
from .room import CARDS, Classroom
from .worlds import PRESETS, WORLDS, Choice, Setup, Twins, colour, experiment_settings

SIZE = 500  # the network's drawing box, in SVG units
GREY = "#9e9e9e"
# Ladder state: (radius, fill opacity, stroke, stroke width); a defected person's stroke is the firm they left.
STATE_STYLE = {
    Ladder.PROSPECT: (2.4, 0.45, "none", 0.0),
    Ladder.DEFECTED: (3.2, 1.0, None, 1.3),
    Ladder.CUSTOMER: (3.4, 0.35, "none", 0.0),
    Ladder.LOYAL: (4.2, 0.75, "none", 0.0),
    Ladder.DETRACTOR: (4.6, 0.9, "#000000", 1.8),
    Ladder.DEVOTED: (7.0, 1.0, "#ffffff", 0.8),
}
DRAW_ORDER = np.array([list(STATE_STYLE).index(s) for s in Ladder])  # devoted on top

CSS = """
.lm-app { font-size: 14px; }
.lm-app .v-btn { text-transform: none; letter-spacing: normal; }
.lm-header { background: #1e3a5f; color: white; padding: 10px 18px; }
.lm-header h1 { font-size: 21px; font-weight: 500; margin: 0; }
.lm-header span { opacity: .8; font-size: 13px; }
.lm-header .lm-join { display: block; opacity: 1; margin-top: 3px; }
.lm-header code { color: white; background: rgba(255, 255, 255, .15); padding: 0 4px; }
.lm-follower .lm-main .v-btn, .lm-follower .lm-main svg { pointer-events: none; }
.lm-follower .lm-main .v-btn { opacity: .55; }
.lm-body { display: flex; align-items: flex-start; }
.lm-side { flex: 0 0 290px; width: 290px; padding: 8px 10px; border-right: 1px solid #e0e0e0; min-height: 100vh; }
.lm-main { flex: 1 1 auto; min-width: 0; padding: 8px 12px; }
.lm-wrap { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.lm-two { display: flex; flex-wrap: wrap; gap: 12px; }
.lm-two > * { flex: 1 1 420px; min-width: 0; }
.lm-look { outline: 3px solid #ff9800; outline-offset: 1px; }
.lm-lesson { position: sticky; top: 0; z-index: 5; }  /* the narration stays on screen as the page scrolls */
.lm-luck { padding: 8px 4px 4px 4px; }
.lm-table { border-collapse: collapse; font-size: 13px; width: 100%; }
.lm-table th, .lm-table td { padding: 2px 3px; text-align: right; border-bottom: 1px solid #eee; white-space: nowrap; }
.lm-table th { white-space: normal; font-weight: 500; color: #555; vertical-align: bottom; }
.lm-ladder { overflow-x: auto; }
.lm-slider-label { font-size: 13px; color: #333; margin-top: 6px; }
.lm-table th:first-child, .lm-table td:first-child { text-align: left; }
.lm-table tr.lm-differs td { background: #fff3e0; font-weight: 600; }
.lm-chip { display: inline-block; width: 11px; height: 11px; border-radius: 50%; margin-right: 5px;
           vertical-align: -1px; }
.lm-legend { font-size: 12px; color: #444; }
.lm-legend svg { vertical-align: middle; }
.lm-week { font-size: 26px; font-weight: 600; margin-right: 10px; }
.lm-note { font-size: 12px; color: #555; }
.lm-error { font-size: 13px; color: #b00020; font-weight: 500; }
.lm-preparing { font-size: 13px; color: #e65100; font-weight: 500; }
.lm-story { font-size: 13px; margin: 4px 0 0 0; padding-left: 18px; }
.lm-story li { margin-bottom: 2px; }
.lm-say { font-size: 17px; line-height: 1.45; }
.lm-text p { margin: 0 0 6px 0; color: rgba(0, 0, 0, 0.87); }
.lm-side .v-input { margin-top: 2px; }
"""


def Prose(markdown_text: str, classes: list[str] | None = None, style: str = ""):
    """Markdown as plain HTML (Solara's Markdown loads Mermaid and KaTeX from a CDN; a classroom may be offline)."""
    return solara.HTML(
        tag="div", unsafe_innerHTML=markdown.markdown(markdown_text), classes=["lm-text", *(classes or [])], style=style
    )


def chip(label: str, j: int) -> str:
    """A firm's name with its colour, as HTML."""
    return f'<span class="lm-chip" style="background:{colour(j)}"></span>{html.escape(label)}'


def html_table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        f'<tr class="{(classes or [""] * len(rows))[i]}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f'<table class="lm-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# ----------------------------------------------------------------------------- the two worlds


def ladder_html(twins: Twins, world: int) -> str:
    """Customers by ladder state per firm, share, advocacy and profit so far."""
    header = [
        "firm",
        "share",
        "merely satisfied",
        "loyal",
        "devoted",
        "detrac&shy;tors",
        "gone, grudge",
        "advo&shy;cacy",
        "profit so far",
    ]
    rows = []
    for j, f in enumerate(twins.worlds[world].firms):
        rows.append(
            [
                chip(twins.labels[world][j], j),
                f"{f.share:.1%}",
                f"{f.ladder[Ladder.CUSTOMER]:,}",
                f"{f.ladder[Ladder.LOYAL]:,}",
                f"{f.ladder[Ladder.DEVOTED]:,}",
                f"{f.ladder[Ladder.DETRACTOR]:,}",
                f"{f.ladder[Ladder.DEFECTED]:,}",
                f"{RECORD['advocacy'][1](f):+.1f}",
                f"{f.cumulative_profit / 1e3:,.0f}k",
            ]
        )
    prospects = twins.worlds[world].prospects
    return html_table(header, rows) + f'<div class="lm-note">Prospects (buying from no firm): {prospects:,}</div>'


def edges_path(twins: Twins) -> str:
    """The drawn sample's ties as one SVG path (positions never move)."""
    net, nodes = twins.worlds[0].network, twins.sample
    if net.mixed or not len(net.indices):
        return ""
    index = np.full(net.n, -1)
    index[nodes] = np.arange(len(nodes))
    keep = (index[net.source] >= 0) & (index[net.indices] >= 0) & (net.source < net.indices)
    xy = 14 + twins.layout * (SIZE - 28)
    a, b = xy[index[net.source[keep]]], xy[index[net.indices[keep]]]
    return " ".join(f"M{x0:.1f} {y0:.1f}L{x1:.1f} {y1:.1f}" for (x0, y0), (x1, y1) in zip(a, b, strict=True))


def network_nodes(twins: Twins, world: int) -> list[list]:
    """The drawn customers as [x, y, r, fill, opacity, stroke, stroke width, customer, title], devoted on top."""
    c = twins.worlds[world].customers
    nodes = twins.sample
    state, firm, grudge = c.state[nodes], c.firm[nodes], c.grudge_firm[nodes]
    xy = 14 + twins.layout * (SIZE - 28)
    labels = twins.labels[world]
    out = []
    for k in np.argsort(DRAW_ORDER[state], kind="stable"):
        s, j = Ladder(int(state[k])), int(firm[k])
        r, opacity, stroke, width = STATE_STYLE[s]
        if s is Ladder.PROSPECT:
            fill, title = GREY, "a prospect"
        elif s is Ladder.DEFECTED:
            fill, stroke, title = (
                "#ffffff",
                colour(int(grudge[k])),
                f"gone from {labels[int(grudge[k])]}, holding a grudge",
            )
        else:
            fill, title = colour(j), f"{STATE_WORDS[s]} at {labels[j]}"
        slot = int(nodes[k])
        out.append(
            [
                round(float(xy[k, 0]), 1),
                round(float(xy[k, 1]), 1),
                r,
                fill,
                opacity,
                stroke,
                width,
                slot,
                f"customer {slot}: {title} (click to follow)",
            ]
        )
    return out


@solara.component_vue("network.vue")
def NetworkSvg(nodes: str, edges: str, marks: str, size: int, event_pick: Callable[[int], None]):
    pass


@solara.component_vue("scroll.vue")
def BringIntoView(token: str):
    pass


def legend_html(twins: Twins, world: int) -> str:
    def dot(s: Ladder, j: int = 0) -> str:
        r, opacity, stroke, width = STATE_STYLE[s]
        fill = GREY if s is Ladder.PROSPECT else ("#ffffff" if s is Ladder.DEFECTED else colour(j))
        stroke = colour(j) if stroke is None else stroke
        return (
            f'<svg width="18" height="18"><circle cx="9" cy="9" r="{r}" fill="{fill}" fill-opacity="{opacity}" '
            f'stroke="{stroke}" stroke-width="{width}"/></svg>'
        )

    firms = " ".join(chip(label, j) for j, label in enumerate(twins.labels[world]))
    states = " ".join(
        f"{dot(s)}{name}"
        for s, name in [
            (Ladder.CUSTOMER, "merely satisfied"),
            (Ladder.LOYAL, "loyal"),
            (Ladder.DEVOTED, "devoted"),
            (Ladder.DETRACTOR, "detractor"),
            (Ladder.DEFECTED, "gone, holding a grudge"),
            (Ladder.PROSPECT, "prospect"),
        ]
    )
    n, shown = twins.worlds[world].customers.n, len(twins.sample)
    net = twins.worlds[world].network
    how = "a random sample (no ties to draw)" if net.mixed or not len(net.indices) else "a connected neighbourhood"
    sample = f"{shown:,} of {n:,} customers: {how}" if shown < n else f"all {n:,} customers"
    return f'<div class="lm-legend">{firms} &nbsp; {states}<br>Showing {sample}. Click a customer to follow them.</div>'


@solara.component
def WorldView(room: Classroom, world: int, version: int, on_pick: Callable[[int, int], None], look: str | None):
    twins = room.twins
    edges = solara.use_memo(lambda: edges_path(twins), [twins])
    xy = 14 + twins.layout * (SIZE - 28)
    marks = []
    for card, entry in enumerate(room.cards):
        if entry is not None:
            at = np.flatnonzero(twins.sample == entry[1])
            if len(at):
                marks.append([round(float(xy[at[0], 0]), 1), round(float(xy[at[0], 1]), 1), str(card + 1)])
    with solara.Card(
        twins.title(world),
        classes=["lm-world", f"lm-world-{WORLDS[world]}"] + (["lm-look"] if look in ("worlds", "network") else []),
        margin=0,
    ):
        solara.HTML(tag="div", unsafe_innerHTML=ladder_html(twins, world), classes=["lm-ladder"])
        NetworkSvg(
            nodes=json.dumps(network_nodes(twins, world)),
            edges=edges,
            marks=json.dumps(marks),
            size=SIZE,
            event_pick=lambda slot: on_pick(world, int(slot)),
        )
        solara.HTML(tag="div", unsafe_innerHTML=legend_html(twins, world))


def luck_text(twins: Twins) -> str:
    if not twins.luck:
        return (
            "**Same people, same luck.** Both worlds start from the same customers, ties and dice. "
            "Step a week to compare their incidents."
        )
    luck = twins.luck[-1]
    a, b = luck.incidents
    same = "exactly the same people" if luck.differ == 0 else f"the same people but {luck.differ}"
    return (
        f"**Same people, same luck.** Week {luck.week}: {a:,} service incidents in world A, {b:,} in world B. "
        f"Of the {luck.same_firm:,} customers with the same firm in both worlds, {luck.shared:,} had an incident, "
        f"in both worlds: {same}. What differs is how they were served."
    )


# ----------------------------------------------------------------------------- curves


PANELS = (  # (column, scale, title)
    ("share", 100.0, "market share (%)"),
    ("cumulative_profit", 1e-3, "cumulative profit (thousands)"),
    ("advocacy", 1.0, "advocacy (devoted − detractors, %)"),
)


def ticks(lo: float, hi: float) -> np.ndarray:
    return MaxNLocator(5).tick_values(lo, hi)


def panel_svg(title: str, lines: list[tuple], x_max: float, y_range: tuple[float, float], moments: list[int]) -> str:
    """One chart as SVG: ``lines`` of (weeks, values, colour, dashed); ticks, grid and moments (dotted)."""
    w, h, left, right, top, bottom = 340, 190, 44, 8, 22, 26
    lo, hi = y_range
    ys = ticks(lo, hi)
    lo, hi = min(lo, ys[0]), max(hi, ys[-1])
    hi = hi if hi > lo else lo + 1
    xs = ticks(0, max(x_max, 1))

    def x(v):
        return left + v / max(xs[-1], 1) * (w - left - right)

    def y(v):
        return top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom)

    parts = [f'<text x="{w / 2}" y="14" text-anchor="middle" font-size="12" fill="#333">{title}</text>']
    for v in ys:
        if lo <= v <= hi:
            parts.append(
                f'<line x1="{left}" x2="{w - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                f'<text x="{left - 4}" y="{y(v) + 3:.1f}" text-anchor="end" font-size="9" fill="#666">'
                f"{v:,.0f}</text>"
            )
    for v in xs:
        parts.append(
            f'<text x="{x(v):.1f}" y="{h - bottom + 12}" text-anchor="middle" font-size="9" fill="#666">{v:.0f}</text>'
        )
    parts.append(f'<text x="{w - right}" y="{h - 2}" text-anchor="end" font-size="9" fill="#666">week</text>')
    parts.append(
        f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" fill="none" stroke="#bbb"/>'
    )
    for week in moments:
        parts.append(
            f'<line x1="{x(week):.1f}" x2="{x(week):.1f}" y1="{top}" y2="{h - bottom}" stroke="#ff9800" '
            'stroke-width="1.5" stroke-dasharray="2,3"/>'
        )
    for weeks, values, stroke, dashed in lines:
        pts = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(weeks, values, strict=True))
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{stroke}" stroke-width="1.8"{dash}/>')
    return f'<svg viewBox="0 0 {w} {h}" style="width:100%;height:auto">{"".join(parts)}</svg>'


def curves_html(twins: Twins) -> str:
    """Share, cumulative profit and advocacy per firm, side by side: world A solid, world B dashed; moments dotted."""
    weeks = [r["week"] for r in twins.history[0]]
    moments = [week for week, _ in twins.moments]
    panels = []
    for key, scale, title in PANELS:
        lines, values = [], []
        for w in (0, 1):
            for j in range(twins.n_firms):
                series = [r[key][j] * scale for r in twins.history[w]]
                lines.append((weeks, series, colour(j), w == 1))
                values += series
        y_range = (0.0, 100.0) if key == "share" else (min(values), max(values))
        panels.append(f'<div style="flex: 1 1 300px">{panel_svg(title, lines, weeks[-1], y_range, moments)}</div>')
    key = " &nbsp; ".join(
        f'<svg width="26" height="10"><line x1="0" x2="26" y1="5" y2="5" stroke="{colour(j)}" stroke-width="2"'
        f"{' stroke-dasharray="6,4"' if w else ''}/></svg> {WORLDS[w]}: {html.escape(twins.labels[w][j])}"
        for w in (0, 1)
        for j in range(twins.n_firms)
    )
    return f'<div class="lm-legend">{key}</div><div style="display:flex; flex-wrap:wrap">{"".join(panels)}</div>'


# ----------------------------------------------------------------------------- levers


def levers_html(twins: Twins) -> str:
    """Every lever of every firm, as the worlds run them: firm 1 in world A and B, then the others."""
    columns = [(0, 0), (1, 0)] + [(0, j) for j in range(1, twins.n_firms)]
    header = ["lever"] + [
        (f"firm 1 in {WORLDS[w]}: " if j == 0 else f"firm {j + 1}: ") + chip(twins.labels[w][j], j) for w, j in columns
    ]
    rows, classes = [], []
    factor = [twins.price_factor(w, twins.week + 1) for w in (0, 1)]  # a classroom moment's price cut, next week
    for lever in LEVERS:
        values = [getattr(twins.worlds[w].firms[j].levers, lever) for w, j in columns]
        cells = [f"{v:g}" for v in values]
        if lever == "price":
            cells = [
                f"{v * factor[w][j]:g} (cut from {v:g})" if factor[w][j] != 1 else cell
                for (w, j), v, cell in zip(columns, values, cells, strict=True)
            ]
        rows.append([lever.replace("_", " ")] + cells)
        classes.append("lm-differs" if values[0] != values[1] else "")
    note = (
        '<div class="lm-note">Highlighted: where firm 1 differs between the worlds. Each firm runs its preset whole; '
        "a price is the one it charges next week.</div>"
    )
    return html_table(header, rows, classes) + note


# ----------------------------------------------------------------------------- a followed customer

STRIP = {  # ladder state in a timeline: fill opacity of the firm colour (the network's shades)
    Ladder.CUSTOMER: 0.3,
    Ladder.LOYAL: 0.65,
    Ladder.DEVOTED: 1.0,
    Ladder.DETRACTOR: 1.0,
}


def timeline_svg(days: list[dict], moments: list[tuple[int, str]]) -> str:
    """Bond, trust and remembered experience week by week; incidents as dots (red: bad, green: good);
    under it, the firm (colour) and ladder state (shade; black: detractor, grey: none)."""
    w, h, strip = 520, 120, 12
    weeks = np.array([d["week"] for d in days], float)
    lo, hi = weeks[0], max(weeks[-1], weeks[0] + 1)

    def x(week: float) -> float:
        return 30 + (week - lo) / (hi - lo) * (w - 40)

    def y(value: float) -> float:  # [-1, 1] -> [h - strip - 6, 4]
        return 4 + (1 - (np.clip(value, -1, 1) + 1) / 2) * (h - strip - 10)

    def line(key: str, stroke: str, dash: str = "") -> str:
        pts = " ".join(f"{x(d['week']):.1f},{y(float(d[key])):.1f}" for d in days)
        return f'<polyline points="{pts}" fill="none" stroke="{stroke}" stroke-width="1.8" {dash}/>'

    parts = [
        f'<line x1="30" x2="{w - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#ccc"/>',
        f'<text x="30" y="{h - strip - 1}" font-size="9" fill="#777">week {lo:.0f}</text>',
        f'<text x="{w - 10}" y="{h - strip - 1}" font-size="9" fill="#777" text-anchor="end">week {hi:.0f}</text>',
        f'<text x="2" y="{y(1) + 8:.1f}" font-size="10" fill="#777">+1</text>',
        f'<text x="8" y="{y(0) + 4:.1f}" font-size="10" fill="#777">0</text>',
        f'<text x="4" y="{y(-1):.1f}" font-size="10" fill="#777">−1</text>',
    ]
    for week, _ in moments:
        if lo <= week <= hi:
            parts.append(
                f'<line x1="{x(week):.1f}" x2="{x(week):.1f}" y1="0" y2="{h}" stroke="#ff9800" stroke-dasharray="3,3"/>'
            )
    step = (w - 40) / max(hi - lo, 1)
    for d in days:
        s, j = Ladder(int(d["state"])), int(d["firm"])
        fill, opacity = (colour(j), STRIP.get(s, 1.0)) if s in STRIP else ("#dddddd", 1.0)
        if s is Ladder.DETRACTOR:
            fill = "#222222"
        parts.append(
            f'<rect x="{x(d["week"]) - step / 2:.1f}" y="{h - strip}" width="{step + 0.3:.1f}" '
            f'height="{strip}" fill="{fill}" fill-opacity="{opacity}"/>'
        )
    parts += [
        line("remembered", "#555555"),
        line("trust", "#8e24aa", 'stroke-dasharray="5,3"'),
        line("bond", "#ef6c00"),
    ]
    for d in days:
        if d["feeling"] != 0:
            f = float(d["feeling"])
            parts.append(
                f'<circle cx="{x(d["week"]):.1f}" cy="{y(f):.1f}" r="{2.5 + 3 * min(abs(f), 1):.1f}" '
                f'fill="{"#c62828" if f < 0 else "#2e7d32"}" fill-opacity="0.85"/>'
            )
    legend = (
        '<div class="lm-legend"><b style="color:#ef6c00">— bond</b> &nbsp; <b style="color:#8e24aa">- - trust'
        '</b> &nbsp; <b style="color:#555">— remembered experience</b> &nbsp; dots: incidents, how they felt '
        '(<span style="color:#c62828">bad</span>/<span style="color:#2e7d32">good</span>) &nbsp; strip: firm '
        "and ladder state (black: detractor)</div>"
    )
    return f'<svg viewBox="0 0 {w} {h}" style="width:100%;height:auto">{"".join(parts)}</svg>{legend}'


def holds(day: dict, cfg, market) -> str:
    """What holds a customer to their firm: emotion (the bond), logic (value for money), and the cost of leaving."""
    bond, margin = float(day["bond"]), float(day["value_margin"])
    emotion = "devoted" if bond >= cfg.devoted_bond else f"devoted from {cfg.devoted_bond:.2f}"
    logic = "loyal" if margin >= cfg.loyal_margin else f"loyal from {cfg.loyal_margin:+.2f}"
    return (
        f"*What holds them:* bond **{bond:.2f}** ({emotion}) · value for money against the best alternative "
        f"**{margin:+.2f}** ({logic}) · leaving costs {market.switching_cost:g}"
    )


@solara.component
def CustomerCard(room: Classroom, card: int, version: int, on_close: Callable[[], None]):
    entry = room.cards[card]
    if entry is None:
        with solara.Card(f"Customer {card + 1}", classes=["lm-card"], margin=0):
            Prose("_Nobody followed yet: use the buttons above, or click a customer in a network._")
        return
    world, slot = entry
    twins = room.twins
    days = twins.journals[world].diary(slot)
    names = list(twins.labels[world])
    model = twins.worlds[world]
    cfg, market = model.settings.customers, model.settings.market
    left_market = len(days) > 1 and days[-1]["identity"] != days[0]["identity"]
    now = days[-2] if left_market else days[-1]
    segments = list(cfg.segments.groups)
    who = SEGMENT_WORDS.get(segments[int(now["segment"])], segments[int(now["segment"])])
    title = f"Customer {card + 1}: #{slot}, {who}, in world {WORLDS[world]}"
    with solara.Card(title, classes=["lm-card", f"lm-card-{card + 1}"], margin=0):
        status = "left the market" if left_market else where(now, names)
        Prose(
            f"**Week {days[-1]['week']}: {status}.** Bond {now['bond']:.2f} · trust {now['trust']:.2f} · "
            f"remembers best {now['peak_pos']:+.2f}, worst {now['peak_neg']:+.2f} "
            f"(overall {now['remembered']:+.2f}) · expects service {now['expectation']:.2f}"
        )
        if not left_market and now["firm"] < twins.n_firms:
            Prose(holds(now, cfg, market), style="font-size: 13px")
        solara.HTML(tag="div", unsafe_innerHTML=timeline_svg(days, twins.moments))
        told = story(days, names, lambda week: twins.outage(world, week), twins.worlds[world].settings.customers)
        recent = told[::-1]
        items = "".join(f"<li><b>Week {week}:</b> {html.escape('; '.join(said))}.</li>" for week, said in recent[:8])
        solara.HTML(tag="ul", unsafe_innerHTML=items, classes=["lm-story"])
        if len(recent) > 8:
            with solara.Details(f"Earlier weeks ({len(recent) - 8} more)"):
                rest = "".join(f"<li><b>Week {w}:</b> {html.escape('; '.join(s))}.</li>" for w, s in recent[8:])
                solara.HTML(tag="ul", unsafe_innerHTML=rest, classes=["lm-story"])
        if slot in twins.journals[world].since:
            solara.Text(
                f"(followed from week {twins.journals[world].since[slot]}; not in the drawn sample)",
                classes=["lm-note"],
            )
        other = 1 - world
        twin_days = twins.journals[other].diary(slot)
        moved = departures(twin_days, list(twins.labels[other]))
        twin_now = where(twin_days[-1], list(twins.labels[other])) if twin_days else "?"
        moves = "; ".join(f"week {w}: {what}" for w, what in moved[-2:]) or "never changed firm"
        moves = moves[0].upper() + moves[1:]
        Prose(f"**The same person in world {WORLDS[other]}:** now {twin_now}. {moves}.")
        solara.Button("Stop following", on_click=on_close, text=True, small=True)


# ----------------------------------------------------------------------------- controls


def market_value(setup: Setup, key: str) -> float:
    return dict(setup.market).get(key, getattr(experiment_settings(setup.experiment).market, key))


def draft_of(setup: Setup) -> dict:
    """The controls' values for ``setup``: each lever slider at the value its firm actually has."""
    first = setup.lever_values(0, 0)
    return {
        "first": setup.first.label,
        "twin": setup.twin.label,
        "others": [c.label for c in setup.others],
        "generosity": first["generosity"],
        "speed": first["speed"],
        "upsell": setup.lever_values(0, 1)["upsell"] if setup.others else 0.0,
        "switching_cost": market_value(setup, "switching_cost"),
        "reach": market_value(setup, "reach"),
        "customers": setup.customers,
        "seed": setup.seed,
    }


def setup_of(draft: dict, setup: Setup, choices: dict[str, Choice]) -> Setup:
    """The setup the controls describe; a slider left at its firm's value leaves the preset whole."""
    first, twin = choices[draft["first"]], choices[draft["twin"]]
    others = tuple(choices[o] for o in draft["others"])
    levers = [(0, k, draft[k]) for k in ("generosity", "speed") if abs(draft[k] - first.values[k]) > 1e-9]
    if others and abs(draft["upsell"] - others[0].values["upsell"]) > 1e-9:
        levers.append((1, "upsell", draft["upsell"]))
    base = experiment_settings(setup.experiment).market
    market = tuple((k, draft[k]) for k in ("switching_cost", "reach") if abs(draft[k] - getattr(base, k)) > 1e-9)
    return Setup(
        setup.experiment, first, twin, others, tuple(levers), market, int(draft["customers"]), int(draft["seed"])
    )


FREE_PLAY = "Free play: giving vs taking"


def seed_error(seed: int) -> str:
    """What is wrong with a seed typed in, in a line beside the field (the settings' own range); nothing if
    it is allowed."""
    low, high = allowed_range("seed")  # low ≤ seed < high
    return (
        ""
        if low <= seed < high
        else f"Seed {seed:,}: allowed {low} ≤ seed < 2^{high.bit_length() - 1}; Reset waits for one."
    )


@solara.component
def SetupPanel(room: Classroom, generation: int, on_change: Callable[[], None], disabled: bool):
    """Lesson, the worlds' policies and the sliders (values shown); changes take effect on Reset.

    The controls start from the worlds as built (``generation`` counts rebuilds) and change only a draft.
    """
    setup = room.setup
    drafts = solara.use_reactive({})  # generation -> the controls' values
    d = drafts.value.get(generation) or draft_of(setup)
    choices = {p: Choice.of(p) for p in PRESETS} | {setup.first.label: setup.first, setup.twin.label: setup.twin}
    options = list(choices)

    def update(**changes):
        current = drafts.value.get(generation) or draft_of(setup)
        drafts.set({generation: {**current, **changes}})

    def choose_first(label):  # the sliders follow the chosen preset
        values = choices[label].values
        update(first=label, generosity=values["generosity"], speed=values["speed"])

    def choose_other(i, label):
        others = list((drafts.value.get(generation) or draft_of(setup))["others"])
        others[i] = label
        update(others=others, **({"upsell": choices[label].values["upsell"]} if i == 0 else {}))

    titles = {FREE_PLAY: None} | {lesson.title: key for key, lesson in lessons().items()}

    def choose_lesson(title):
        room.load_lesson(titles[title])
        on_change()

    def reset():
        room.rebuild(setup_of(drafts.value.get(generation) or d, setup, choices))
        on_change()

    current = room.lesson.title if room.lesson else FREE_PLAY
    solara.Select("Lesson", values=list(titles), value=current, on_value=choose_lesson, disabled=disabled)
    Prose("### The two worlds")
    Prose(
        "World B is world A with **firm 1's policy** changed: same people, same ties, same luck.",
        style="font-size: 13px",
    )
    solara.Select("Firm 1 in world A", values=options, value=d["first"], on_value=choose_first)
    solara.Select("Firm 1 in world B (the twin)", values=options, value=d["twin"], on_value=lambda v: update(twin=v))
    for i, label in enumerate(d["others"]):
        solara.Select(
            f"Firm {i + 2} (both worlds)", values=options, value=label, on_value=lambda v, i=i: choose_other(i, v)
        )
    # (key, label, low, high, step, format): each slider's value is shown above its track
    sliders = [
        ("generosity", "Firm 1 generosity (world A)", 0, 1, 0.05, "{:.2f}"),
        ("speed", "Firm 1 speed of response (world A)", 0, 1, 0.05, "{:.2f}"),
        ("upsell", "Firm 2 upsell pressure", 0, 1, 0.05, "{:.2f}"),
        ("switching_cost", "Switching cost", 0, 5, 0.25, "{:.2f}"),
        ("reach", "Word-of-mouth reach", 0, 1, 0.05, "{:.2f}"),
        ("customers", "Customers", 200, 20000, 200, "{:,}"),
    ]
    for key, label, low, high, step, fmt in sliders:
        if key == "upsell" and not d["others"]:
            continue
        solara.Text(f"{label}: {fmt.format(d[key])}", classes=["lm-slider-label", f"lm-slider-{key}"])
        Slider = solara.SliderInt if key == "customers" else solara.SliderFloat
        Slider(
            "",
            value=d[key],
            min=low,
            max=high,
            step=step,
            on_value=lambda v, key=key: update(**{key: v}),
            thumb_label=False,
        )
    solara.InputInt("Seed", value=d["seed"], on_value=lambda v: update(seed=0 if v is None else int(v)))
    wrong = seed_error(d["seed"])
    if wrong:
        solara.Text(wrong, classes=["lm-error", "lm-seed-error"])
    changed = not wrong and setup_of(d, setup, choices) != setup
    solara.Button(
        "Reset", on_click=reset, color="primary", disabled=disabled or bool(wrong), block=True, outlined=not changed
    )
    Prose(
        "_Changed settings take effect on **Reset**._"
        if changed
        else "_Each firm runs its preset whole; a slider moved away from the preset's value changes that lever._",
        style="font-size: 12px",
    )


@solara.component
def LessonPanel(room: Classroom, version: int, act: Callable[[Callable[[], None]], None], disabled: bool):
    """The lesson's narration: what to say, what to do (one button), Back and Next; or the lessons to start."""
    lesson = room.lesson
    if lesson is None:
        with solara.Card("Guided lessons", classes=["lm-lessons"], margin=0):
            Prose("Pick a lesson; its steps tell the class what to do and what to look at.")
            with solara.Div(classes=["lm-wrap"]):
                for key, item in lessons().items():
                    solara.Button(
                        item.title,
                        on_click=lambda key=key: act(lambda: room.load_lesson(key)),
                        outlined=True,
                        color="primary",
                        disabled=disabled,
                    )
        return
    step = room.step
    n = len(lesson.steps)
    with solara.Card(
        f"Lesson: {lesson.title}", subtitle=f"Step {room.step_index + 1} of {n}", classes=["lm-lesson"], margin=0
    ):
        Prose(step.say, classes=["lm-say"])
        if step.look:
            BringIntoView(token=f"{lesson.title}:{room.step_index}")
        if step.action:  # a row of its own: Back and Next never move, so a double-click never lands on it
            solara.Button(
                step.action,
                on_click=lambda: act(room.act),
                color="primary",
                disabled=disabled,
                classes=["lm-action"],
                style={"margin-bottom": "6px"},
            )
        with solara.Div(classes=["lm-wrap"]):
            solara.Button(
                "Back", on_click=lambda: act(lambda: room.go(-1)), disabled=room.step_index == 0, outlined=True
            )
            solara.Button(
                "Next",
                on_click=lambda: act(lambda: room.go(1)),
                disabled=room.step_index == n - 1,
                color="primary",
                outlined=True,
            )
            solara.Button(
                "End lesson", on_click=lambda: act(lambda: room.load_lesson(None)), text=True, disabled=disabled
            )


@solara.component
def MomentsPanel(room: Classroom, version: int, act: Callable[[Callable[[], None]], None], look: str | None):
    """Buttons that make something happen next week, in both worlds at once."""
    twins = room.twins
    with solara.Card(
        "Classroom moments: strike both worlds at once",
        classes=["lm-moments"] + (["lm-look"] if look == "moments" else []),
        margin=0,
    ):
        with solara.Div(classes=["lm-wrap"]):
            colours = {"outage": "error", "price_cut": "warning", "recession": "secondary", "voice": "info"}
            for key, m in twins.moments_available.items():
                solara.Button(m.button, on_click=lambda key=key: act(lambda: twins.trigger(key)), color=colours[key])
        log = "\n".join(f"- week {week}: {text}" for week, text in twins.moments)
        Prose(log or "_Nothing has happened yet._", style="font-size: 13px")


@solara.component
def FollowPanel(room: Classroom, version: int, act: Callable[[Callable[[], None]], None], look: str | None):
    """Show me a devoted / loyal / merely satisfied customer / a detractor; and the two cards side by side."""
    twins = room.twins
    world = solara.use_reactive(0)
    firm = solara.use_reactive(0)
    w, j = world.value, min(firm.value, twins.n_firms - 1)
    with solara.Card(
        "Follow a customer", classes=["lm-customers"] + (["lm-look"] if look == "customers" else []), margin=0
    ):
        with solara.Div(classes=["lm-wrap"]):
            solara.Text("Show me")
            for kind in KINDS:
                article = "an" if kind[0] in "aeiou" else "a"
                solara.Button(
                    f"{article} {kind} one" if kind != "detractor" else "a detractor",
                    on_click=lambda kind=kind: act(lambda: room.follow_kind(kind, w, j)),
                    outlined=True,
                    color="primary",
                    classes=[f"lm-show-{kind.replace(' ', '-')}"],
                )
            solara.Text("at")
            firms = [f"firm {k + 1}: {twins.labels[w][k]}" for k in range(twins.n_firms)]
            solara.ToggleButtonsSingle(
                value=firms[j], values=firms, on_value=lambda v: firm.set(firms.index(v)), dense=True
            )
            solara.Text("in")
            worlds = [f"world {x}" for x in WORLDS]
            solara.ToggleButtonsSingle(
                value=worlds[w], values=worlds, on_value=lambda v: world.set(worlds.index(v)), dense=True
            )
        if room.message:
            solara.Text(room.message, classes=["lm-note"])
        with solara.Div(classes=["lm-two"]):
            for card in range(CARDS):
                CustomerCard(room, card, version, on_close=lambda card=card: act(lambda: room.unfollow(card)))
