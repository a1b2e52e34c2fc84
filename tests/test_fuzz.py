"""Every command under generated input: the one rule of ``sim/runs/errors.py`` (README "When things go wrong").

Hypothesis draws each command's arguments from what its ``main`` reads (its flags and their ranges, Hydra
overrides of the composed config) mixed with what a user gets wrong: boundary and out-of-range numbers,
inf, nan, huge and negative ones, empty strings, odd unicode, paths that climb out (``../x``) or are absolute,
unknown flags, unknown keys, odd values of known keys and malformed overrides. It damages result folders (a
sweep's runs, a calibration) file by file. Every case must end as the rule says:

- exit 0, 1 or 2, and no traceback;
- on exit 1 or 2, one line on stderr;
- on exit 2, nothing written: the folders it was given, and the working folder, unchanged;
- no folder under a final name without its completion file (``summary.csv`` for a run, ``report.md`` for a
  report, ``report.html`` for a what-if), and no temporary (hidden) folder or file left behind;
- a sweep run twice into one folder with other settings holds, after the second, only the second's runs.

Markets that run are tiny (tens of customers, a few weeks). Where a case checks how a command reads its
arguments, the command's expensive inner work (a benchmark's child processes, a design sweep's runs, an
ABC-SMC fit, a what-if's or a check's markets) is a stand-in that returns results of the right shape at once,
after the same checks. Absolute paths point inside the case's own folder: nothing is written elsewhere.

The default run draws a few cases per command, the same ones every time (``derandomize``); ``-m slow`` draws
``SLOW`` times as many.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import __main__ as sim_main
from sim import aggregate, bench, calibrate, discover, docking, influence, pairing, sensitivity, validate, whatif
from sim.config import Settings, _field_info, compose, load, to_plain
from sim.runs import fingerprint, sweep

SLOW = 5  # the slow set draws this many times the default's cases
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
E = "@E"  # in a drawn argument: the case's own folder (an absolute path inside it)


def budget(few: int):
    """``few`` cases in the default run, ``SLOW`` times as many in the slow set."""
    many = few * SLOW
    return pytest.mark.parametrize(
        "examples", [pytest.param(few, id=f"{few}"), pytest.param(many, id=f"{many}", marks=pytest.mark.slow)]
    )


def drawn(examples: int):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None, suppress_health_check=HEALTH)


# --- what every case must do ----------------------------------------------------------------------


@dataclass
class Ended:
    code: int
    out: str
    err: str


def ended(main, argv: list[str], capsys) -> Ended:
    """Run a command's ``main`` in-process; it ends with 0, 1 or 2, no traceback, and one line when it fails."""
    capsys.readouterr()
    import time as _t

    _t0 = _t.time()
    try:
        code = main(argv)  # docking returns 1 when the engines differ
    except SystemExit as stopped:
        code = stopped.code
    code = 0 if code is None else code
    out, err = capsys.readouterr()
    if os.environ.get("FUZZ_LOG"):
        with open(os.environ["FUZZ_LOG"], "a") as log:
            note = [ln for ln in out.splitlines() if "unreadable" in ln or "made otherwise" in ln]
            log.write(f"{_t.time() - _t0:6.2f}s code={code} {argv!r:.300} | {err.strip()[:200]!r} {note!r:.300}\n")
    said = f"argv = {argv!r}\n--- stdout:\n{out[-3000:]}\n--- stderr:\n{err[-3000:]}"
    assert isinstance(code, int) and code in (0, 1, 2), said
    assert "Traceback" not in out + err, said
    if code:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, said
    return Ended(code, out, err)


def listing(root: Path) -> dict[str, tuple]:
    """Every file and folder under ``root``: a file by its size and time of change."""
    out: dict[str, tuple] = {}
    for where, folders, files in os.walk(root):
        here = Path(where)
        for name in folders:
            out[str((here / name).relative_to(root))] = ("folder",)
        for name in files:
            stat = (here / name).lstat()
            out[str((here / name).relative_to(root))] = ("file", stat.st_size, stat.st_mtime_ns)
    return out


def hidden(files: dict[str, tuple]) -> set[str]:
    """Hidden entries (temporary folders and files, claims), Hydra's own job folders (``.hydra``) aside."""
    return {p for p in files if any(part.startswith(".") for part in Path(p).parts) and ".hydra" not in Path(p).parts}


RUN_FILES = {"fingerprint.json", "config.yaml", "params.json", "timeseries.parquet", "segments.parquet"}


def incomplete(folder: Path, names: set[str]) -> str | None:
    """What a folder under its final name lacks to be complete, if it is one the commands write whole."""
    if folder.name == "report":
        return None if "report.md" in names else "a report without report.md"
    if folder.parent.name == "whatif":
        return None if "report.html" in names else "a what-if without report.html"
    if folder.parent.name == "bench":
        return None if {"bench.csv", "scaling.png"} <= names else "a benchmark without bench.csv and scaling.png"
    if names & RUN_FILES:
        return None if "summary.csv" in names else "a run folder without summary.csv"
    return None


def whole(root: Path, before: dict[str, tuple]) -> dict[str, tuple]:
    """Every folder the command wrote into is complete, and it left no temporary (hidden) entry; the listing."""
    after = listing(root)
    left = sorted(hidden(after) - hidden(before))
    assert not left, f"left behind: {left}"
    touched = {Path(p).parent for p, kind in after.items() if kind[0] == "file" and before.get(p) != kind}
    for folder in touched:
        if any(part.startswith(".") for part in folder.parts):
            continue
        names = {p.name for p in (root / folder).iterdir()} if (root / folder).is_dir() else set()
        lacks = incomplete(root / folder, names)
        assert lacks is None, f"{folder}: {lacks}"
    return after


def changed(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def launch_record(path: str) -> bool:
    """Hydra's own record of a sweep's launch (``<results_dir>/.hydra/``: hidden, never results), written when the
    sweep starts: before a run it holds refuses to be rerun (``strict=true``)."""
    return ".hydra" in Path(path).parts


def checked(main, argv: list[str], root: Path, capsys) -> Ended:
    """``main(argv)`` under the rule, its folder ``root`` (its results and its working folder) checked."""
    before = listing(root)
    done = ended(main, argv, capsys)
    after = whole(root, before)
    if done.code == 2:
        written = [p for p in changed(before, after) if not launch_record(p)]
        assert not written, f"exit 2 and written: {written}\n{done.err}"
    return done


@pytest.fixture(scope="module", autouse=True)
def nothing_in_the_repository():
    """The cases write only into their own folders: not into results/ nor anywhere else in the repository.

    Checked when the module runs alone in its process (the slow set runs serially): beside other workers' tests,
    or a user's runs in results/ (say so with ``FUZZ_SHARED_CHECKOUT=1``), a change here would not be the cases'."""
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("FUZZ_SHARED_CHECKOUT"):
        yield
        return

    def state():
        git = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True
        )
        new = sorted(line for line in git.stdout.splitlines() if line.startswith("??"))  # files no one committed
        return new, listing(ROOT / "results"), listing(ROOT / "conf")

    before = state()
    yield
    assert state() == before


@pytest.fixture
def case(tmp_path, monkeypatch):
    """A fresh folder per drawn case, its working folder two levels down (``../x`` and ``../../x`` stay in it),
    with a file where a folder may be given: ``new()`` makes one and changes into it."""

    def new() -> Path:
        root = Path(tempfile.mkdtemp(dir=tmp_path))
        work = root / "a" / "b"
        work.mkdir(parents=True)
        (root / "file.txt").write_text("not a folder\n")
        (work / "file.txt").write_text("not a folder\n")
        monkeypatch.chdir(work)
        return root

    return new


def placed(argv: list[str], root: Path, **more: Path) -> list[str]:
    """The drawn arguments with ``@E`` (and ``@<NAME>``) made absolute paths into the case's folders."""
    out = []
    for a in argv:
        for name, path in more.items():
            a = a.replace(f"@{name}", str(path))
        out.append(a.replace(E, str(root)))
    return out


