"""``python -m sim.whatif``: ask a fitted market (or the default world) "what if?", with paired runs.

    python -m sim.whatif firms.giving.generosity=0.8                          # the default world
    python -m sim.whatif --calibration results/calibration/synthetic/<date> firms.us.generosity=0.8
    python -m sim.whatif --calibration <folder> --changes changes.yaml        # several scenarios at once

A change is Hydra overrides (``firms.us.price=9``, ``'market.shocks=[{kind: outage, week: 100, duration: 4,
size: 0.8, firm: us}]'``) or, with ``--changes``, a YAML file ``{scenario name: [overrides...]}``. Each
scenario runs against the baseline on the same posterior draws and seeds (common random numbers). Writes
``results/whatif/<date_time>/``: ``report.html`` (self-contained: plain words, tables and plots, for a
board pack), ``summary.csv``, ``economics.csv`` (each firm's margin, acquisition cost, contact cost and lifetime
value per scenario), ``survival.csv`` (the survival of each firm's first-year acquisitions, with bands),
``differences.parquet`` (the tidy table behind it) and ``runs.parquet``.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import math
import shlex
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from .aggregate import _why as unreadable
from .calibration import whatif as wi
from .calibration.card import MarketCard, check_card, priors
from .calibration.inference import draws as posterior_draws
from .config import ConfigError, load, parameter
from .provenance import made_by
from .runs.arguments import add_jobs, add_results_dir, add_seeds
from .runs.errors import ArgumentError, ArgumentParser, command, existing, failing_as, number
from .runs.results import atomic_folder


def parse(argv: list[str]) -> argparse.Namespace:
    ap = ArgumentParser(prog="python -m sim.whatif", description=__doc__.splitlines()[0])
    ap.add_argument("change", nargs="*", help="Hydra overrides of one change (or use --changes)")
    ap.add_argument("--changes", type=existing("file"), help="a YAML file: {scenario name: [overrides...]}")
    ap.add_argument("--name", default=None, help="the name of the change given on the command line")
    ap.add_argument("--calibration", type=existing("folder"), help="a calibration folder (calibration/<card>/<date>)")
    ap.add_argument("--base", nargs="*", default=[], help="Hydra overrides of the default world (no calibration)")
    ap.add_argument("--draws", type=number(int, 1, 10_000), default=20, help="posterior draws (calibrated world)")
    add_seeds(ap, None, "seeds per draw (default: 2 calibrated, 10 default)", high=10_000)
    ap.add_argument("--weeks", type=number(int, 53, 100_000), default=260, help="horizon in weeks")
    ap.add_argument("--band", type=number(float, 0.01, 0.99), default=0.9, help="credible band")
    add_jobs(ap)
    add_results_dir(ap)
    a = ap.parse_args(argv)
    if not a.change and not a.changes:
        raise ArgumentError("no change given: pass Hydra overrides or --changes file.yaml")
    if a.base and a.calibration:
        raise ArgumentError("--base: only for the default world; a calibrated world is its card's (--calibration)")
    return a


OWN = {"seed": "--seeds", "steps": "--weeks"}  # this command's own flags for keys that are not parameters


def scenarios(a: argparse.Namespace) -> dict[str, list[str]]:
    """The scenarios by name, each a list of overrides of parameters of the market; checked before any run."""
    out: dict[str, list[str]] = {}
    if a.change:
        out[a.name or " ".join(a.change)] = list(a.change)
    where = dict.fromkeys(out, "change")  # how each scenario was given, for messages
    if a.changes:
        path = Path(a.changes)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            raw = None
        if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
            raise ArgumentError(f"--changes = {path}: expected a YAML mapping {{scenario name: [overrides...]}}")
        if not raw:
            raise ArgumentError(f"--changes = {path}: no scenario in it; expected {{scenario name: [overrides...]}}")
        for name, change in raw.items():
            if str(name) in out:
                raise ArgumentError(f"--changes = {path}: scenario '{name}' given twice; allowed: one of each name")
            out[str(name)] = [str(x) for x in change]
            where[str(name)] = f"--changes {path}: {name}:"
    for name, change in out.items():
        if name == wi.BASELINE:
            given = where[name] if where[name] != "change" else f"--name = {name}:"
            raise ArgumentError(f"{given} '{name}' names the unchanged world; allowed: any other name")
        if not change:
            raise ArgumentError(f"{where[name]} no overrides; allowed: a list of overrides such as firms.us.price=9")
        for item in change:
            parameter(item.partition("=")[0], f"{where[name]} {item}", OWN)
    for item in a.base:
        parameter(item.partition("=")[0], f"--base {item}", OWN)
    return out


def calibration(folder: Path) -> tuple[MarketCard, pd.DataFrame]:
    """A finished calibration's card and posterior, read and checked: a damaged or foreign file is one line."""
    if not (folder / "report.md").is_file() or not (folder / "card.json").is_file():
        raise ArgumentError(f"--calibration = {folder}: not a finished calibration folder (it has no report.md)")

    def bad(name: str, why: str) -> ArgumentError:
        return ArgumentError(f"--calibration = {folder}: {name}: {why}")

    try:
        card = check_card(json.loads((folder / "card.json").read_text()))
    except ConfigError as err:
        raise bad("card.json", str(err).removeprefix("config error: ")) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise bad("card.json", unreadable(err)) from None
    try:
        post = pd.read_parquet(folder / "posterior.parquet")
    except Exception as err:  # damage takes many forms (pyarrow's, the OS's); whatever it is, it is named
        raise bad("posterior.parquet", unreadable(err)) from None
    keys = [p.key for p in priors(card)]
    columns = [*keys, "weight"]
    if missing := [c for c in columns if c not in post.columns]:
        raise bad("posterior.parquet", f"no {', '.join(missing)} column (expected: {', '.join(columns)})")
    if extra := [str(c) for c in post.columns if c not in columns]:
        raise bad(
            "posterior.parquet", f"column {', '.join(extra)}: not a free parameter of the card ({', '.join(keys)})"
        )
    if post.empty:
        raise bad("posterior.parquet", "no particles")
    if text := [c for c in columns if not pd.api.types.is_numeric_dtype(post[c])]:
        raise bad("posterior.parquet", f"{text[0]}: a value that is not a finite number")
    values = post[columns].to_numpy(dtype=float, na_value=math.nan)  # numeric by now
    if not np.isfinite(values).all():
        column = columns[int(np.flatnonzero(~np.isfinite(values).all(axis=0))[0])]
        raise bad("posterior.parquet", f"{column}: a value that is not a finite number")
    for p in priors(card):
        if not post[p.key].between(p.low, p.high).all():
            raise bad("posterior.parquet", f"{p.key}: values outside its prior range [{p.low}, {p.high}]")
    total = float(post.weight.sum())
    if (post.weight < 0).any() or total <= 0:
        raise bad("posterior.parquet", "weight: allowed: weights ≥ 0 with a positive sum")
    if not math.isclose(total, 1.0, rel_tol=0, abs_tol=1e-9):
        post["weight"] = post.weight / total
    return card, post[columns]


