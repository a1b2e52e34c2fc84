"""Sweeps: design rows, reproducible folder names, resuming an interrupted sweep, the aggregate table."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT, cli
from omegaconf import OmegaConf

from sim.aggregate import write_report
from sim.config import ConfigError, apply_design, check, compose
from sim.runs import sweep
from sim.runs.results import is_complete

TINY = ["customers.n=300", "steps=12", "progress=false"]


def runs_of(sweep_dir):
    return sorted(p.name for p in sweep_dir.iterdir() if not p.name.startswith(".") and is_complete(p))


def only_sweep(results_dir, experiment="giving_vs_taking"):
    folders = [p for p in (results_dir / experiment).iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture
def design_csv(tmp_path):
    path = tmp_path / "design.csv"
    pd.DataFrame({"customers.review_rate": [0.005, 0.02, 0.04], "market.switching_cost": [0.5, 1.5, 4.0]}).to_csv(
        path, index=False
    )
    return path


def test_design_row_overrides_the_composed_config(design_csv):
    cfg, row = apply_design(compose([f"design={design_csv}", "design_row=2"]))
    assert row == {"customers.review_rate": 0.04, "market.switching_cost": 4.0}
    assert cfg.customers.review_rate == 0.04 and cfg.market.switching_cost == 4.0
    assert not {"design", "design_row", "sweep"} & set(cfg)  # never reach validation as unknown keys
    check(compose([f"design={design_csv}", "design_row=0"]))


@pytest.mark.parametrize(
    "rows, overrides, message",
    [
        ({"customers.review_rate": [3.0]}, ["design_row=0"], "customers.review_rate = 3.0"),
        ({"customers.patience": [1]}, ["design_row=0"], "unknown key 'customers.patience'"),
        ({"customers.review_rate": [0.1]}, ["design_row=4"], "design_row = 4: allowed: 0 ≤ value ≤ 0"),
        ({"customers.review_rate": [0.1]}, [], "design_row: needed too"),
    ],
)
def test_bad_design_is_one_line(tmp_path, rows, overrides, message):
    path = tmp_path / "d.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(ConfigError, match=message) as err:
        check(compose([f"design={path}", *overrides]))
    assert "\n" not in str(err.value)


def test_design_sweep_end_to_end(tmp_path, design_csv):
    results = tmp_path / "results"
    proc = cli("-m", *TINY, f"results_dir={results}", f"+design={design_csv}", "design_row=range(0,3)")
    assert proc.returncode == 0, proc.stderr
    sweep_dir = only_sweep(results)
    assert runs_of(sweep_dir) == ["design_row=0", "design_row=1", "design_row=2"]
    run = OmegaConf.load(sweep_dir / "design_row=1" / "config.yaml")
    assert run.customers.review_rate == 0.02 and run.market.switching_cost == 1.5
    params = json.loads((sweep_dir / "design_row=1" / "params.json").read_text())
    assert params["design"] == {"customers.review_rate": 0.02, "market.switching_cost": 1.5}
    table = pd.read_parquet(write_report(sweep_dir) / "runs.parquet")
    assert len(table) == 3 * 2
    assert {"customers.review_rate", "market.switching_cost", "design_row", "seed", "npv"} <= set(table.columns)
    assert sorted(table.drop_duplicates("run")["market.switching_cost"]) == [0.5, 1.5, 4.0]


def test_bad_sweep_value_stops_before_any_run(tmp_path):
    results = tmp_path / "results"
    proc = cli("-m", *TINY, f"results_dir={results}", "customers.incident_rate=0.1,1.5")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "customers.incident_rate = 1.5" in proc.stderr and "0.0 ≤ value ≤ 1.0" in proc.stderr
    assert not results.exists()


def test_sweep_name_is_stable_and_run_key_is_the_swept_part():
    a = sweep.sweep_name(["seed=range(0,3)", "customers.n=300", "hydra/launcher=joblib", "progress=false"])
    b = sweep.sweep_name(["customers.n=300", "seed=range(0,3)"])
    assert a == b and "customers.n=300" in a and "/" not in a
    assert sweep.sweep_name(["seed=1,2"]) != sweep.sweep_name(["seed=1,3"])
    exclude = sweep.exclude_keys_for(["customers.n=300", "seed=range(0,3)", "policy@firms.taking=giving,taking"])
    assert "customers.n" in exclude and not {"seed", "policy"} & set(exclude)
    job = ["customers.n=300", "seed=2", "policy@firms.taking=giving", "sweep=x"]
    assert run_key(job, exclude) == "policy@firms.taking=giving,seed=2"


def run_key(job: list[str], exclude: list[str]) -> str:
    """The run key Hydra gives a job of a sweep launched with these exclude keys."""
    keys = f"hydra.job.config.override_dirname.exclude_keys=[{','.join(exclude)}]"
    return sweep.run_key(compose([*job, keys], return_hydra_config=True).hydra.job.override_dirname)


def test_a_fixed_group_override_stays_in_the_key_when_its_group_is_also_swept():
    """Hydra excludes a group override by its group alone; excluding it would give two runs one key."""
    command = ["policy@firms.giving=taking", "policy@firms.taking=giving,taking", "seed=0"]
    exclude = sweep.exclude_keys_for(command)
    assert "policy" not in exclude and "seed" in exclude
    keys = {
        run_key(["policy@firms.giving=taking", f"policy@firms.taking={p}", "seed=0"], exclude)
        for p in ("giving", "taking")
    }
    assert len(keys) == 2


def _count(sweep_root):
    return sum(1 for p in sweep_root.rglob("summary.csv") if not any(q.startswith(".") for q in p.parts[-3:-1]))


@pytest.mark.slow
def test_killed_sweep_resumes_without_loss_or_duplicates(tmp_path):
    results = tmp_path / "results"
    args = [sys.executable, "-m", "sim", "-m", "customers.n=600", "steps=60", "progress=false"]
    args += [f"results_dir={results}", "seed=range(0,8)"]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    root = results / "giving_vs_taking"
    deadline = time.time() + 300
    while time.time() < deadline and (not root.exists() or _count(root) < 3):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # no cleanup at all: a half-written folder may remain
    proc.wait()
    sweep_dir = only_sweep(results)
    done = runs_of(sweep_dir)
    assert 3 <= len(done) < 8
    before = {name: (sweep_dir / name / "summary.csv").stat().st_mtime_ns for name in done}
    stale = sweep_dir / f".seed=7.tmp-{2**22 + 1}"  # as a killed writer leaves it
    stale.mkdir()
    (stale / "timeseries.parquet").write_text("half")
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("complete, skipped") == len(done)
    assert runs_of(sweep_dir) == sorted(f"seed={i}" for i in range(8))
    assert not [p for p in sweep_dir.iterdir() if ".tmp-" in p.name]
    assert {name: (sweep_dir / name / "summary.csv").stat().st_mtime_ns for name in done} == before  # not redone
    table = pd.read_parquet(write_report(sweep_dir) / "runs.parquet")
    assert len(table) == 8 * 2 and table.groupby(["seed", "firm"]).size().max() == 1


def test_single_run_of_a_design_row(tmp_path, design_csv):
    results = tmp_path / "results"
    proc = cli(*TINY, f"results_dir={results}", f"design={design_csv}", "design_row=2")
    assert proc.returncode == 0, proc.stderr
    (run,) = (results / "giving_vs_taking").iterdir()
    assert run.name.endswith("_design_row=2")
    cfg = OmegaConf.load(run / "config.yaml")
    assert cfg.customers.review_rate == 0.04 and "design" not in cfg


def test_named_sweep_goes_to_its_folder(tmp_path):
    results = tmp_path / "results"
    proc = cli("-m", *TINY, f"results_dir={results}", "seed=0,1", "sweep=pilot")
    assert proc.returncode == 0, proc.stderr
    assert f"sweep: {results / 'giving_vs_taking' / 'pilot'}" in proc.stdout
    assert runs_of(results / "giving_vs_taking" / "pilot") == ["seed=0", "seed=1"]


# --- a run is its configuration ---------------------------------------------------------------------------------


@pytest.mark.slow  # over 10 s end to end: the slow set
def test_a_sweep_reruns_runs_made_with_other_settings_and_says_which_keys_differ(tmp_path):
    results = tmp_path / "results"
    first = cli("-m", *TINY, "customers.n=300", "seed=0,1", "sweep=pilot", f"results_dir={results}")
    assert first.returncode == 0, first.stderr
    again = cli("-m", *TINY, "customers.n=400", "seed=0,1", "sweep=pilot", f"results_dir={results}")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("made otherwise (customers.n: 300, not 400), rerun:") == 2
    folder = results / "giving_vs_taking" / "pilot"
    for run in ("seed=0", "seed=1"):
        made = json.loads((folder / run / "fingerprint.json").read_text())
        assert made["settings"]["customers"]["n"] == 400
        assert {"model", "version", "commit"} <= set(made)
    same = cli("-m", *TINY, "customers.n=400", "seed=0,1", "sweep=pilot", f"results_dir={results}")
    assert same.stdout.count("complete, skipped") == 2
    before = (folder / "seed=0" / "summary.csv").stat().st_mtime_ns
    strict = cli("-m", *TINY, "customers.n=500", "seed=0,1", "sweep=pilot", f"results_dir={results}", "strict=true")
    assert strict.returncode == 2 and strict.stderr.strip().count("\n") == 0
    assert "was made otherwise (customers.n: 400, not 500); strict=true refuses to rerun it" in strict.stderr
    assert (folder / "seed=0" / "summary.csv").stat().st_mtime_ns == before  # left as it was


def test_a_run_made_by_other_model_code_is_rerun_unless_reused(tmp_path, capsys):
    from sim import __main__ as entry
    from sim.config import load
    from sim.runs import fingerprint
    from sim.runs.run import run_and_write

    settings = load([*TINY, f"results_dir={tmp_path}"])
    dest = tmp_path / "run"
    run_and_write(settings, "config", dest, plots=False)
    capsys.readouterr()
    assert entry.done(dest, settings, strict=False, reuse=False)
    made = json.loads((dest / fingerprint.FINGERPRINT).read_text())
    (dest / fingerprint.FINGERPRINT).write_text(json.dumps({**made, "model": "0" * 16, "version": "0.1.0"}))
    assert not entry.done(dest, settings, strict=False, reuse=False)
    assert "made otherwise (other model code (version 0.1.0" in capsys.readouterr().out
    assert entry.done(dest, settings, strict=False, reuse=True)
    assert "made by other model code, reused (reuse=true)" in capsys.readouterr().out
    (dest / fingerprint.FINGERPRINT).unlink()  # a run made before fingerprints
    assert not entry.done(dest, settings, strict=False, reuse=True)
    assert "no fingerprint" in capsys.readouterr().out


@pytest.mark.slow  # end to end, over 10 s: run in CI's slow set
def test_aggregate_pools_only_runs_made_alike(tmp_path):
    results = tmp_path / "results"
    assert cli("-m", *TINY, "seed=0,1", "sweep=pilot", f"results_dir={results}").returncode == 0
    assert cli(*TINY, "experiment=monopoly", f"results_dir={results}").returncode == 0
    folder = results / "giving_vs_taking" / "pilot"
    other = next((results / "monopoly").iterdir())
    os.rename(other, folder / "copied")
    refused = subprocess.run(
        [sys.executable, "-m", "sim.aggregate", str(folder)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "1 of 3 runs were made otherwise than the rest, so they are not pooled: copied (experiment=monopoly" in (
        refused.stderr
    )
    assert not (folder / "report").exists()
    os.rename(folder / "copied", tmp_path / "copied")
    summary = pd.read_csv(folder / "seed=1" / "summary.csv")
    summary.loc[0, "npv"] = float("nan")
    summary.to_csv(folder / "seed=1" / "summary.csv", index=False)
    refused = subprocess.run(
        [sys.executable, "-m", "sim.aggregate", str(folder)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert (
        refused.returncode == 2
        and "runs with missing metrics" in refused.stderr
        and "seed=1 (giving)" in (refused.stderr)
    )