# --- what is drawn ------------------------------------------------------------------------------------

ODD_NUMBERS = [
    "0", "-1", "-0", "1e-300", "1e308", "-1e308", "1e400", "inf", "-inf", "nan", "NaN", "1e3", "2.5", "0.5",
    str(2**63), str(2**64), "99999999999999999999999", "0x10", "1_000", "\uff11\uff12", "\u0663", "+3", " 3",
    "3 ", "--5", "1e", ".", "-",
]  # fmt: skip
ODD_TEXT = [
    "", " ", "é", "\u0301", "😀", "\u200b", "\u202eabc", "ǅ", "a\tb", "a\nb", "null", "None", "~", "true", "[]", "{}",
    "[1,", "{a: 1}", "${nope}", "${oc.env:NOPE_NOT_SET}", "'", '"', "\\", "%s", "*", "?", "a,b", "a=b", "x" * 300,
]  # fmt: skip
PATHS = [
    "out", "nested/deeper/out", "../up", "../../up2", "x/../../y", "", ".", "..", "-", "a b", "é/ü", "😀", "~",
    "$HOME", "file.txt", "file.txt/sub", f"{E}/abs", f"{E}/abs/deeper", f"{E}/file.txt", f"{E}/file.txt/sub",
    f"{E}/missing/../abs2", "x" * 300,
]  # fmt: skip
UNKNOWN_FLAGS = [["--nope"], ["-x"], ["--n=5", "--n"], ["---"], ["--"], ["-"], ["--help"], ["-h"]]
SIZES = {  # drawn values of the keys that size a run: small if valid (a market runs), else wrong
    "customers.n": (st.integers(50, 200), ["-5", "0", "9", "10", "20000001", "1e3", "50.5", "nan", "inf", "many"]),
    "steps": (st.integers(2, 6), ["-1", "0", "100001", "2.5", "nan", "inf", "1e400", "", "weeks"]),
}
GRID_EXPERIMENTS = {"policy_map", "horizon_map", "learning_from_scratch"}  # their own sweep: many runs
HYDRA = [  # a launcher's settings (never one that starts worker processes: joblib on one job runs in-process)
    ["hydra/launcher=basic"], ["hydra/launcher=nope"], ["hydra/launcher="], ["hydra.launcher.n_jobs=2"],
    ["hydra.nope=1"], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=0"],
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=1"], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=4097"],
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=x"], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=-0.5"],
]  # fmt: skip
UNKNOWN = [
    "customers.patience=3", "nope=1", "firms.nobody.price=9", "market.reach.deeper=1", "firms.giving.changes.0.week=3",
    "+seed=3", "+market.novel=1", "++market.reach=0.1", "~market.reach", "~seed", "~nope", "customers=3", "firms={}",
    "market.costs={}", "firms.giving={price: 9}", "+firms.third={price: 9}", "customers.segments.groups={}",
]  # fmt: skip
MALFORMED = [
    "=", "=1", "seed", "seed==1", "seed=[1,", "seed={", "a b=1", "seed=1 2", "+", "~", "seed='", 'seed="',
    "seed=\\", "firms.café.price=9", "market.reach=0.1 é", "seed=${nope}", "seed=${oc.env:NOPE_NOT_SET}", "seed=1,",
    ",=", "@=1", "policy@=giving", "seed=%", "customers.n=\u0661\u0662", "market.reach=1e", "seed=0x10", "seed=${",
    "market.shocks=[{kind: flood, week: 1, duration: 1, size: 1}]",
    "market.shocks=[{kind: outage, week: 1, duration: 1, size: 0.5, firm: nobody}]",
    "market.shocks=[{kind: outage, week: 600, duration: 4, size: 0.8, firm: giving}]",
    "market.shocks=[{kind: price_cut, week: 1, duration: 1, size: 1, firm: taking}]",
    "market.shocks=[{kind: voice, week: 1, duration: 0, size: 2}]", "market.shocks=[1, 2]", "market.shocks=x",
    "firms.giving.changes=[{week: soon, ramp: 1}]", "firms.giving.changes=[{week: 1, ramp: 1, policy: nope}]",
    "firms.giving.changes=[{week: 1, ramp: 1, levers: {price: -1}}]", "firms.giving.changes=[{week: 1, ramp: 1}]",
    "firms.giving.changes=[{week: 1, ramp: 1, levers: [1]}]", "firms.giving.management.levers=[nope]",
    "firms.giving.management.levers=[]", "market.service_weights=[1, 2]", "market.service_weights=[1, 1, 1, -1]",
    "customers.segments.groups.a.share=0.5",
]  # fmt: skip
RESULTS_DIRS = [
    f"results_dir={E}/r2", "results_dir=../r3", "results_dir=", f"results_dir={E}/file.txt",
    f"results_dir={E}/file.txt/sub", "results_dir=${oc.env:NOPE_NOT_SET}", "results_dir=null", "results_dir=[1]",
]  # fmt: skip


@functools.cache
def config_keys() -> dict[str, object]:
    """Every leaf key of the composed default config (lists as leaves), with its default value."""
    keys: dict[str, object] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{key}.")
            else:
                keys[f"{prefix}{key}"] = value

    walk(to_plain(compose([])), "")
    return {k: v for k, v in keys.items() if k != "results_dir"}


@functools.cache
def experiments() -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def _bounds(key: str) -> tuple[object, object, list[str]]:
    """A settings key's allowed (low, high), and its choices if it is one of a few words."""
    _, info = _field_info(Settings, tuple(key.split(".")))
    if info is None:
        return None, None, []
    lo = hi = None
    for m in info.metadata:
        lo = getattr(m, "ge", getattr(m, "gt", lo))
        hi = getattr(m, "le", getattr(m, "lt", hi))
    kind = info.annotation
    choices = [e.value for e in kind] if isinstance(kind, type) and issubclass(kind, str) and kind is not str else []
    return lo, hi, choices


def value_of(key: str) -> st.SearchStrategy[str]:
    """A value for ``key``: a small one if it sizes a run, else its default, its bounds, just outside them, its
    choices, or something odd."""
    if key in SIZES:
        valid, wrong = SIZES[key]
        return st.one_of(valid.map(str), st.sampled_from(wrong))
    default = config_keys().get(key)
    lo, hi, choices = _bounds(key)
    near: list[object] = [default, *choices]
    if isinstance(default, bool):
        near += [not default, "yes", "1", "maybe"]
    elif isinstance(default, int | float):
        for edge in (lo, hi):
            if edge is not None:
                near += [edge, edge - 1 if isinstance(edge, int) else edge - 1e-9, edge + 1]
    elif isinstance(default, list):
        near += ["[]", "[1, 2]", "[a]", "null"]
    near_text = [json.dumps(v) if isinstance(v, list | dict) else str(v) for v in near]
    return st.one_of(st.sampled_from(near_text), st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_TEXT))


def key_value() -> st.SearchStrategy[str]:
    keys = sorted(k for k in config_keys() if k not in ("experiment",))
    return st.sampled_from(keys).flatmap(lambda k: value_of(k).map(lambda v: f"{k}={v}"))


def group_override(multirun: bool = False) -> st.SearchStrategy[str]:
    names = [e for e in experiments() if not (multirun and e in GRID_EXPERIMENTS)]
    return st.one_of(
        st.sampled_from(names + ["nope", "", "../../x", "/tmp/x", "giving_vs_taking,monopoly"]).map(
            lambda v: f"experiment={v}"
        ),
        st.sampled_from(["none", "watts_strogatz", "barabasi_albert", "erdos_renyi", "mixed", "nope", ""]).map(
            lambda v: f"network={v}"
        ),
        st.sampled_from(["giving", "taking", "fake_love", "nope", ""]).map(lambda v: f"policy@firms.giving={v}"),
        st.sampled_from(["fixed", "myopic", "patient", "imitate", "learner", "nope"]).map(
            lambda v: f"management@firms.taking={v}"
        ),
        st.sampled_from(["alike", "default", "nope"]).map(lambda v: f"customers/segments={v}"),
        st.sampled_from(["market=default", "market=nope", "+policy@firms.third=giving", "policy@firms.newfirm=giving"]),
    )


