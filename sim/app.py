"""Classroom dashboard: devotion vs loyalty, live in the browser.

    solara run sim/app.py --host localhost

Sliders and selectors set a giving-vs-taking duopoly (press Reset to rebuild the
market with them); Step and Play run it week by week; the buttons under
"Classroom moments" trigger an outage, a rival's price cut or a recession mid-run.

Every default comes from ``conf/``: each firm starts as its preset sets it, and a lever
slider starts at the default preset's value; a slider left where it started leaves the
chosen preset alone, so choosing "taking" gives the whole taking preset.
"""

from __future__ import annotations

import numpy as np
import solara
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import force_update, update_counter

from sim.config import Shock, ShockKind, compose, presets, to_plain
from sim.model.market import LoyaltyMarket
from sim.model.vocabulary import Ladder

MAX_DRAWN = 1000  # customers drawn in the network view; larger markets show a connected sample
PRESETS = presets()
DEFAULTS = to_plain(compose())  # the default experiment: the giving vs taking duopoly
FIRST, SECOND = list(DEFAULTS["firms"])[:2]
# Slider: (label, config key, low, high, step); each starts at the default's value.
SLIDERS = {
    "generosity": ("Firm 1 generosity", f"firms.{FIRST}.generosity", 0.0, 1.0, 0.05),
    "speed": ("Firm 1 speed of response", f"firms.{FIRST}.speed", 0.0, 1.0, 0.05),
    "upsell": ("Firm 2 upsell pressure", f"firms.{SECOND}.upsell", 0.0, 1.0, 0.05),
    "switching_cost": ("Switching cost", "market.switching_cost", 0.0, 5.0, 0.25),
    "reach": ("Word-of-mouth reach", "market.reach", 0.0, 1.0, 0.05),
}


def default(key: str):
    """The value of a dotted key in the default experiment."""
    node = DEFAULTS
    for part in key.split("."):
        node = node[part]
    return node


FIRM_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
COLOUR_NAMES = ["blue", "red", "green", "purple"]
STATE_ALPHA = {
    Ladder.CUSTOMER: 0.45,
    Ladder.LOYAL: 0.7,
    Ladder.DEVOTED: 1.0,
    Ladder.DETRACTOR: 1.0,
}


class ClassroomMarket(LoyaltyMarket):
    """The giving-vs-taking duopoly, built from the dashboard's controls.

    A lever or market slider overrides the config only when moved from its starting value
    (the default's), so each firm otherwise gets its chosen preset whole.
    """

    def __init__(
        self,
        first_policy: str = DEFAULTS["firms"][FIRST]["policy"],
        second_policy: str = DEFAULTS["firms"][SECOND]["policy"],
        generosity: float | None = None,
        upsell: float | None = None,
        speed: float | None = None,
        switching_cost: float | None = None,
        reach: float | None = None,
        customers: int = 2000,
        rng: int | str = 0,
    ):
        seed = int(rng) if str(rng).strip().isdigit() else 0
        moved = {"generosity": generosity, "speed": speed, "upsell": upsell}
        moved |= {"switching_cost": switching_cost, "reach": reach}
        values: dict = {"customers": {"n": int(customers)}, "progress": False}
        for name, value in moved.items():
            key = SLIDERS[name][1]
            if value is not None and value != default(key):
                *path, leaf = key.split(".")
                node = values
                for part in path:
                    node = node.setdefault(part, {})
                node[leaf] = value
        super().__init__(rng=seed, presets={FIRST: first_policy, SECOND: second_policy}, **values)
        self.moments: list[str] = []
        self.drawn = _sample(self, seed)
        self.layout = _layout(self)

    def trigger_moment(self, kind: ShockKind, firm: str | None, size: float, duration: int, label: str) -> None:
        """A classroom moment from next week on."""
        self.trigger(Shock(kind=kind, week=self.steps + 1, duration=duration, size=size, firm=firm))
        self.moments.append(f"week {self.steps + 1}: {label}")


def _sample(model: LoyaltyMarket, seed: int) -> np.ndarray:
    """Customers to draw: all of a small market, else a connected neighbourhood grown from one customer.

    Uses its own generator, so drawing never shifts the model's random streams.
    """
    n, net = model.customers.n, model.network
    if n <= MAX_DRAWN or not len(net.indices):
        return np.sort(np.random.default_rng([seed, 7]).choice(n, size=min(n, MAX_DRAWN), replace=False))
    seen = np.zeros(n, bool)
    frontier = np.array([int(np.random.default_rng([seed, 7]).integers(n))])
    seen[frontier] = True
    while seen.sum() < MAX_DRAWN and len(frontier):
        nbrs = np.concatenate([net.indices[net.indptr[i] : net.indptr[i + 1]] for i in frontier])
        frontier = np.unique(nbrs[~seen[nbrs]])[: MAX_DRAWN - int(seen.sum())]
        seen[frontier] = True
    return np.flatnonzero(seen)


def _layout(model: ClassroomMarket) -> np.ndarray:
    """Force-directed positions of the drawn customers, computed once per market."""
    import networkx as nx

    g = model.network.to_networkx(model.drawn)
    pos = nx.spring_layout(g, seed=1, iterations=25)  # about 2 s for 1,000 customers
    return np.array([pos[i] for i in model.drawn.tolist()])