def world(a: argparse.Namespace) -> tuple[wi.World, pd.DataFrame, int]:
    """The world, its parameter draws, and seeds per draw."""
    if a.calibration:
        card, post = calibration(Path(a.calibration))
        return wi.World(card, [], a.weeks), posterior_draws(post, a.draws), a.seeds or 2
    load(a.base)  # one-line errors for a bad base
    return wi.World(None, list(a.base), a.weeks), pd.DataFrame([{}]), a.seeds or 10


def figure_png(diff: pd.DataFrame, scenario: str, band: float) -> str:
    """The differences over time (mean and band) per firm, as an embeddable PNG."""
    lo_q, hi_q = (1 - band) / 2, 1 - (1 - band) / 2
    g = diff[diff.scenario == scenario]
    fig = Figure(figsize=(10, 6.5), dpi=90)
    axes = fig.subplots(2, 2).ravel()
    for ax, (metric, label) in zip(axes, wi.TRACKED.items(), strict=True):
        for firm, f in g[g.metric == metric].groupby("firm", sort=False):
            s = f.groupby("week").difference
            mean, lo, hi = s.mean(), s.quantile(lo_q), s.quantile(hi_q)
            scale = 100 if metric == "share" else 1e-3 if metric in ("npv", "cumulative_profit") else 1
            ax.plot(mean.index, mean * scale, label=firm)
            ax.fill_between(mean.index, lo * scale, hi * scale, alpha=0.25)
        unit = " (points)" if metric == "share" else " (thousands)" if metric in ("npv", "cumulative_profit") else ""
        ax.set_title(f"change in {label}{unit}", fontsize=9)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("week", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{scenario}: change minus baseline, mean and {int(band * 100)}% band", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def survival_png(kept: pd.DataFrame, scenario: str, band: float) -> str:
    """Each firm's survival curve of its first-year acquisitions, baseline and change, with bands."""
    firms = list(kept.firm.unique())
    fig = Figure(figsize=(4.5 * len(firms), 3), dpi=90)
    for ax, firm in zip(fig.subplots(1, len(firms), squeeze=False)[0], firms, strict=True):
        for name, colour in ((wi.BASELINE, "grey"), (scenario, "tab:blue")):
            c = kept[(kept.scenario == name) & (kept.firm == firm)]
            ax.fill_between(c.year, c.survival_low, c.survival_high, color=colour, alpha=0.2)
            ax.plot(c.year, c.survival, "o-", color=colour, label=name)
        ax.set_ylim(0, 1)
        ax.set_xticks(sorted(kept.year.unique()))
        ax.set_title(f"{firm}: first-year acquisitions still there", fontsize=9)
        ax.set_xlabel("year-end")
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


# The numbers table's columns, labelled for a board pack, with how each is shown.
COLUMNS = {
    "scenario": ("change", str),
    "firm": ("firm", str),
    "npv_change": ("NPV change", "{:+,.0f}"),
    "npv_change_pct": ("NPV change", "{:+.1f}%"),
    "npv_change_pct_low": ("band from", "{:+.1f}%"),
    "npv_change_pct_high": ("band to", "{:+.1f}%"),
    "chance_better": ("chance it is better", "{:.0%}"),
    "payback_week": ("pays back in week", "{:.0f}"),
    "share_change": ("long-run share change (points)", "{:+.1%}"),
    "advocacy_change": ("advocacy change", "{:+.1f}"),
}


def _shown(value, form) -> str:
    if form is str:
        return str(value)
    if isinstance(value, float) and np.isnan(value):
        return "does not pay back within the horizon" if form == "{:.0f}" else "n/a"
    return form.format(value)


def _table_html(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def sentences(a, table: pd.DataFrame, named: dict[str, list[str]]) -> list[str]:
    """One plain sentence per change, naming whose change it is."""
    firms = list(table.firm.unique())
    return [
        wi.in_words(rows, a.weeks, wi.owners(named.get(name, []), firms), a.band)
        for name, rows in table.groupby("scenario", sort=False)
    ]


def html_report(
    a,
    command: str,
    table: pd.DataFrame,
    pair: pd.DataFrame,
    diff: pd.DataFrame,
    world_text: str,
    money=None,
    named: dict[str, list[str]] | None = None,
    kept: pd.DataFrame | None = None,
) -> str:
    named = named or {}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>What if?</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:13px;max-width:100%}td,th{border:1px solid #ccc;padding:3px 6px;"
        "text-align:right}th{background:#f3f3f3}code{background:#f6f6f6;padding:1px 3px}li{margin:.4em 0}"
        "img{max-width:100%}pre{white-space:pre-wrap;word-break:break-all}"
        "@media print{@page{size:A4;margin:15mm}body{max-width:none;margin:0;font-size:11px}"
        "h2{break-after:avoid}img,table{break-inside:avoid}}</style></head><body>",
        "<h1>What if?</h1>",
        f"<p>{html.escape(world_text)}</p>",
        "<h2>In plain words</h2><ul>",
    ]
    for sentence in sentences(a, table, named):
        parts.append(f"<li>{html.escape(sentence)}</li>")
    parts.append("</ul>")
    ratio = pair.variance_ratio.median() if len(pair) else float("nan")
    parts.append(
        f"<p>Each change was run against its baseline on the same parameter draws and seeds (common random numbers):"
        f" the paired differences vary {ratio:.0f} times less than unpaired ones would (median over firms and"
        f" changes), so the bands show the uncertainty about the market, not the luck of the runs.</p>"
    )
    parts.append("<h2>The numbers</h2>")
    rows = [[_shown(r[c], form) for c, (_, form) in COLUMNS.items()] for _, r in table.iterrows()]
    parts.append(_table_html(rows, [label for label, _ in COLUMNS.values()]))
    if money is not None and len(money):
        parts.append(f"<h2>The firms' economics ({int(a.band * 100)}% band)</h2>")
        header = ["change", "firm", *(wi.ECONOMICS.values())]
        rows = []
        for _, r in money.iterrows():
            cells = [str(r.scenario), str(r.firm)]
            for metric in wi.ECONOMICS:
                form = "{:,.0f}" if metric in ("acquisition_cost", "lifetime_value") else "{:.1%}"
                value, lo, hi = r[metric], r[f"{metric}_low"], r[f"{metric}_high"]
                cells.append(
                    "n/a" if np.isnan(value) else f"{form.format(value)} [{form.format(lo)}, {form.format(hi)}]"
                )
            rows.append(cells)
        parts.append(_table_html(rows, header))
    for name in table.scenario.unique():
        parts.append(
            f"<h2>{html.escape(name)}</h2><img style='width:100%' src='data:image/png;base64,"
            f"{figure_png(diff, name, a.band)}'>"
        )
        if kept is not None and len(kept):
            parts.append(
                f"<p>Survival of each firm's first-year acquisitions, baseline against the change "
                f"({int(a.band * 100)}% band):</p><img style='width:100%' src='data:image/png;base64,"
                f"{survival_png(kept, name, a.band)}'>"
            )
    parts.append(f"<h2>Reproduce</h2><p>{html.escape(made_by())}.</p><pre><code>{html.escape(command)}</code></pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


@command
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    logging.getLogger("MESA").setLevel(logging.WARNING)
    a = parse(argv)
    named = scenarios(a)
    w, draws, seeds = world(a)
    for change in named.values():  # every change validated before any run
        w.settings(draws.iloc[0].to_dict(), 0, change)
    cmdline = "python -m sim.whatif " + " ".join(shlex.quote(x) for x in argv)
    text = (
        f"Calibrated market '{w.card.name}' ({a.calibration}): {len(draws)} posterior draws x {seeds} seeds."
        if w.card is not None
        else f"The default world{(' with ' + ' '.join(a.base)) if a.base else ''}: {seeds} seeds."
    ) + f" Horizon {a.weeks} weeks."
    print(text, flush=True)
    runs, economy, curves = wi.run(w, named, draws, seeds, a.jobs)
    diff = wi.differences(runs)
    table = wi.summary(diff, a.band)
    pair = wi.pairing(diff)
    table = table.merge(pair, on=["scenario", "firm"], how="left")
    money = wi.economics_table(economy, a.band)
    kept = wi.survival_table(curves, a.band)
    dest = Path(a.results_dir) / "whatif" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    with failing_as("writing", dest), atomic_folder(dest) as staged:
        runs.to_parquet(staged.tmp / "runs.parquet", index=False)
        diff.to_parquet(staged.tmp / "differences.parquet", index=False)
        table.to_csv(staged.tmp / "summary.csv", index=False)
        money.to_csv(staged.tmp / "economics.csv", index=False)
        kept.to_csv(staged.tmp / "survival.csv", index=False)
        (staged.tmp / "report.html").write_text(html_report(a, cmdline, table, pair, diff, text, money, named, kept))
    for sentence in sentences(a, table, named):
        print(sentence)
    print(f"written: {staged.final}/report.html")


if __name__ == "__main__":
    main()