def overrides(multirun: bool = False) -> st.SearchStrategy[str]:
    """One Hydra override as a user types it: a known key with a valid or odd value, an unknown key, a malformed
    one, a group choice, or a launcher's setting."""
    return st.one_of(
        key_value(),
        st.sampled_from(UNKNOWN),
        st.sampled_from(MALFORMED),
        group_override(multirun),
        st.sampled_from(RESULTS_DIRS),
    )


def number(valid: st.SearchStrategy, wrong: list[object]) -> st.SearchStrategy[str]:
    """A number argument's text: valid (small, where it sizes work), just outside its range, or odd."""
    return st.one_of(valid.map(str), st.sampled_from([str(w) for w in wrong]), st.sampled_from(ODD_NUMBERS))


def flag(name: str, *values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*values).map(lambda vs: [name, *vs])


def several(values: st.SearchStrategy[str], most: int = 2) -> st.SearchStrategy[list[str]]:
    return st.lists(values, max_size=most)


def arguments(*options: st.SearchStrategy[list[str]], most: int = 5) -> st.SearchStrategy[list[str]]:
    """Some of ``options`` (each a list of tokens), in any order, with now and then an unknown flag."""
    pool = st.one_of(*options, st.sampled_from(UNKNOWN_FLAGS))
    return st.lists(pool, max_size=most).map(lambda parts: [token for part in parts for token in part])


def unlikely(*options: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    """Mostly nothing, now and then one of ``options``."""
    return st.one_of(st.just([]), st.just([]), st.just([]), *options)


def given_once(value: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), value)


NAMES = st.sampled_from(["n1", "a.b", "x" * 255, "x" * 240, "", ".hidden", "../x", "/tmp/x", "a/b", "é", "a b"])
PATH = st.sampled_from(PATHS)
JOBS = number(st.integers(1, 4), [0, 4097, -1])
SEED = number(st.integers(0, 3), [-1, 2**32])
LAUNCHER = st.sampled_from(["basic", "joblib", "nope", "", "../x", "local"])
FIRM = st.sampled_from(["giving", "taking", "nobody", "", "incumbent"])
EXPERIMENT = st.sampled_from(["giving_vs_taking", "giving_vs_taking", "monopoly", "newcomer", "nope", "", "../x"])


# --- stand-ins for work that takes long: the same checks first, then results of the right shape ------------


def fake_sweep(cmd: list[str]) -> None:
    """What the design sweep ``python -m sim -m design=... design_row=range(0,N) ...`` does, at once: the checks
    it makes before any run (``sim.__main__.prepare_multirun``: one line and exit 2 for a bad value), then each
    row's run folder, complete, with made-up numbers (a resumed sweep's complete runs are kept)."""
    assert cmd[1:4] == ["-m", "sim", "-m"], cmd
    argv = cmd[4:]
    base = sweep.preflight(argv)
    given = [o for o in sweep.parse(argv) if sweep.key_of(o) == "sweep" and o.value() is not None]
    folder = Path(base.results_dir) / base.experiment / sweep.check_name(given[-1])
    parsed = sweep.parse(argv)
    (rows,) = [list(o.sweep_iterator()) for o in parsed if sweep.key_of(o) == "design_row"]
    design = pd.read_csv(base.design)
    task = [o.input_line for o in parsed if not o.is_hydra_override() and sweep.key_of(o) != "design_row"]
    firms = {name: firm.policy for name, firm in base.firms.items()}
    for row in rows:
        run = folder / f"design_row={row}"
        if (run / "summary.csv").is_file():
            continue
        values = {k: (v.item() if hasattr(v, "item") else v) for k, v in design.iloc[row].items()}
        rng = np.random.default_rng(row)
        run.mkdir(parents=True, exist_ok=True)
        params = {"overrides": sweep.run_params([*task, f"design_row={row}"]), "design": values}
        (run / "params.json").write_text(json.dumps({**params, "task": [*task, f"design_row={row}"]}))
        weeks = pd.DataFrame(
            [
                {"week": w, "firm": f, "policy": p, "share": rng.random(), "cumulative_profit": w * rng.normal(1e3),
                 "advocacy": rng.normal(0, 20)}
                for w in (1, 2) for f, p in firms.items()
            ]
        )  # fmt: skip
        weeks.to_parquet(run / "timeseries.parquet", index=False)
        summary = pd.DataFrame(
            [
                {"firm": f, "policy": p, "long_run_share": rng.random(), "npv": rng.normal(0, 1e5),
                 "cumulative_profit": rng.normal(0, 1e5), "advocacy": rng.normal(0, 20), "devoted_share": rng.random(),
                 "profit_lead_week": rng.choice([np.nan, 1.0]), "annual_churn": np.nan if row % 7 == 6 else rng.random()}
                for f, p in firms.items()
            ]
        )  # fmt: skip
        summary.to_csv(run / "summary.csv", index=False)


BENCH_ROW = {
    "import_s": 0.1, "setup_s": 0.1, "first_week_s": 0.1, "run_s": 0.1, "wall_s": 0.3, "s_per_step": 0.05,
    "customer_steps_per_s": 2000.0, "peak_mb": 100.0, "edges": 400, "mean_degree": 4, "network": "watts_strogatz",
}  # fmt: skip


def fake_measure(n, steps, network, engine="compiled", seed=0, degree=None, overrides=None, threads=1, **_):
    return {"engine": engine, "threads": threads, "customers": n, "steps": steps, **BENCH_ROW}


def fake_pairing(change, base, seeds, n, steps, jobs=2) -> pd.DataFrame:
    rows = [
        {"firm": f, "metric": m, "effect": 1.0, "ci_low": 0.5, "ci_high": 1.5, "paired_variance": 1.0,
         "unpaired_variance": 4.0, "variance_ratio": 4.0}
        for f in ("giving", "taking") for m in pairing.METRICS.values()
    ]  # fmt: skip
    return pd.DataFrame(rows)


