"""Scenario discovery (python -m sim.discover): the hypercube, bad input, PRIM boxes in plain words, and PRIM
recovering a box planted in a synthetic outcome (needs the ``discover`` extra: ema-workbench)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from sim import discover
from sim.config import ConfigError


def test_hypercube_is_latin_within_ranges_with_categories_and_replicates():
    conditions = discover.parse_conditions(
        ["market.reach=0:0.3", "network.mean_degree=2:20", "network.kind=mixed,erdos_renyi"]
    )
    points = discover.hypercube(conditions, 20, seed=0)
    assert len(points) == 20 and list(points.columns) == list(conditions)
    assert points["market.reach"].between(0, 0.3).all()
    strata = np.floor(points["market.reach"] / 0.3 * 20).astype(int)
    assert sorted(strata) == list(range(20))  # one point per stratum: a Latin hypercube
    assert points["network.mean_degree"].dtype.kind == "i" and points["network.mean_degree"].between(2, 20).all()
    assert set(points["network.kind"]) == {"mixed", "erdos_renyi"}
    assert (points["network.kind"] == "mixed").sum() == 10  # equal strata for each category
    design = discover.replicate(points, 3)
    assert len(design) == 60 and list(design.seed[:6]) == [0, 1, 2, 0, 1, 2]
    assert (design.iloc[3:6, :3].to_numpy() == design.iloc[3, :3].to_numpy()).all()
    assert discover.parse_conditions([]) == discover.DEFAULT_CONDITIONS


@pytest.mark.parametrize(
    "item, message",
    [
        ("market.reach=0.3:0.3", "config error: --param market.reach=0.3:0.3: empty range; allowed: low < high"),
        ("market.reach=0.2:0.1", "config error: --param market.reach=0.2:0.1: empty range; allowed: low < high"),
        ("market.nope=0:1", "config error: --param market.nope: unknown key"),
        ("network.kind=", "config error: --param network.kind: no categories"),
        ("network.kind=ring", "network.kind = 'ring': input should be"),
        ("market.reach=0:3", "market.reach = 3.0: input should be less than or equal to 1"),
        ("market.reach=a:b", "expected key=low:high or key=a,b,c"),
    ],
)
def test_bad_hypercube_is_one_line(item, message):
    with pytest.raises(ConfigError) as err:
        discover.parse_conditions([item])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_hypercube_stops_the_command_with_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "sim.discover", "--param", "market.switching_cost=2:2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "config error: --param market.switching_cost=2:2: empty range; allowed: low < high"


def test_labels_average_replicates_per_point():
    table = pd.DataFrame(
        {
            "design_row": [0, 0, 1, 1, 2, 2, 3, 3],
            "firm": ["giving", "taking"] * 4,
            "npv": [10.0, 12.0, 10.0, 7.0, 5.0, 6.0, 5.0, 5.5],
        }
    )
    points = discover.label(table, 2, "giving", "taking")
    assert points.npv_difference.tolist() == [-0.5, 0.75]
    assert points.taking_win_share.tolist() == [0.5, 1.0]
    assert points.taking_wins.tolist() == [False, True]


def test_boxes_in_plain_words():
    box = discover.Box({"market.switching_cost": (3.1, None), "market.reach": (None, 0.04)}, 0.92, 0.88, 0.14, 18)
    assert box.words() == (
        "taking wins when market.switching_cost ≥ 3.1 and market.reach ≤ 0.04: this box holds 92% of taking's wins, "
        "and 88% of its points are taking's wins (18 points, 14% of all)"
    )
    assert discover.describe_limit("network.kind", ["mixed", "none"]) == "network.kind in {mixed, none}"
    assert discover.describe_limit("market.negativity", (1.5, 2.5)) == "1.5 ≤ market.negativity ≤ 2.5"


def test_prim_recovers_a_planted_box(tmp_path):
    """Wins planted where a ≥ 0.7 and b ≤ 0.3 (3% of labels flipped): PRIM's first box is that box."""
    pytest.importorskip("ema_workbench")
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((500, 4)), columns=["a", "b", "c", "d"])
    x["kind"] = rng.choice(["u", "v", "w"], 500)
    y = ((x.a >= 0.7) & (x.b <= 0.3)).to_numpy() ^ (rng.random(500) < 0.03)
    boxes, trajectories = discover.find_boxes(x, y, max_boxes=3, min_coverage=0.8, min_density=0.6)
    first = boxes[0]
    assert set(first.limits) == {"a", "b"}  # c, d and the category are left free
    assert first.limits["a"][0] == pytest.approx(0.7, abs=0.04) and first.limits["a"][1] is None
    assert first.limits["b"][1] == pytest.approx(0.3, abs=0.04) and first.limits["b"][0] is None
    assert first.coverage >= 0.8 and first.density >= 0.85
    assert len(boxes) == 1  # what is left holds no dense box
    assert trajectories[0].chosen.sum() == 1
    discover.plot_tradeoff(trajectories, tmp_path / "tradeoff.png", "test")
    points = x.assign(taking_wins=y)
    text = discover.write_boxes(boxes, points, tmp_path, "test")
    assert f"taking wins when a ≥ {first.limits['a'][0]:.3g} and b ≤ {first.limits['b'][1]:.3g}: this box" in text
    assert pd.read_csv(tmp_path / "boxes.csv").condition.tolist() == ["a", "b"]
    assert (tmp_path / "tradeoff.png").stat().st_size > 0


@pytest.mark.slow
def test_discovery_end_to_end_through_the_sweep(tmp_path):
    pytest.importorskip("ema_workbench")
    args = ["--points", "12", "--replicates", "2", "--n", "300", "--steps", "30", "--results-dir", str(tmp_path)]
    args += ["--param", "market.switching_cost=0:4", "--param", "market.reach=0:0.3"]
    out = subprocess.run(
        [sys.executable, "-m", "sim.discover", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "discover" / "lhs"
    points = pd.read_csv(folder / "points.csv")
    assert len(points) == 12 and {"npv_difference", "taking_wins"} <= set(points.columns)
    assert len(pd.read_csv(folder / "design.csv")) == 24
    assert (folder / "boxes.md").read_text().startswith("# Scenario discovery")
    assert (folder / "tradeoff.png").is_file()
