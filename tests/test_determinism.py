"""A seed fixes a run exactly; another seed gives another run."""

import hashlib

from conftest import settings

from sim.runs.run import simulate


def _bytes(ts, tmp_path, name):
    p = tmp_path / name
    ts.to_parquet(p, index=False)
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_same_seed_identical_bits(tmp_path):
    a, _ = simulate(settings("steps=60", "seed=7"))
    b, _ = simulate(settings("steps=60", "seed=7"))
    assert a.equals(b)
    assert _bytes(a, tmp_path, "a.parquet") == _bytes(b, tmp_path, "b.parquet")


def test_different_seed_differs():
    a, _ = simulate(settings("steps=60", "seed=1"))
    b, _ = simulate(settings("steps=60", "seed=2"))
    assert not a.equals(b)