def fake_whatif_run(world, scenarios, draws, seeds, jobs) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The runs of every scenario, draw and seed: one row per week and firm, one row per firm of its economics, and
    one per firm and year of its survival, made up (the world's settings built as a run builds them)."""
    from sim.calibration import whatif as wi

    settings = world.settings(draws.iloc[0].to_dict(), 0, [])
    rng = np.random.default_rng(0)
    rows = [
        {"scenario": name, "draw": d, "seed": s, "week": w, "firm": f, "share": rng.random(),
         "cumulative_profit": w * rng.normal(100, 10), "npv": w * rng.normal(90, 10), "advocacy": rng.normal(0, 20)}
        for d in range(len(draws)) for s in range(seeds) for name in (wi.BASELINE, *scenarios)
        for w in range(1, settings.steps + 1) for f in settings.firms
    ]  # fmt: skip
    economy = [
        {"scenario": name, "draw": d, "seed": s, "firm": f, **{m: rng.random() for m in wi.ECONOMICS}}
        for d in range(len(draws)) for s in range(seeds) for name in (wi.BASELINE, *scenarios) for f in settings.firms
    ]  # fmt: skip
    kept = [
        {"scenario": name, "draw": d, "seed": s, "firm": f, "year": y, "survival": rng.random()}
        for d in range(len(draws)) for s in range(seeds) for name in (wi.BASELINE, *scenarios) for f in settings.firms
        for y in range(1, settings.steps // 52 + 1)
    ]  # fmt: skip
    return (
        pd.DataFrame(rows),
        pd.DataFrame(economy),
        pd.DataFrame(kept, columns=["scenario", "draw", "seed", "firm", "year", "survival"]),
    )


@pytest.fixture
def quick(monkeypatch, tmp_path):
    """Every command's long work replaced by its stand-in (``fake_*``), after the checks the command makes."""
    from sim.calibration import coverage, noise, synthetic
    from sim.calibration import kpis as kpis_table
    from sim.calibration import whatif as wi
    from sim.validation import baseline, bass, facts, observables, spend

    monkeypatch.setattr(bench, "measure", fake_measure)
    monkeypatch.setattr(bench, "profile", lambda n, *a, **k: {"total": 0.01, "population's step": 0.006, "x": 0.002})
    monkeypatch.setattr(bench, "sweep", lambda runs, n, steps, engine, o, jobs=2: {"engine": engine, "runs": runs,
                        "customers": n, "steps": steps, "jobs": jobs, "wall_s": 1.0, "runs_per_minute": 60.0})  # fmt: skip
    monkeypatch.setattr(sensitivity, "run_sweep", fake_sweep)
    monkeypatch.setattr(pairing, "measure", fake_pairing)
    monkeypatch.setattr(calibrate, "calibrate", lambda argv, a, card, root, key: print(f"calibrating {card.name}"))
    monkeypatch.setattr(wi, "run", fake_whatif_run)
    monkeypatch.setattr(bass, "adoption", lambda p, q, n=0, steps=78, seed=0, extra=(): np.linspace(0, 1, steps + 1))
    monkeypatch.setattr(facts, "measure", lambda n, seeds: {"cohort_retention": pd.DataFrame({"retention": [0.9]})})
    fake_runs = pd.DataFrame(
        {"seed": [0, 1, 0, 1], "firm": ["giving", "giving", "taking", "taking"],
         **{k: [0.1, 0.2, 0.3, 0.4] for k in observables.PUBLISHED}}
    )  # fmt: skip
    monkeypatch.setattr(observables, "measure", lambda n, seeds, o, jobs=2: fake_runs)
    summaries = pd.DataFrame({"seed": [0], "firm": ["giving"], **{m: [1.0] for m in baseline.METRICS}})
    monkeypatch.setattr(baseline, "summaries", lambda seeds=baseline.SEEDS: summaries)
    monkeypatch.setattr(
        spend, "simulate", lambda s, progress=None: (pd.DataFrame(
            {"firm": list(s.firms), "discount_given": 1.0, "free_fixes": 1.0, "customers": 10}), None)
    )  # fmt: skip
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf" / "market_data", conf / "market_data")
    monkeypatch.setattr(synthetic, "CONF_DIR", conf)
    monkeypatch.setattr(synthetic, "kpis", lambda name: {f: dict.fromkeys(synthetic.SD, 0.5) for f in ("us", "rival")})
    monkeypatch.setattr(coverage, "card_for", lambda card, truth, customers, weeks, k=0: card)
    monkeypatch.setattr(
        coverage, "recover", lambda card, folder, *a: pd.DataFrame(
            {"parameter": list(card.free), "truth_inside_90": True, "width_over_prior": 0.5, "truth_rank": 0.5})
    )  # fmt: skip
    monkeypatch.setattr(
        noise,
        "measure",
        lambda card, params, seed: {(f, k): 0.5 for f in card.firms for k in (*synthetic.SD, *kpis_table.RETENTION)},
    )
    return summaries


# --- python -m sim ----------------------------------------------------------------------------------

SWEEPS = [
    "seed=0,1", "seed=range(0,2)", "seed=range(0,0)", "seed=range(2,0)", "seed=choice(0,1)", "seed=interval(0,1)",
    "seed=glob(*)", "seed=0,-1", "seed=0,x", "market.reach=0.1,0.2", "market.reach=0.1,7", "customers.n=60,5",
    "customers.n=60,80", "network=none,watts_strogatz", "network=none,nope", "experiment=giving_vs_taking,monopoly",
    "policy@firms.giving=giving,taking", "design=design.csv design_row=range(0,2)", "design_row=range(0,2)",
    "design=file.txt design_row=range(0,2)", "design=design.csv design_row=range(0,5)", "steps=2,3",
    "+market.nope=1,2", "sweep=a,b", "sweep=../x", "sweep=", "sweep=ok", f"sweep={'x' * 300}", "strict=true",
    "reuse=true", "seed=0,1 seed=2,3", "firms.giving.price=9,${nope}", "customers.n=60,300 network.mean_degree=4,100",
    "firms.giving.enters_at=0,5 firms.taking.enters_at=0,5", "market.shocks=[],[{kind: voice, week: 4, duration: 1, size: 0.5}] steps=3,6",
]  # fmt: skip
HYDRA_FLAGS = [
    ["--cfg", "job"], ["--cfg", "everything"], ["-c", "hydra"], ["--cfg", "job", "--resolve"], ["--info"],
    ["--info", "nope"], ["--config-name", "nope"], ["--config-name=nope"], ["--config-dir", f"{E}/abs"],
    ["--experimental-rerun", f"{E}/file.txt"], ["--experimental-rerun", "missing.pickle"], ["--nope"], ["-x"],
    ["--version"], ["--package", "x"], ["--multirun"],
]  # fmt: skip


@st.composite
def sim_argv(draw) -> list[str]:
    multirun = draw(st.booleans())
    argv = ["-m"] if multirun else []
    argv += [f"customers.n={draw(st.integers(50, 200))}", f"steps={draw(st.integers(2, 6))}", "progress=false"]
    argv.append(f"results_dir={E}/results")
    for part in draw(st.lists(st.one_of(overrides(multirun).map(lambda o: [o]), st.sampled_from(HYDRA)), max_size=2)):
        argv += part
    if multirun:
        argv += [t for s in draw(st.lists(st.sampled_from(SWEEPS), min_size=1, max_size=2)) for t in s.split(" ")]
    return argv + draw(unlikely(st.sampled_from(HYDRA_FLAGS)))


def sim_command(monkeypatch):
    def main(argv: list[str]) -> None:
        monkeypatch.setattr(sys, "argv", ["sim", *argv])
        return sim_main.cli()

    return main


@budget(6)
def test_sim(examples, case, capsys, monkeypatch):
    """``python -m sim`` (a run, or a sweep with ``-m``) with drawn overrides and flags."""

    @drawn(examples)
    @given(argv=sim_argv())
    def one(argv):
        root = case()
        pd.DataFrame({"customers.review_rate": [0.005, 0.02]}).to_csv("design.csv", index=False)
        checked(sim_command(monkeypatch), placed(argv, root), root, capsys)

    one()


SETTINGS = {  # a sweep's fixed settings, drawn twice: the second launch must rerun each run made otherwise
    "customers.n": st.sampled_from([50, 60]),
    "steps": st.sampled_from([2, 3]),
    "market.reach": st.sampled_from([0.0, 0.1]),
    "network": st.sampled_from(["none", "watts_strogatz"]),
    "firms.giving.price": st.sampled_from([9.0, 10.0]),
    "engine": st.sampled_from(["compiled", "agents"]),  # result-neutral: no reason to rerun
}
BETWEEN = [  # what happens to the sweep's folder between the launches
    None,
    ("seed=0", "fingerprint.json", lambda p: p.unlink()),
    ("seed=1", "fingerprint.json", lambda p: p.write_text("{'settings")),
    ("seed=0", "fingerprint.json", lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "model": "x"}))),
    ("seed=1", "summary.csv", lambda p: p.unlink()),
    ("seed=0", "config.yaml", lambda p: p.write_text("seed: [1\n")),
    (".seed=1.tmp-999999999-dead", None, lambda p: p.mkdir()),
    (".seed=0.claim", None, lambda p: p.write_text(json.dumps({"host": "elsewhere", "pid": 2**22 + 1}))),
]


