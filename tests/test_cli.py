"""The command end to end, and the atomicity of results folders."""

import pandas as pd
import pytest
from conftest import cli, settings
from omegaconf import OmegaConf

from sim.runs import plots
from sim.runs.run import run_and_write

REQUIRED = [
    "firm",
    "policy",
    "final_share",
    "cumulative_revenue",
    "cumulative_profit",
    "npv",
    "advocacy",
    "devoted_share",
]


def test_cli_end_to_end(results_dir):
    proc = cli("customers.n=800", "steps=40", "seed=3", f"results_dir={results_dir}")
    assert proc.returncode == 0, proc.stderr
    folders = list((results_dir / "giving_vs_taking").iterdir())
    assert len(folders) == 1
    out = folders[0]
    for name in ("config.yaml", "timeseries.parquet", "summary.csv", "share.png", "profit.png", "advocacy.png"):
        assert (out / name).is_file(), name
    summary = pd.read_csv(out / "summary.csv")
    assert set(REQUIRED) <= set(summary.columns)
    assert list(summary.firm) == ["giving", "taking"]
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert len(ts) == 2 * 41
    assert "customers.n" not in proc.stdout  # summary table, not config dump
    assert "giving" in proc.stdout and "results:" in proc.stdout
    assert OmegaConf.load(out / "config.yaml").customers.n == 800


def test_crash_while_writing_leaves_no_folder(results_dir, monkeypatch):
    def boom(ts, path):
        raise KeyboardInterrupt

    monkeypatch.setitem(plots.PLOTS, "advocacy.png", boom)
    dest = results_dir / "x" / "run"
    with pytest.raises(KeyboardInterrupt):
        run_and_write(settings("steps=5", "customers.n=200"), "config", dest)
    assert not dest.exists()
    assert list((results_dir / "x").iterdir()) == []
