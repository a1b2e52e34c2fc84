"""Sensitivity analysis (python -m sim.sensitivity): Morris and Sobol designs, errors, end-to-end sweeps, and
Sobol indices of a function whose indices are known."""

import subprocess
import sys

import numpy as np
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


def test_every_row_of_the_all_parameters_design_passes_the_gate(tmp_path):
    """``--all`` moves each parameter alone: never a part of a whole, such as one segment's share."""
    from omegaconf import open_dict

    from sim.config import check, compose

    params = sa.all_parameters()
    assert not [k for k in params if k.startswith("customers.segments.groups.") and k.endswith(".share")]
    assert "customers.segments.spread.restlessness" in params  # the segments' traits are swept
    _, _, design = sa.build_design(params, trajectories=2, levels=4, seed=0)
    csv = tmp_path / "design.csv"
    design.to_csv(csv, index=False)
    base = compose([f"design={csv}", "design_row=0"])  # composed once; each row applied to it as a run would
    for row in range(len(design)):
        with open_dict(base):
            base.design_row = row
        check(base)


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


@pytest.mark.slow  # over 10 s end to end: the slow set
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


def test_sobol_recovers_the_ishigami_indices_within_their_intervals():
    """First- and total-order indices of a function whose indices are known (Ishigami, a = 7, b = 0.1)."""
    from SALib.sample import sobol as sobol_sample
    from SALib.test_functions import Ishigami

    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    x = sobol_sample.sample(problem, 1024, calc_second_order=False, seed=0)
    ind = sa.sobol_indices(problem, Ishigami.evaluate(x), seed=0)
    s1, st = np.array([0.3139, 0.4424, 0.0]), np.array([0.5576, 0.4424, 0.2437])
    assert (np.abs(ind.S1 - s1) <= ind.S1_conf).all()
    assert (np.abs(ind.ST - st) <= ind.ST_conf).all()
    assert (ind.S1_conf < 0.1).all() and (ind.ST_conf < 0.1).all()


def test_sobol_convergence_compares_half_and_full_designs():
    from SALib.test_functions import Ishigami

    params = dict.fromkeys(["customers.bond_weight", "market.reach", "market.negativity"], (-np.pi, np.pi))
    problem, x, design = sa.build_sobol_design(params, 1024, seed=0)
    assert len(design) == 1024 * (3 + 2) and list(design.columns) == list(params)
    y = pd.DataFrame({out: Ishigami.evaluate(x) for out in sa.OUTPUTS})
    ind, conv = sa.sobol_table(problem, y, 1024, seed=0)
    assert set(conv.columns) >= {"S1_half", "S1_full", "ST_half", "ST_full", "S1_change", "converged"}
    assert len(conv) == len(sa.OUTPUTS) * 3
    first = ind[ind.output == sa.OUTPUTS[0]].set_index("parameter")
    assert first.loc["customers.bond_weight", "rank"] == 1  # Ishigami's x1: the largest total index (0.56)
    assert conv.converged.mean() > 0.5


def test_sobol_design_needs_a_power_of_two():
    with pytest.raises(ConfigError, match=r"--samples 6: allowed: a power of 2"):
        sa.build_sobol_design({"market.reach": (0.0, 0.3)}, 6, seed=0)
    _, _, design = sa.build_sobol_design({"market.broadcast_size": (2, 20), "market.reach": (0, 0.3)}, 8, seed=0)
    assert design["market.broadcast_size"].dtype.kind == "i" and len(design) == 8 * 4


@pytest.mark.slow  # end to end, over 10 s: run in CI's slow set
def test_sobol_end_to_end_through_the_sweep(tmp_path):
    args = ["--method", "sobol", "--samples", "4", "--param", "market.costs.per_customer=1:5"]
    args += ["--param", "market.reach=0:0.3", "--n", "300", "--steps", "30", "--results-dir", str(tmp_path)]
    out = subprocess.run(
        [sys.executable, "-m", "sim.sensitivity", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "sensitivity" / "sobol"
    ind = pd.read_csv(folder / "indices.csv").set_index(["output", "parameter"])
    assert ind.loc[("giving_long_run_share", "market.costs.per_customer"), "ST"] == 0  # costs never move behaviour
    assert len(pd.read_csv(folder / "design.csv")) == 4 * 4
    assert {"S1_half", "S1_full", "converged"} <= set(pd.read_csv(folder / "convergence.csv").columns)
    assert (folder / "sobol.png").is_file() and "convergence: from N=2 to N=4" in out.stdout