@budget(1)
def test_a_sweep_launched_again_with_other_settings(examples, case, capsys, monkeypatch):
    """The same sweep folder, launched twice with drawn settings: after the second, every run in it was made
    with the second's settings (or the second stopped with ``strict=true``, leaving the folder as it was)."""

    @drawn(examples)
    @given(
        first=st.fixed_dictionaries(SETTINGS),
        second=st.fixed_dictionaries(SETTINGS),
        between=st.sampled_from(BETWEEN),
        control=st.sampled_from([[], [], ["strict=true"], ["reuse=true"]]),
    )
    def one(first, second, between, control):
        root = case()
        results = root / "results"
        launch = ["-m", "seed=0,1", "sweep=pilot", "progress=false", f"results_dir={results}"]
        main = sim_command(monkeypatch)
        assert ended(main, [*launch, *(f"{k}={v}" for k, v in first.items())], capsys).code == 0
        folder = results / "giving_vs_taking" / "pilot"
        if between is not None:
            name, file, damage = between
            damage(folder / name / file if file else folder / name)
        wanted = [*(f"{k}={v}" for k, v in second.items()), *control]
        done = checked(main, [*launch, *wanted], root, capsys)
        made = fingerprint.settings_of(load([*wanted, "seed=0"]))
        if done.code == 2:
            assert control == ["strict=true"] and "strict=true refuses to rerun it" in done.err
            return
        assert done.code == 0
        runs = [p for p in folder.iterdir() if not p.name.startswith(".") and (p / "summary.csv").is_file()]
        seeds = []
        for run in runs:
            seeds.append(json.loads((run / "params.json").read_text())["overrides"]["seed"])
            found = fingerprint.read(run)
            assert found is not None and found["settings"] == {**made, "seed": seeds[-1]}, (run, found)
        assert sorted(seeds) == [0, 1]

    one()


# --- python -m sim.aggregate: its arguments, and damaged sweeps -------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished sweep over two keys (four runs), and a run of another experiment."""
    root = tmp_path_factory.mktemp("made")
    results = root / "results"

    def sim(*argv: str) -> None:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            mp.setattr(sys, "argv", ["sim", *argv, "customers.n=60", "steps=3", "progress=false"])
            sim_main.cli()

    sim("-m", "market.reach=0.05,0.2", "market.switching_cost=1,2", "sweep=grid", f"results_dir={results}")
    sim("-m", "experiment=monopoly", "seed=0", "sweep=other", f"results_dir={results}")
    return results / "giving_vs_taking" / "grid", results / "monopoly" / "other" / "run"


def copied(made, root: Path) -> Path:
    grid, _ = made
    copy = root / "results" / "giving_vs_taking" / "grid"
    shutil.copytree(grid, copy)
    return copy


MAP_KEYS = st.sampled_from(
    ["market.reach", "market.switching_cost", "seed", "design_row", "steps", "customers.n", "firm", "npv", "", "é"]
)
METRIC = st.sampled_from(["npv", "long_run_share", "advocacy", "profit_lead_week", "firm", "policy", "run", "x", ""])
SWEEP_ARG = st.sampled_from(
    ["@S", "@S/", E, f"{E}/missing", "", ".", f"{E}/file.txt", "../..", "@S/..", "@S/market.reach=0.05,market.switching_cost=1"]
)  # fmt: skip


@budget(3)
def test_aggregate_arguments(examples, made, case, capsys):
    @drawn(examples)
    @given(
        sweep_arg=st.lists(SWEEP_ARG, max_size=2),
        rest=arguments(
            flag("--map", MAP_KEYS, MAP_KEYS), flag("--map", MAP_KEYS), flag("--metric", METRIC), st.just(["--strict"])
        ),
    )
    def one(sweep_arg, rest):
        root = case()
        sweep_dir = copied(made, root)
        checked(aggregate.main, placed([*sweep_arg, *rest], root, S=sweep_dir), root, capsys)

    one()


READ = ["summary.csv", "params.json", "config.yaml", "fingerprint.json", "timeseries.parquet"]  # what aggregate reads
FILES = [*READ, *READ, "segments.parquet", "segments.csv", "tenure.csv", "cohorts.csv"]
COLUMNS = [  # of summary.csv and timeseries.parquet: those the report reads, or any by its place
    "npv", "long_run_share", "advocacy", "cumulative_profit", "profit_lead_week", "firm", "policy", "week", "share",
    "margin", 0, 3, 7, 12, 20,
]  # fmt: skip
JSON_VALUES = [None, "x", -1, 0, 1e308, float("nan"), float("inf"), [], {}, True, "", "é", {"a": 1}, [1, 2]]
CELLS = ["", "x", "nan", "inf", "-inf", "1e400", "-1", "é", "1,5", "None"]
NEW_RUNS = ["seed=7", "extra", "market.reach=0.9,market.switching_cost=9", "report", "a b"]


