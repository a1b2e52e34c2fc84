"""Claims: two launches of one sweep share its runs; a claim left by a killed process never blocks a rerun."""

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, cli

from sim.runs import claims
from sim.runs.claims import claim, claim_path
from sim.runs.results import is_complete

TINY = ["customers.n=300", "steps=12", "progress=false", "sweep=pilot"]


def leftovers(sweep_dir):
    """Claim files and temporary folders: none should outlive a sweep that finished."""
    return sorted(p.name for p in sweep_dir.iterdir() if p.name.endswith(".claim") or ".tmp-" in p.name)


def test_a_claim_is_exclusive_and_cleared_when_it_ends(tmp_path):
    dest = tmp_path / "seed=0"
    with claim(dest) as first:
        assert first.held
        who = json.loads(claim_path(dest).read_text())
        assert who["pid"] == os.getpid()
        with claim(dest) as second:  # another open of the same file: as another process sees it
            assert not second.held and second.supported
            assert second.owner == f"pid {os.getpid()} on {who['host']}"
    assert not claim_path(dest).exists()
    with claim(dest) as again:
        assert again.held


def test_a_claim_file_left_unlocked_is_taken_over(tmp_path):
    """A killed owner's file stays, but its lock went with the process."""
    dest = tmp_path / "seed=0"
    claim_path(dest).write_text(json.dumps({"host": "elsewhere", "pid": 2**22 + 1}))
    with claim(dest) as mine:
        assert mine.held
        assert json.loads(claim_path(dest).read_text())["pid"] == os.getpid()
    assert not claim_path(dest).exists()


def test_a_claim_file_replaced_while_locking_is_followed(tmp_path, monkeypatch):
    """The owner finished (removed its file) and another took a new one between our open and our lock."""
    dest = tmp_path / "seed=0"
    path = claim_path(dest)
    path.write_text("{}")
    real, calls = fcntl.flock, []

    def flock(fd, op):
        if not calls:
            path.unlink()
            path.write_text("{}")
        calls.append(fd)
        return real(fd, op)

    monkeypatch.setattr(claims.fcntl, "flock", flock)
    with claim(dest) as mine:
        assert mine.held and len(calls) == 2
        assert os.fstat(calls[-1]).st_ino == path.stat().st_ino


def test_without_locks_the_run_goes_ahead_unclaimed(tmp_path, monkeypatch):
    def flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(claims.fcntl, "flock", flock)
    with claim(tmp_path / "seed=0") as mine:
        assert not mine.held and not mine.supported


OWNER_WITH_A_CHILD = """
import os, sys, time
from pathlib import Path
from sim.runs.claims import claim
with claim(Path(sys.argv[1])) as mine:
    assert mine.held
    child = os.fork()  # as a worker pool forks its processes
    if child == 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1), os.dup2(quiet, 2)
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
    os._exit(0)  # the owner dies holding the claim, as if killed
"""


def test_a_claim_ends_with_its_owner_though_a_child_it_forked_lives_on(tmp_path):
    dest = tmp_path / "seed=0"
    done = subprocess.run(
        [sys.executable, "-c", OWNER_WITH_A_CHILD, str(dest)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    child = int(done.stdout)
    try:
        os.kill(child, 0)  # still alive
        with claim(dest) as mine:
            assert mine.held
    finally:
        os.kill(child, signal.SIGKILL)


@pytest.mark.slow  # over 10 s end to end: the slow set
def test_a_run_claimed_by_a_live_process_is_left_to_it(tmp_path):
    results = tmp_path / "results"
    sweep_dir = results / "giving_vs_taking" / "pilot"
    args = ["-m", *TINY, f"results_dir={results}", "seed=0,1,2"]
    with claim(sweep_dir / "seed=1") as held:
        assert held.held
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert f"claimed by another sweep (pid {os.getpid()} on " in proc.stdout
        assert f"skipped: {sweep_dir / 'seed=1'}" in proc.stdout
        assert is_complete(sweep_dir / "seed=0") and is_complete(sweep_dir / "seed=2")
        assert not (sweep_dir / "seed=1").exists()
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("complete, skipped") == 2 and "claimed by another" not in again.stdout
    assert all(is_complete(sweep_dir / f"seed={i}") for i in range(3))
    assert leftovers(sweep_dir) == []


SHARED = ["customers.n=10000", "steps=150", "progress=false", "seed=range(0,8)"]


@pytest.mark.slow  # end to end, over 10 s: run in CI's slow set
def test_two_launches_of_one_sweep_do_each_run_once(tmp_path):
    results = tmp_path / "results"
    command = [sys.executable, "-m", "sim", "-m", *SHARED, f"results_dir={results}"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    written = [
        [ln.split("results: ", 1)[1] for ln in out.splitlines() if ln.startswith("results: ")] for out, _ in outs
    ]
    every = sorted(w for ws in written for w in ws)
    assert len(every) == 8 and len(set(every)) == 8  # each run done exactly once
    assert all(written), written  # and the work was shared
    for out, _ in outs:  # each launch accounts for every run: done, or left to the other
        skipped = out.count("complete, skipped") + out.count("claimed by another sweep")
        assert skipped + sum(ln.startswith("results: ") for ln in out.splitlines()) == 8
    sweep_dir = (results / "giving_vs_taking").iterdir().__next__()
    assert sorted(p.name for p in sweep_dir.iterdir() if is_complete(p)) == sorted(f"seed={i}" for i in range(8))
    assert leftovers(sweep_dir) == [] and not [p for p in sweep_dir.iterdir() if p.name.endswith("_1")]


@pytest.mark.slow  # over 10 s end to end: the slow set
def test_a_killed_claimant_does_not_block_the_rerun(tmp_path):
    results = tmp_path / "results"
    command = [sys.executable, "-m", "sim", "-m", "customers.n=20000", "steps=300", "progress=false"]
    command += [f"results_dir={results}", "seed=0,1", "sweep=pilot"]
    sweep_dir = results / "giving_vs_taking" / "pilot"
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and not claim_path(sweep_dir / "seed=0").exists():
        time.sleep(0.05)
    time.sleep(0.3)  # mid-run: the claim is held while the market is simulated
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = claim_path(sweep_dir / "seed=0")
    assert left.exists() and json.loads(left.read_text())["pid"] == proc.pid  # the dead claimant's file stays
    assert not is_complete(sweep_dir / "seed=0")
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "claimed by another" not in again.stdout and again.stdout.count("results: ") == 2
    assert is_complete(sweep_dir / "seed=0") and is_complete(sweep_dir / "seed=1")
    assert leftovers(sweep_dir) == []
