"""Morris sensitivity analysis (python -m sim.sensitivity): design, errors, and an end-to-end sweep."""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT

from sim import sensitivity as sa
from sim.config import ConfigError


def test_parameters_from_cli_and_yaml(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("market.reach: [0.0, 0.3]\n")
    params = sa.parse_params(["customers.bond_weight=1:5"], str(f))
    assert params == {"market.reach": (0.0, 0.3), "customers.bond_weight": (1.0, 5.0)}
    assert sa.parse_params([], None) == sa.DEFAULT_PARAMETERS


@pytest.mark.parametrize("item", ["market.reach=0.3:0.1", "market.reach=a:b"])
def test_bad_range_is_one_line_error(item):
    with pytest.raises(ConfigError, match="market.reach"):
        sa.parse_params([item], None)


def test_design_is_morris_within_bounds():
    params = {"market.reach": (0.0, 0.3), "market.broadcast_size": (2, 20)}
    problem, x, design = sa.build_design(params, trajectories=3, levels=4, seed=0)
    assert len(design) == 3 * (len(params) + 1)
    assert list(design.columns) == list(params)
    assert design["market.reach"].between(0, 0.3).all()
    assert design["market.broadcast_size"].dtype.kind == "i"  # integer keys stay integers


def test_unknown_key_exits_with_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "sim.sensitivity", "--param", "market.nope=0:1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "config error: --param market.nope: unknown key"


def test_end_to_end_costs_move_npv_not_share(tmp_path):
    """A sweep through python -m sim; running costs change money, never behaviour."""
    args = ["--param", "market.costs.per_customer=1:5", "--param", "market.reach=0:0.3", "--trajectories", "2"]
    args += ["--n", "300", "--steps", "30", "--results-dir", str(tmp_path)]
    out = subprocess.run(
        [sys.executable, "-m", "sim.sensitivity", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    ind = pd.read_csv(tmp_path / "sensitivity" / "morris" / "indices.csv").set_index(["output", "parameter"])
    assert ind.loc[("giving_long_run_share", "market.costs.per_customer"), "mu_star"] == 0
    assert ind.loc[("giving_npv", "market.costs.per_customer"), "mu_star"] > 0
    assert ind.loc[("giving_long_run_share", "market.reach"), "mu_star"] > 0
    assert (tmp_path / "sensitivity" / "morris" / "morris.png").is_file()