def _leaf_paths(value, path=()):
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaf_paths(v, (*path, k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaf_paths(v, (*path, i))
    else:
        yield path


def flip_json(path: Path, which: int, value) -> None:
    """Set one value of a JSON file (the ``which``-th leaf, in order) to ``value``."""
    data = json.loads(path.read_text())
    leaves = list(_leaf_paths(data))
    *parents, last = leaves[which % len(leaves)] or ("added",)
    node = data if isinstance(data, dict | list) else {}
    for p in parents:
        node = node[p]
    node[last] = value
    path.write_text(json.dumps(data))


def damage_file(path: Path, how: str, arg) -> None:
    if not path.is_file():  # gone or made a folder by an earlier damage
        return
    if how == "cut":
        path.write_bytes(path.read_bytes()[: int(len(path.read_bytes()) * arg)])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "bytes":
        path.write_bytes(arg)
    elif how == "delete":
        path.unlink()
    elif how == "folder":
        path.unlink()
        path.mkdir()
        (path / "inside").write_text("x")
    elif how == "json":
        try:
            flip_json(path, *arg)
        except ValueError:
            path.write_text(json.dumps(arg[1]))
    elif how == "cell":
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        row, column, value = arg
        name = (
            column
            if column in table.columns
            else table.columns[column % len(table.columns) if isinstance(column, int) else 0]
        )
        table.loc[table.index[row % len(table)], name] = value
        table.to_csv(path, index=False)
    elif how == "column":
        csv = path.suffix == ".csv"
        table = pd.read_csv(path) if csv else pd.read_parquet(path)
        column, change = arg
        name = (
            column
            if column in table.columns
            else table.columns[column % len(table.columns) if isinstance(column, int) else 0]
        )
        if change == "drop":
            table = table.drop(columns=name)
        elif change == "text":
            table[name] = table[name].astype(str) + "x"
        else:
            table[name] = float(change)
        table.to_csv(path, index=False) if csv else table.to_parquet(path, index=False)
    elif how == "text":
        path.write_text(arg)


RUN = st.integers(0, 3)
BYTES = st.one_of(
    st.tuples(st.sampled_from(["cut"]), RUN, st.sampled_from(FILES), st.floats(0, 0.99)),
    st.tuples(st.sampled_from(["empty", "delete", "folder"]), RUN, st.sampled_from(FILES), st.none()),
    st.tuples(st.just("bytes"), RUN, st.sampled_from(FILES), st.binary(max_size=64)),
)
VALUES = st.one_of(
    st.tuples(
        st.just("json"),
        RUN,
        st.sampled_from(["params.json", "fingerprint.json"]),
        st.tuples(st.integers(0, 200), st.sampled_from(JSON_VALUES)),
    ),
    st.tuples(
        st.just("cell"),
        RUN,
        st.just("summary.csv"),
        st.tuples(st.integers(0, 5), st.sampled_from(COLUMNS), st.sampled_from(CELLS)),
    ),
    st.tuples(
        st.just("column"),
        RUN,
        st.sampled_from(["timeseries.parquet", "summary.csv"]),
        st.tuples(st.sampled_from(COLUMNS), st.sampled_from(["drop", "text", "nan", "inf"])),
    ),
    st.tuples(
        st.just("text"),
        RUN,
        st.just("config.yaml"),
        st.sampled_from(["", "seed: [1\n", "- a\n", "seed: x\n", "customers: {n: -5}\n", "\x01\x02: \x03\n"]),
    ),
)
FOLDERS = st.one_of(
    st.tuples(st.just("extra"), st.sampled_from(NEW_RUNS), st.none(), st.none()),
    st.tuples(st.just("copy"), RUN, st.sampled_from(NEW_RUNS), st.none()),
    st.tuples(
        st.just("leftover"),
        st.sampled_from([".report.new", ".report.old-1", "report", ".seed=9.tmp-1-dead", ".x.claim"]),
        st.sampled_from(["folder", "file"]),
        st.none(),
    ),
)
DAMAGE = st.one_of(BYTES, VALUES, VALUES, FOLDERS)  # a file's bytes, a value in it, or the sweep's folders


def damage_sweep(sweep_dir: Path, other: Path, op: tuple) -> None:
    how, which, what, arg = op
    runs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "report")
    if how == "extra":
        if not (sweep_dir / which).exists():
            shutil.copytree(other, sweep_dir / which)
    elif how == "copy":
        if runs and not (sweep_dir / what).exists():
            shutil.copytree(runs[which % len(runs)], sweep_dir / what)
    elif how == "leftover":
        path = sweep_dir / which
        if path.exists():
            return
        if what == "folder":
            path.mkdir()
            (path / "junk.txt").write_text("left by a process that was killed\n")
        else:
            path.write_text("junk\n")
    elif runs:
        damage_file(runs[which % len(runs)] / what, how, arg)


@budget(3)
def test_aggregate_on_a_damaged_sweep(examples, made, case, capsys):
    """A sweep damaged file by file: each run left out and named, refused (made otherwise), or the command stops
    in one line; a report is whole or the old one is kept."""

    @drawn(examples)
    @given(
        ops=st.lists(DAMAGE, min_size=1, max_size=3),
        rest=st.lists(
            st.sampled_from(
                [["--strict"], ["--map", "market.reach", "market.switching_cost"], ["--metric", "advocacy"]]
            ),
            max_size=2,
        ).map(lambda parts: [t for part in parts for t in part]),
    )
    def one(ops, rest):
        root = case()
        sweep_dir = copied(made, root)
        for op in ops:
            damage_sweep(sweep_dir, made[1], op)
        report_before = listing(sweep_dir / "report") if (sweep_dir / "report").is_dir() else None
        done = checked(aggregate.main, [str(sweep_dir), *rest], root, capsys)
        if done.code == 0 and not {"-h", "--help"} & set(rest):
            assert (sweep_dir / "report" / "report.md").is_file()
        else:
            now = listing(sweep_dir / "report") if (sweep_dir / "report").is_dir() else None
            assert now == report_before, "a failed aggregate changed the report"

    one()


# --- python -m sim.bench, sim.docking ---------------------------------------------------------------

CUSTOMERS = number(st.integers(50, 200), [9, 10, 20_000_001, -5])
WEEKS = number(st.integers(2, 6), [0, 100_001])


def listed(name: str, values: st.SearchStrategy[str], most: int = 2) -> st.SearchStrategy[list[str]]:
    """A flag taking several values (``--sizes 100 200``), with none now and then."""
    return st.lists(values, max_size=most).map(lambda vs: [name, *vs])


def positional(most: int = 2) -> st.SearchStrategy[list[str]]:
    return st.lists(overrides(), max_size=most)


@budget(3)
def test_bench(examples, quick, case, capsys):
    """``python -m sim.bench``: its cases' sizes, threads, weeks, degrees, network, overrides; each case's child
    process is a stand-in."""
    sizes = number(st.integers(10, 100_000), [9, 20_000_001, -5])
    rest = arguments(
        listed("--sizes", sizes),
        listed("--threads", number(st.integers(1, 8), [0, 257])),
        listed("--agents-sizes", sizes),
        flag("--steps", number(st.integers(1, 52), [0, 100_001])),
        flag("--agents-steps", number(st.integers(1, 52), [0, 100_001])),
        listed("--degrees", number(st.integers(0, 30), [-2, 1001])),
        st.just(["--cold"]),
        st.just(["--profile"]),
        flag("--sweep", number(st.integers(0, 3), [-1, 100_001])),
        flag("--network", st.sampled_from(["watts_strogatz", "none", "mixed", "barabasi_albert", "nope", ""])),
        flag("--repeat", number(st.integers(1, 3), [0, 101])),
        flag("--seed", SEED),
        flag("--timeout", number(st.floats(1, 1e6), [0, 0.5])),
        flag("--out", PATH),
        positional(),
    )

    @drawn(examples)
    @given(argv=rest)
    def one(argv):
        root = case()
        checked(bench.main, placed(argv, root), root, capsys)

    one()


@budget(3)
def test_docking(examples, case, capsys):
    """``python -m sim.docking``: both engines, step by step, on a tiny market with drawn overrides."""

    @drawn(examples)
    @given(
        n=st.integers(50, 200),
        steps=st.integers(2, 4),
        rest=arguments(flag("--chunk", number(st.integers(1, 512), [0, 2**20 + 1])), positional(), most=3),
    )
    def one(n, steps, rest):
        root = case()
        done = checked(docking.main, placed([f"customers.n={n}", f"steps={steps}", *rest], root), root, capsys)
        assert done.code != 1 or "engines differ" not in done.out, done.out

    one()


# --- design sweeps: python -m sim.sensitivity, sim.discover, sim.influence ---------------------------------

PARAM_KEYS = [
    "customers.bond_weight", "market.reach", "market.switching_cost", "network.mean_degree", "customers.n", "seed",
    "steps", "progress", "engine", "design_row", "market.regulation", "market.shocks", "firms.giving.price", "nope",
    "market", "", "hydra.launcher.n_jobs", "+market.reach", "customers.segments.groups.loyalists.share",
]  # fmt: skip
RANGES = [
    "0:1", "0.1:0.2", "1:5", "0:0.3", "0.3:0.1", "0:inf", "nan:1", "a:b", "1", "", ":", "0:1:2", "-1:0", "1e308:1e309",
    "2:50", "5:5", "0.05:0.1",
]  # fmt: skip
CATEGORIES = ["watts_strogatz,mixed", "none", "nope", "", ",", "notices,no_price_walking", "none,notices", "1,2"]
PARAMS_YAML = [
    "market.reach: [0, 0.3]\n", "market.reach: [0, 1\n", "- market.reach\n", "market.reach: [0, a]\n",
    "seed: [0, 9]\n", "", "market.reach: [0.3, 0.1]\n", "{}\n", "market.nope: [0, 1]\n", "market.reach: 5\n",
    "market.reach: [0, .inf]\n", "customers.bond_weight: [1, 2]\nmarket.reach: [0.0, 0.1]\n",
]  # fmt: skip
NAME = st.sampled_from(["n1", "a.b", "x" * 255, "x" * 244, "", ".hidden", "../x", f"{E}/x", "a/b", "é", "a b", "-"])
DESIGN_COMMON = [
    flag("--seed", SEED),
    flag("--n", CUSTOMERS),
    flag("--steps", WEEKS),
    flag("--experiment", EXPERIMENT),
    flag("--giving", FIRM),
    flag("--taking", FIRM),
    flag("--launcher", LAUNCHER),
    flag("--jobs", JOBS),
    flag("--name", NAME),
    flag("--results-dir", PATH),
    positional(),
]


def small(argv: list[str], *defaults: tuple[str, str]) -> list[str]:
    """Tiny runs unless the drawn arguments say otherwise (later values win in argparse)."""
    return [token for flag_, value in defaults for token in (flag_, value)] + argv


@budget(3)
def test_sensitivity(examples, quick, case, capsys):
    """``python -m sim.sensitivity``: parameters and ranges (``--param``, ``--params``, ``--all``), the method and
    its sizes, the sweep's name, launcher and results folder; the design sweep is a stand-in."""
    param = st.one_of(
        st.tuples(st.sampled_from(PARAM_KEYS), st.sampled_from(RANGES)).map(lambda t: f"{t[0]}={t[1]}"),
        st.sampled_from(["market.reach", "=0:1", "market.reach=0:0.3=1"]),
    )
    rest = arguments(
        flag("--param", param),
        flag("--params", st.sampled_from(["params.yaml", "missing.yaml", "file.txt", "", f"{E}/a/b"])),
        unlikely(st.just(["--all"])),
        flag("--method", st.sampled_from(["morris", "sobol", "fast", ""])),
        flag("--trajectories", number(st.integers(2, 3), [1, 0, 10_001])),
        flag("--samples", number(st.sampled_from([4, 8]), [6, 3, 2, 2**20 + 1])),
        flag("--levels", number(st.sampled_from([2, 4, 100]), [1, 101])),
        *DESIGN_COMMON,
        most=6,
    )

    @drawn(examples)
    @given(argv=rest, params=st.sampled_from(PARAMS_YAML))
    def one(argv, params):
        root = case()
        Path("params.yaml").write_text(params)
        if "--all" in argv and "sobol" in argv:  # thousands of runs: too many for a case
            argv = [a for a in argv if a != "--all"]
        argv = small(placed(argv, root), ("--n", "60"), ("--steps", "3"), ("--trajectories", "2"), ("--samples", "4"))
        checked(sensitivity.main, argv, root, capsys)

    one()


@budget(3)
def test_discover(examples, quick, case, capsys):
    """``python -m sim.discover``: conditions (ranges and categories), the hypercube, PRIM's thresholds; the
    design sweep is a stand-in."""
    param = st.one_of(
        st.tuples(st.sampled_from(PARAM_KEYS), st.sampled_from(RANGES)).map(lambda t: f"{t[0]}={t[1]}"),
        st.tuples(st.sampled_from(["network.kind", "market.regulation", "engine", "nope"]), st.sampled_from(CATEGORIES))
        .map(lambda t: f"{t[0]}={t[1]}"),
    )  # fmt: skip
    rest = arguments(
        flag("--param", param),
        flag("--points", number(st.sampled_from([10, 11, 12]), [9, 0, 1_000_001])),
        flag("--replicates", number(st.integers(1, 2), [0, 1001])),
        flag("--min-coverage", number(st.floats(0, 1), [-0.1, 1.1])),
        flag("--min-density", number(st.floats(0, 1), [-0.1, 1.1])),
        flag("--boxes", number(st.sampled_from([1, 3, 100]), [0, 101])),
        *DESIGN_COMMON,
        most=6,
    )

    @drawn(examples)
    @given(argv=rest)
    def one(argv):
        root = case()
        argv = small(placed(argv, root), ("--n", "60"), ("--steps", "3"), ("--points", "10"), ("--replicates", "1"))
        checked(discover.main, argv, root, capsys)

    one()


@budget(2)
def test_influence(examples, quick, case, capsys):
    """``python -m sim.influence``: seeds, sizes, Morris trajectories and sizes, the sweeps' name; the design
    sweeps are stand-ins."""
    trajectories = flag("--trajectories", number(st.sampled_from([0, 0, 2]), [1, -1, 10_001]))
    rest = arguments(
        flag("--seeds", number(st.integers(2, 3), [1, 100_001])),
        flag("--n", CUSTOMERS),
        flag("--steps", WEEKS),
        trajectories,
        trajectories,
        flag("--morris-n", CUSTOMERS),
        flag("--morris-steps", WEEKS),
        flag("--launcher", LAUNCHER),
        flag("--jobs", JOBS),
        flag("--name", NAME),
        flag("--results-dir", PATH),
        most=4,
    )

    @drawn(examples)
    @given(argv=rest)
    def one(argv):
        root = case()
        defaults = [("--seeds", "2"), ("--n", "60"), ("--steps", "3"), ("--trajectories", "0")]
        argv = small(placed(argv, root), *defaults, ("--morris-n", "60"), ("--morris-steps", "3"))
        checked(influence.main, argv, root, capsys)

    one()


# --- python -m sim.pairing, sim.calibrate, sim.whatif, sim.validate --------------------------------------


@budget(3)
def test_pairing(examples, quick, case, capsys):
    """``python -m sim.pairing``: the change and base overrides, seeds, sizes, where the table goes; the paired
    runs are a stand-in."""
    rest = arguments(
        flag("--base", *[overrides()] * 1),
        listed("--base", overrides()),
        flag("--seeds", number(st.integers(3, 5), [2, 100_001])),
        flag("--n", CUSTOMERS),
        flag("--steps", WEEKS),
        flag("--jobs", JOBS),
        flag("--out", PATH),
        most=4,
    )

    @drawn(examples)
    @given(change=positional(3), rest=rest)
    def one(change, rest):
        root = case()
        checked(pairing.main, placed([*change, *rest], root), root, capsys)

    one()


CARD_FIRST = [
    "market_data=synthetic", "market_data=synthetic", "market_data=uk_mobile", "+market_data=synthetic",
    "market_data=nope", "market_data=", "market_data=../x", "customers.n=5", "market_data",
]  # fmt: skip
CARD_KEYS = [
    "market_data.customers", "market_data.weeks", "market_data.seeds", "market_data.overrides",
    "market_data.firms.us.price", "market_data.firms.us.preset", "market_data.kpis.us.share.value",
    "market_data.kpis.us.share.sd", "market_data.free.market.reach", "market_data.truth.market.reach",
    "market_data.name", "market_data.description", "market_data.firms",
]  # fmt: skip
CARD_ODD = [
    "seed=3", "+market_data.free.progress=[0,1]", "~market_data.kpis", "market_data.free={}", "market_data.nope=1",
    "market_data.free.market.reach=[0.3,0.1]", "market_data.free.customers.n=[10,100]", "market_data.kpis={}",
]  # fmt: skip
REDIS = ["localhost:1", "127.0.0.1:1", "localhost", "localhost:abc", ":6379", "localhost:0", "localhost:65536", ""]


@budget(3)
def test_calibrate(examples, quick, case, capsys):
    """``python -m sim.calibrate``: the card and its overrides, the sampler and its sizes, Redis addresses; the
    fit itself is a stand-in."""
    card_value = st.one_of(st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_TEXT), st.sampled_from(["100", "208"]))
    card_override = st.one_of(
        st.tuples(st.sampled_from(CARD_KEYS), card_value).map(lambda t: f"{t[0]}={t[1]}"), st.sampled_from(CARD_ODD)
    )
    rest = arguments(
        flag("--population", number(st.integers(10, 20), [9, 1_000_001])),
        flag("--generations", number(st.integers(1, 3), [0, 1001])),
        flag("--predictive", number(st.integers(2, 3), [1, 100_001])),
        flag("--sampler", st.sampled_from(["multicore", "redis", "nope"])),
        flag("--jobs", JOBS),
        flag("--redis", st.sampled_from(REDIS)),
        flag("--seed", SEED),
        flag("--results-dir", PATH),
        st.just(["--no-progress"]),
        most=4,
    )

    @drawn(examples)
    @given(first=st.lists(st.sampled_from(CARD_FIRST), max_size=1), card=st.lists(card_override, max_size=2), rest=rest)
    def one(first, card, rest):
        root = case()
        checked(calibrate.main, placed([*first, *card, *rest], root), root, capsys)

    one()


