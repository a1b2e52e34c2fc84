"""Launchers: the same sweep gives the same runs, one after another, in local processes, on SLURM and on Ray."""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, cli

SWEEP = ["customers.n=400", "steps=25", "progress=false", "seed=range(0,3)", "policy@firms.taking=taking,fake_love"]
KEYS = sorted(f"policy@firms.taking={p},seed={s}" for p in ("taking", "fake_love") for s in range(3))


def sweep_runs(results_dir: Path, *launcher: str) -> dict[str, pd.DataFrame]:
    """Run the small sweep with a launcher; return each run's timeseries by run key."""
    proc = cli("-m", *SWEEP, f"results_dir={results_dir}", *launcher)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = [p for p in (results_dir / "giving_vs_taking").iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in sweep_dir.iterdir()) == KEYS  # every run arrived, nothing else looks like one
    return {key: pd.read_parquet(sweep_dir / key / "timeseries.parquet") for key in KEYS}


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    return sweep_runs(tmp_path_factory.mktemp("basic"))


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], obj=key)
    assert not a[KEYS[0]].equals(a[KEYS[1]])  # the runs differ from each other: the comparison has teeth


@pytest.mark.slow  # end to end, over 10 s: run in CI's slow set
def test_joblib_gives_the_same_runs(basic, tmp_path):
    assert_same(basic, sweep_runs(tmp_path, "hydra/launcher=local", "hydra.launcher.n_jobs=2"))


@pytest.fixture(scope="module")
def slurm():
    """A one-node SLURM cluster on this machine (experiments/cluster/start_slurm.sh); stopped if we started it."""
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("needs hydra-submitit-launcher")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("starting SLURM needs root and apt")
    was_up = (
        Path("/run/slurmctld.pid").is_file() and shutil.which("sinfo") and subprocess.run(["sinfo"]).returncode == 0
    )
    subprocess.run([ROOT / "experiments/cluster/start_slurm.sh"], check=True, timeout=900)
    yield
    if not was_up:
        subprocess.run([ROOT / "experiments/cluster/stop_slurm.sh"], check=False)


@pytest.mark.slow
def test_slurm_gives_the_same_runs(basic, slurm, tmp_path):
    assert_same(basic, sweep_runs(tmp_path, "hydra/launcher=slurm"))


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None, reason="needs hydra-ray-launcher"
)
def test_ray_gives_the_same_runs(basic, tmp_path):
    assert_same(basic, sweep_runs(tmp_path, "hydra/launcher=ray_cluster", "hydra.launcher.ray.init.num_cpus=2"))