def NetworkView(model: ClassroomMarket):
    """Customers coloured by firm, shaded by ladder state; prospects grey, detractors ringed."""
    update_counter.get()
    c = model.customers
    nodes = model.drawn
    xy = model.layout
    fig = Figure(figsize=(6.5, 6.5), dpi=90)
    ax = fig.subplots()
    index = np.full(c.n, -1)
    index[nodes] = np.arange(len(nodes))
    if len(model.network.indices):
        keep = (index[model.network.source] >= 0) & (index[model.network.indices] >= 0)
        keep &= model.network.source < model.network.indices
        a, b = index[model.network.source[keep]], index[model.network.indices[keep]]
        ax.add_collection(LineCollection(np.stack([xy[a], xy[b]], axis=1), colors="#cccccc", linewidths=0.3))
    firm, state = c.firm[nodes], c.state[nodes]
    colours = np.array([[0.75, 0.75, 0.75, 0.6]] * len(nodes))
    for j in range(c.n_firms):
        base = np.array(_rgb(FIRM_COLOURS[j % len(FIRM_COLOURS)]))
        for s, alpha in STATE_ALPHA.items():
            sel = (firm == j) & (state == s)
            colours[sel] = [*base, alpha]
    sizes = np.where(state == Ladder.DEVOTED, 30, 12)
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=sizes, linewidths=0)
    det = state == Ladder.DETRACTOR
    ax.scatter(xy[det, 0], xy[det, 1], s=40, facecolors="none", edgecolors="black", linewidths=0.8)
    ax.set_axis_off()
    ax.set_title("Customers by firm (colour) and ladder state (shade; big = devoted, ringed = detractor)", fontsize=8)
    solara.FigureMatplotlib(fig, format="png")
    shown = f"showing {len(nodes):,} of {c.n:,} customers" if len(nodes) < c.n else f"all {c.n:,} customers shown"
    legend = ", ".join(f"{name} = {COLOUR_NAMES[j % 4]}" for j, name in enumerate(model.names))
    solara.Text(f"Network: {shown}. Colours: {legend}; grey = prospect.")


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))


def Curves(model: ClassroomMarket):
    """Share, cumulative profit and advocacy per firm, week by week."""
    update_counter.get()
    ts = model.timeseries()
    fig = Figure(figsize=(6.5, 6.5), dpi=90)
    axes = fig.subplots(3, 1, sharex=True)
    for j, name in enumerate(model.names):
        mine = ts[ts.firm == name]
        colour = FIRM_COLOURS[j % len(FIRM_COLOURS)]
        label = f"{name} ({mine.policy.iloc[0]})" if len(mine) else name
        axes[0].plot(mine.week, mine.share, color=colour, label=label)
        axes[1].plot(mine.week, mine.cumulative_profit / 1e3, color=colour)
        axes[2].plot(mine.week, mine.advocacy, color=colour)
    for ax, title in zip(axes, ["market share", "cumulative profit (thousands)", "advocacy"], strict=True):
        ax.set_ylabel(title, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    axes[2].set_xlabel("week")
    fig.tight_layout()
    solara.FigureMatplotlib(fig, format="png")


def LadderPanel(model: ClassroomMarket):
    """Counts by ladder state per firm, as numbers."""
    update_counter.get()
    week = model.steps
    ts = model.timeseries()
    last = {r["firm"]: r for r in ts[ts.week == week].to_dict("records")}
    header = "| firm | share | customer | loyal | devoted | detractor | defected | advocacy |\n|---|---|---|---|---|---|---|---|\n"
    lines = []
    for name in model.names:
        r = last.get(name)
        if r is None:
            continue
        lines.append(
            f"| {name} ({r['policy']}) | {r['share']:.1%} | {r['n_customer']} | {r['n_loyal']} | {r['n_devoted']} "
            f"| {r['n_detractor']} | {r['n_defected']} | {r['advocacy']:+.1f} |"
        )
    prospects = model.prospects
    solara.Markdown(f"### Week {week}\n\n{header}" + "\n".join(lines) + f"\n\nProspects: {prospects}")


def ClassroomMoments(model: ClassroomMarket):
    """Buttons that make something happen next week."""
    update_counter.get()
    first, second = model.names[0], model.names[1]

    def outage():
        model.trigger_moment(ShockKind.OUTAGE, first, 0.8, 4, f"{first} suffers a four-week outage")
        force_update()

    def price_cut():
        model.trigger_moment(ShockKind.PRICE_CUT, second, 0.3, 0, f"{second} cuts its price by 30%")
        force_update()

    def recession():
        model.trigger_moment(ShockKind.RECESSION, None, 1.0, 104, "a two-year recession doubles price sensitivity")
        force_update()

    with solara.Card("Classroom moments"):
        with solara.Row():
            solara.Button(f"Outage at {first}", on_click=outage, color="error")
            solara.Button(f"{second} cuts price", on_click=price_cut, color="warning")
            solara.Button("Recession", on_click=recession, color="secondary")
        solara.Markdown("\n".join(f"- {m}" for m in model.moments) or "_Nothing has happened yet._")


model_params = {
    "rng": {"type": "InputText", "value": "0", "label": "Seed"},
    "first_policy": {
        "type": "Select",
        "value": default(f"firms.{FIRST}.policy"),
        "values": PRESETS,
        "label": "Firm 1 policy",
    },
    "second_policy": {
        "type": "Select",
        "value": default(f"firms.{SECOND}.policy"),
        "values": PRESETS,
        "label": "Firm 2 policy",
    },
    **{name: Slider(label, default(key), low, high, step) for name, (label, key, low, high, step) in SLIDERS.items()},
    "customers": Slider("Customers", 2000, 200, 20000, 200),
}

page = SolaraViz(
    ClassroomMarket(),
    components=[(LadderPanel, 0), (ClassroomMoments, 0), (Curves, 0), (NetworkView, 0)],
    model_params=model_params,
    name="Loyalty market: devotion vs loyalty",
    play_interval=150,
)