CHANGES_YAML = [
    "a: [firms.giving.price=9]\n", "a: [seed=3]\n", "", "baseline: [firms.giving.price=9]\n", "a: []\n",
    "a: [market.reach=0.1]\nb: [firms.taking.price=9]\n", "- a\n", "a: [market.reach=7]\n", "a: firms.giving.price=9\n",
    "a: [1, 2]\n", "a: [nope=1]\n", "{a: [market.reach=0.1], 1: [market.reach=0.2]}\n", "a: [\n",
    "a: ['market.reach=0.1 é']\n", "a: [firms.us.price=9]\n",
]  # fmt: skip


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """A finished calibration of the synthetic card as ``sim.calibrate`` leaves it (its posterior made up)."""
    import dataclasses

    from sim.calibration.card import load_card, priors

    card = load_card("synthetic")
    folder = tmp_path_factory.mktemp("calibration") / "synthetic" / "2030-01-01_00-00-00"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps(dataclasses.asdict(card), indent=1))
    post = pd.DataFrame({p.key: np.linspace(p.low, p.high, 4) for p in priors(card)}).assign(weight=0.25)
    post.to_parquet(folder / "posterior.parquet", index=False)
    (folder / "report.md").write_text("# a calibration\n")
    return folder


@budget(3)
def test_whatif(examples, quick, calibration, case, capsys):
    """``python -m sim.whatif``: changes (overrides or a YAML file), the base, a calibration folder, draws, seeds,
    weeks and band; the runs are a stand-in."""
    rest = arguments(
        flag("--changes", st.sampled_from(["changes.yaml", "missing.yaml", "file.txt", ""])),
        flag("--name", st.sampled_from(["a", "baseline", "", "é", "x" * 300])),
        flag("--calibration", st.sampled_from(["@C", "@C", "missing", "file.txt", E])),
        listed("--base", overrides()),
        flag("--draws", number(st.integers(1, 2), [0, 10_001])),
        flag("--seeds", number(st.integers(1, 2), [0, 10_001])),
        flag("--weeks", number(st.integers(53, 56), [52, 100_001])),
        flag("--band", number(st.floats(0.01, 0.99), [0, 1, 0.001])),
        flag("--jobs", JOBS),
        flag("--results-dir", PATH),
        most=5,
    )

    @drawn(examples)
    @given(change=positional(2), rest=rest, changes=st.sampled_from(CHANGES_YAML))
    def one(change, rest, changes):
        root = case()
        Path("changes.yaml").write_text(changes)
        folder = root / "calibration"
        shutil.copytree(calibration, folder)
        argv = small(placed([*change, *rest], root, C=folder), ("--weeks", "53"), ("--seeds", "1"), ("--draws", "1"))
        checked(whatif.main, argv, root, capsys)

    one()


