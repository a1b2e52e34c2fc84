import subprocess
import sys
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["customers.n=2000", "progress=false"]


def settings(*overrides: str):
    """Validated settings for a small market, with Hydra overrides."""
    return sim.load([*SMALL, *overrides])


def run(*overrides: str, steps: int = 104):
    """Run a small market; return the model."""
    return sim.LoyaltyMarket(settings(f"steps={steps}", *overrides)).run()


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture
def results_dir(tmp_path):
    return tmp_path / "results"