POSTERIOR = [
    "drop", "add", "nan", "inf", "negative", "outside", "text", "no rows", "zero weights", "huge", "twice", "weights",
]  # fmt: skip


def damage_posterior(path: Path, how: str, column: int) -> None:
    post = pd.read_parquet(path)
    name = post.columns[column % len(post.columns)]
    if how == "drop":
        post = post.drop(columns=name)
    elif how == "add":
        post["seed"] = 3
    elif how in ("nan", "inf", "negative", "huge"):
        post[name] = {"nan": np.nan, "inf": np.inf, "negative": -1.0, "huge": 1e308}[how]
    elif how == "outside":
        post[name] = post[name] + 10
    elif how == "text":
        post[name] = post[name].astype(str)
    elif how == "no rows":
        post = post.iloc[:0]
    elif how == "zero weights":
        post["weight"] = 0.0
    elif how == "twice":
        post = pd.concat([post, post])
    elif how == "weights":
        post["weight"] = [1e-300, 1e308, 0.0, 5.0][: len(post)]
    post.to_parquet(path, index=False)


CALIBRATION_DAMAGE = st.one_of(
    st.tuples(
        st.sampled_from(["cut", "empty", "bytes", "delete", "folder"]),
        st.sampled_from(["card.json", "posterior.parquet", "report.md"]),
        st.one_of(st.floats(0, 1), st.binary(max_size=64)),
    ),
    st.tuples(st.just("json"), st.just("card.json"), st.tuples(st.integers(0, 200), st.sampled_from(JSON_VALUES))),
    st.tuples(st.just("posterior"), st.sampled_from(POSTERIOR), st.integers(0, 10)),
)


@budget(3)
def test_whatif_on_a_damaged_calibration(examples, quick, calibration, case, capsys):
    """A calibration folder damaged file by file: read and checked in one line, before any run."""

    @drawn(examples)
    @given(ops=st.lists(CALIBRATION_DAMAGE, min_size=1, max_size=2))
    def one(ops):
        root = case()
        folder = root / "calibration"
        shutil.copytree(calibration, folder)
        for how, what, arg in ops:
            if how == "posterior":
                if (folder / "posterior.parquet").is_file():
                    with contextlib.suppress(ValueError, OSError):  # already damaged past reading: left so
                        damage_posterior(folder / "posterior.parquet", what, arg)
                continue
            if how == "cut" and not isinstance(arg, float) or how == "bytes" and not isinstance(arg, bytes):
                how = "empty"
            damage_file(folder / what, how, arg)
        argv = ["firms.us.price=9", "--calibration", str(folder), "--results-dir", str(root / "results")]
        checked(whatif.main, [*argv, "--draws", "1", "--seeds", "1", "--weeks", "53"], root, capsys)

    one()


VALIDATE = {
    "bass": [
        flag("--n", number(st.integers(10, 200), [9, 20_000_001])),
        flag("--steps", WEEKS),
        flag("--seeds", number(st.integers(1, 2), [0, 1001])),
        flag("--out", st.one_of(PATH, PATH.map(lambda p: f"{p}.png"), st.just("plot.pdf"), st.just("plot.nope"))),
        flag("--docs", st.one_of(PATH, st.just(""))),
    ],
    "facts": [flag("--n", CUSTOMERS), flag("--seeds", number(st.integers(1, 2), [0, 1001])), flag("--out", PATH)],
    "observables": [
        flag("--n", CUSTOMERS),
        flag("--seeds", number(st.integers(2, 3), [1, 1001])),
        flag("--jobs", JOBS),
        flag("--out", PATH),
        positional(),
    ],
    "baseline": [
        st.just(["--refresh"]),
        flag("--file", st.sampled_from(["baseline.csv", "file.txt", "missing.csv", "", f"{E}/abs", "fresh/b.csv"])),
    ],
    "spend": [positional()],
    "synthetic": [flag("--card", st.sampled_from(["synthetic", "uk_mobile", "nope", "", "../x"]))],
    "coverage": [
        flag("--card", st.sampled_from(["synthetic", "uk_mobile", "nope", ""])),
        flag("--truths", number(st.integers(1, 2), [0, 1001])),
        flag("--customers", number(st.integers(100, 200), [99, 20_000_001])),
        flag("--weeks", number(st.integers(104, 105), [103, 2081])),
        flag("--population", number(st.integers(10, 12), [9, 100_001])),
        flag("--generations", number(st.integers(1, 2), [0, 101])),
        flag("--jobs", JOBS),
        flag("--seed", SEED),
        flag("--out", PATH),
    ],
    "noise": [
        flag("--card", st.sampled_from(["synthetic", "uk_mobile", "fader_hardie", "nope", ""])),
        flag("--seeds", number(st.integers(3, 4), [2, 1001])),
        flag("--out", PATH),
    ],
    "release": [flag("--archive", PATH)],
}


@st.composite
def validate_argv(draw) -> list[str]:
    check = draw(st.sampled_from([*VALIDATE, *VALIDATE, "", "docking", "BASS", "-h", "--help", "--n"]))
    options = VALIDATE.get(check, [st.just([])])
    return [check, *draw(arguments(*options, most=4))]


@budget(4)
def test_validate(examples, quick, case, capsys):
    """``python -m sim.validate <check>``: each check's own arguments; the markets they run are stand-ins."""

    @drawn(examples)
    @given(argv=validate_argv())
    def one(argv):
        root = case()
        quick.to_csv("baseline.csv", index=False)
        checked(validate.main, placed(argv, root), root, capsys)

    one()
