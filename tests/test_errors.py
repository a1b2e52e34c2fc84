"""One rule for every command: bad input is one line and exit 2, a failed environment one line and exit 1.

Each command is tried as a user would: bad arguments and values (nothing may be written), a full
disk or a read-only folder, a child or worker process that dies (no wait may hang). Many inputs
run in-process (``main(argv)``, fast); a few run the command itself, to see exactly what a user sees.
"""

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, cli

from sim import __main__ as sim_main
from sim import aggregate, bench, calibrate, discover, docking, influence, pairing, sensitivity, validate, whatif
from sim.runs.errors import (
    ArgumentParser,
    Failure,
    Stopped,
    command,
    describe,
    exit_status,
    failing_as,
    group_members,
    number,
    run_child,
    stopping_on_sigterm,
)


def one_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def stops(main, argv, capsys, code=2) -> str:
    """Run a command's ``main`` in-process; it must exit with ``code`` and one line on stderr."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == code
    return one_line(capsys.readouterr().err)


def run(module: str, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def written(folder: Path, *inputs: str) -> list[str]:
    """Everything in ``folder`` but the inputs a test put there."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name not in inputs)


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# --- the shared rule ---------------------------------------------------------------------------


def test_argparse_errors_are_one_line_naming_the_argument(capsys):
    parser = ArgumentParser(prog="x")
    parser.add_argument("--sizes", type=number(int, 10, 100), nargs="+")
    parser.add_argument("--mode", choices=["a", "b"])
    assert stops(parser.parse_args, ["--sizes", "-5"], capsys) == (
        "argument error: --sizes = -5: allowed: an integer, 10 ≤ value ≤ 100"
    )
    assert stops(parser.parse_args, ["--sizes", "1e3"], capsys).startswith("argument error: --sizes = 1e3: allowed")
    assert stops(parser.parse_args, ["--mode", "c"], capsys).startswith("argument error: --mode: invalid choice: 'c'")
    assert stops(parser.parse_args, ["--nope"], capsys) == (
        "argument error: unrecognized arguments: --nope (allowed: --sizes, --mode)"
    )
    assert stops(parser.parse_args, ["--sizes"], capsys) == "argument error: --sizes: expected at least one argument"


def test_os_errors_say_what_failed_and_where(tmp_path, capsys):
    with pytest.raises(Failure) as failed, failing_as("writing", tmp_path / "x"):
        no_space()
    assert str(failed.value) == f"error: writing {tmp_path / 'x'}: no space left on device"
    assert describe(PermissionError(errno.EACCES, "Permission denied", "/r/x")) == "error: /r/x: permission denied"
    assert exit_status(-9) == "killed by SIGKILL" and exit_status(3) == "exit code 3"

    @command
    def main(argv):
        raise OSError(errno.EROFS, "Read-only file system", "/results")

    assert stops(main, [], capsys, code=1) == "error: /results: read-only file system"


# --- stopped: Ctrl-C and SIGTERM end every process a command started ---------------------------


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, finished but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def session(sid: int) -> list[int]:
    """The live processes of session ``sid``: a command started with ``start_new_session`` and all it started."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat[stat.rindex(")") + 2 :].split()[3]) == sid and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_sigterm_stops_a_command_in_one_line(capsys):
    @command
    def main(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)

    assert stops(main, [], capsys, code=128 + signal.SIGTERM) == "stopped: terminated (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the command's handler is its own


def test_a_stopped_command_stops_its_child_and_what_the_child_started(tmp_path):
    """The child's own child ignores Ctrl-C: it is killed with its process group, not left behind."""
    pids = tmp_path / "pids"
    code = (
        "import os, signal, subprocess, sys, time\n"
        "deaf = 'import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(300)'\n"
        "worker = subprocess.Popen([sys.executable, '-c', deaf])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{worker.pid}}')\n"
        "time.sleep(300)\n"
    )

    def stop_when_started():
        while not (pids.exists() and len(pids.read_text().split()) == 2):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=stop_when_started, daemon=True)
    t0 = time.monotonic()
    with pytest.raises(Stopped), stopping_on_sigterm():
        sender.start()
        run_child([sys.executable, "-c", code], grace=5)
    child, worker = map(int, pids.read_text().split())
    assert not alive(child) and not alive(worker)
    assert group_members(child) == []
    assert time.monotonic() - t0 < 30


def test_a_child_that_fails_leaves_no_worker_behind(tmp_path):
    pids = tmp_path / "pids"
    code = (
        "import os, subprocess, sys\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pids)!r}, 'w').write(str(worker.pid))\n"
        "sys.exit('error: a worker process died')\n"
    )
    done = run_child([sys.executable, "-c", code])
    assert done.returncode == 1 and done.stderr.strip() == "error: a worker process died"
    assert not alive(int(pids.read_text()))


STOPPED_SWEEPS = {
    "sim": ["sim", "-m", "seed=range(0,40)", "customers.n=50000", "progress=false", "hydra/launcher=joblib"],
    "discover": ["sim.discover", "--launcher", "joblib", "--points", "20", "--n", "50000"],
    "sensitivity": ["sim.sensitivity", "--launcher", "joblib", "--trajectories", "6", "--n", "50000"],
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "which, signum",
    [("sim", signal.SIGINT), ("sim", signal.SIGTERM), ("discover", signal.SIGINT), ("sensitivity", signal.SIGTERM)],
    ids=["sim-SIGINT", "sim-SIGTERM", "discover-SIGINT", "sensitivity-SIGTERM"],
)
def test_a_stopped_sweep_leaves_no_worker_and_writes_nothing_after(which, signum, tmp_path):
    """Stopped while its joblib workers run: the command exits at once, in one line; none of its processes
    lives on, and nothing is written after it exits."""
    results = tmp_path / "results"
    module, *args = STOPPED_SWEEPS[which]
    args += [f"results_dir={results}"] if module == "sim" else ["--jobs", "2", "--results-dir", str(results)]
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its session holds every process it starts, however they are parented
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not [c for c in results.rglob(".*.claim") if c.stat().st_size]:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        assert len(session(proc.pid)) >= 3, "runs under way in worker processes"
        time.sleep(1)
        os.kill(proc.pid, signum)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 20
        assert proc.returncode == (130 if signum == signal.SIGINT else 128 + signum)
        assert one_line(err) == ("interrupted" if signum == signal.SIGINT else "stopped: terminated (SIGTERM)")
        files = sorted(results.rglob("*"))
        deadline = time.time() + 5
        while session(proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert session(proc.pid) == []
        time.sleep(3)
        assert sorted(results.rglob("*")) == files
    finally:
        for pid in session(proc.pid):  # only if the test failed: leave nothing running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --- python -m sim --------------------------------------------------------------------------------

SIM_BAD = [
    (["customers.n=-5"], "customers.n = -5"),
    (["steps=0"], "steps = 0"),
    (["seed=-1"], "seed = -1"),
    (["engine=turbo"], "engine = 'turbo'"),
    (["network=lattice"], "network=lattice: no such option"),
    (["market.shocks=[{kind: flood, week: 1, duration: 1, size: 1}]"], "market.shocks.0.kind"),
    (
        ["market.shocks=[{kind: outage, week: 600, duration: 4, size: 0.8, firm: giving}]"],
        "market.shocks.0.week = 600: the outage of giving starts after the last week (steps = 520)",
    ),
    (["firms.giving.changes=[{week: soon, ramp: 1}]"], "firms.giving.changes.0.week"),
    (["seed=${nope}"], "seed: could not resolve"),
    (["customers=3"], "override 'customers=3'"),
    (["design=missing.csv", "design_row=0"], "design = 'missing.csv': no such file"),
    (["design_row=1"], "design: needed too"),
    (["seed=[1,"], "override 'seed=[1,'"),
    (
        ["firms.café.price=9"],
        "override 'firms.café.price=9': 'é' (character 10) cannot be in a key; allowed: key=value, a key of letters",
    ),
    (["market.reach=0.1 é"], "override 'market.reach=0.1 é': 'é' (character 18) cannot be in a value unless it is"),
    (["-m", "seed=0,1", "firms.café.price=9,8"], "override 'firms.café.price=9,8': 'é' (character 10) cannot"),
    (["-m", "sweep=../elsewhere", "seed=0,1"], "sweep = '../elsewhere': allowed: one folder name"),
    (["-m", "sweep=/elsewhere", "seed=0,1"], "sweep = '/elsewhere': allowed: one folder name"),
    (["-m", "sweep=a,b", "seed=0,1"], "sweep = 'a,b': one name for the whole sweep"),
    (["-m", "customers.n=300,-5"], "customers.n = -5"),
    (["-m", "design_row=range(0,2)"], "design_row: needs design=path.csv"),
    (
        ["-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"],
        "hydra.launcher.n_jobs = 0: allowed: worker processes, 1 ≤ value ≤ 4096, or -1 for one per core",
    ),
    (["-m", "seed=range(0,0)"], "seed=range(0,0): an empty sweep, no run to do; allowed: one value or more"),
    (["-m", "seed=0,1", "customers.n=range(5,2)"], "customers.n=range(5,2): an empty sweep, no run to do"),
    (["--nope"], "unrecognized arguments: --nope (allowed: --hydra-help, --version, --cfg"),
    (["--cfg", "everything"], "--cfg/-c: invalid choice: 'everything'"),
    (
        ["--cfg", "job", "-m", "seed=0,1"],
        "--multirun and --cfg: allowed: one of --run, --multirun, --cfg, --info, --shell-completion",
    ),
    (["--resolve"], "--resolve: allowed: only with --cfg"),
    (["--experimental-rerun", "config.pickle"], "--experimental-rerun: not supported (a run keeps its config in"),
    (
        ["-m", "customers.n=60,20", "network.mean_degree=4,30"],
        "network.mean_degree = 30: allowed: 0 ≤ value < customers.n (20)",
    ),
    (
        ["-m", "firms.giving.enters_at=0,5", "firms.taking.enters_at=0,5"],
        "firms: at least one firm must have enters_at = 0",
    ),
]


@pytest.mark.parametrize("argv, expected", SIM_BAD, ids=[" ".join(a) for a, _ in SIM_BAD])
def test_sim_bad_input_is_one_line_and_writes_nothing(argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["sim", *argv, f"results_dir={tmp_path / 'results'}"])
    line = stops(lambda _: sim_main.cli(), None, capsys)
    assert line.startswith(("config error: ", "argument error: ")) and expected in line
    assert written(tmp_path) == []


ESCAPES = [
    ("experiment", "../../x", []),
    ("experiment", "/tmp/x", []),
    ("experiment", "../../x", ["-m", "design_row=range(0,1)"]),
    ("results_dir", "/tmp/elsewhere", []),
    ("results_dir", "../../x", ["-m", "design_row=range(0,1)"]),
    ("progress", "true", []),
]


@pytest.mark.parametrize("column, value, sweep", ESCAPES, ids=[f"{c}={v} {' '.join(s)}" for c, v, s in ESCAPES])
def test_no_design_value_leads_outside_results_dir(column, value, sweep, tmp_path, monkeypatch, capsys):
    """The experiment and where results go are the command's: a design row sets neither."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    pd.DataFrame({"customers.review_rate": [0.01], column: [value]}).to_csv(work / "design.csv", index=False)
    row = sweep or ["design_row=0"]
    monkeypatch.setattr(sys, "argv", ["sim", *row, "design=design.csv", "customers.n=100", "results_dir=results"])
    line = stops(lambda _: sim_main.cli(), None, capsys)
    assert line == f"config error: design column '{column}': not a model parameter (set it for the whole command)"
    assert written(tmp_path, "a", "b", "design.csv") == []


def test_sim_full_disk_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
    monkeypatch.setattr(sys, "argv", ["sim", "customers.n=100", "steps=3", "progress=false", f"results_dir={results}"])
    line = stops(lambda _: sim_main.cli(), None, capsys, code=1)
    assert line.startswith(f"error: writing {results / 'giving_vs_taking'}/") and line.endswith(
        ": no space left on device"
    )
    assert [p for p in results.rglob("*") if p.is_file()] == []  # no folder that looks complete, nor a half-written one


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB filesystem (tmpfs; needs root): real full-disk errors. Skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("launcher", [[], ["-m", "seed=0,1"]], ids=["run", "sweep"])
def test_sim_on_a_full_disk(small_disk, launcher):
    proc = cli(*launcher, "customers.n=500", "steps=30", "progress=false", f"results_dir={small_disk}")
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith(f"error: writing {small_disk}/giving_vs_taking/") and line.endswith(
        "no space left on device"
    )
    assert not [p for p in small_disk.rglob("summary.csv")]


@pytest.mark.slow
def test_sim_sweep_in_worker_processes_on_a_full_disk(small_disk):
    proc = cli(
        "-m",
        "seed=0,1,2",
        "customers.n=500",
        "steps=30",
        "progress=false",
        f"results_dir={small_disk}",
        "hydra/launcher=local",
    )
    assert proc.returncode == 1
    assert one_line(proc.stderr).endswith("no space left on device")
    assert not [p for p in small_disk.rglob("summary.csv")]


def test_sim_on_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)]).returncode:
        pytest.skip("mounting a read-only tmpfs needs root")
    try:
        proc = cli("customers.n=100", "steps=3", "progress=false", f"results_dir={ro}")
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
    assert proc.returncode == 1
    assert one_line(proc.stderr).endswith("read-only file system")


@pytest.mark.slow
def test_sim_sweep_with_a_worker_killed_stops_in_one_line(tmp_path):
    """A joblib worker killed mid-run (out of memory, say): one line, exit 1, no hang, nothing half-written."""
    results = tmp_path / "results"
    command = [sys.executable, "-m", "sim", "-m", "customers.n=20000", "steps=400", "progress=false"]
    command += [f"results_dir={results}", "seed=0,1,2,3", "sweep=pilot", "hydra/launcher=local"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    claim = results / "giving_vs_taking" / "pilot" / ".seed=0.claim"
    deadline = time.time() + 120
    while time.time() < deadline and not (claim.exists() and claim.read_text()):
        time.sleep(0.05)
    os.kill(json.loads(claim.read_text())["pid"], signal.SIGKILL)  # the worker running seed=0
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    line = one_line(err)
    assert (
        line
        == "error: a worker process died (exit codes {SIGKILL(-9)}); run the same command again to finish the sweep"
    )
    assert not (results / "giving_vs_taking" / "pilot" / "seed=0").exists()


# --- a config file in conf/ that is not valid YAML -------------------------------------------------

BROKEN = {  # file in conf/, its text, the line of the error
    "experiment/broken.yaml": ("experiment: broken\nfirms:\n  a: [1, 2\n  b: 3\n", 4),
    "policy/broken.yaml": ("price: 10\n  generosity: : 1\n", 2),
    "market_data/broken.yaml": ("name: broken\ncustomers: 5000\n\tweeks: 208\n", 3),
}


@pytest.fixture
def broken_conf(tmp_path, monkeypatch):
    """A copy of conf/ with files that are not valid YAML, which the commands compose instead of conf/."""
    import shutil

    from sim import config

    conf = tmp_path / "copy" / "conf"
    shutil.copytree(ROOT / "conf", conf)
    for name, (text, _) in BROKEN.items():
        (conf / name).write_text(text)
    monkeypatch.setattr(config, "CONF_DIR", conf)
    monkeypatch.setattr(config, "PRESETS_DIR", conf / "policy")
    return conf


def _sim(*argv):
    def main(_):
        sys.argv[1:] = argv
        sim_main.cli()

    return main


BROKEN_YAML = [
    (_sim("experiment=broken"), "experiment/broken.yaml"),
    (_sim("-m", "seed=0,1", "experiment=broken"), "experiment/broken.yaml"),
    (_sim("policy@firms.giving=broken"), "policy/broken.yaml"),
    (_sim("firms.giving.changes=[{week: 5, ramp: 1, policy: broken}]"), "policy/broken.yaml"),
    (lambda _: docking.main(["experiment=broken"]), "experiment/broken.yaml"),
    (lambda _: discover.main(["--experiment", "broken"]), "experiment/broken.yaml"),
    (lambda _: sensitivity.main(["policy@firms.taking=broken"]), "policy/broken.yaml"),
    (lambda _: whatif.main(["firms.giving.price=9", "--base", "experiment=broken"]), "experiment/broken.yaml"),
    (lambda _: calibrate.main(["market_data=broken"]), "market_data/broken.yaml"),
]


@pytest.mark.parametrize(
    "main, name",
    BROKEN_YAML,
    ids=[
        "sim",
        "sim -m",
        "sim preset",
        "sim planned change",
        "docking",
        "discover",
        "sensitivity",
        "whatif",
        "calibrate",
    ],
)
def test_a_config_file_that_is_not_yaml_is_one_line_naming_it(main, name, broken_conf, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "argv", ["sim"])
    line = stops(main, [], capsys)
    assert line.startswith(f"config error: conf/{name}, line {BROKEN[name][1]}: not valid YAML ("), line
    assert written(work) == []


# --- python -m sim.aggregate ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A finished sweep of four runs."""
    results = tmp_path_factory.mktemp("sweep") / "results"
    proc = cli("-m", "customers.n=300", "steps=12", "progress=false", "seed=range(0,4)", f"results_dir={results}")
    assert proc.returncode == 0, proc.stderr
    (found,) = (results / "giving_vs_taking").iterdir()
    return found


@pytest.fixture
def sweep(sweep_dir, tmp_path):
    """A fresh copy of the sweep, to damage."""
    import shutil

    copy = tmp_path / "giving_vs_taking" / sweep_dir.name
    shutil.copytree(sweep_dir, copy)
    return copy


AGGREGATE_BAD = [
    ([], "the following arguments are required: sweep"),
    (["{tmp}/missing"], "sweep = {tmp}/missing: no such folder"),
    (["{tmp}"], "no completed runs"),
    (["{sweep}", "--map", "seed"], "--map: expected 2 arguments"),
    (
        ["{sweep}", "--map", "steps", "market.reach"],
        "--map market.reach: not a parameter of this sweep (allowed: customers.n, steps)",
    ),
    (
        ["{sweep}", "--map", "seed", "steps"],
        "--map seed: it tells the replicates apart, which each cell of the map averages over (paired by seed), so it "
        "is no axis (allowed: customers.n, steps)",
    ),
    (["{sweep}", "--map", "steps", "design_row"], "--map design_row: it tells the replicates apart"),
    (["{sweep}", "--map", "steps", "steps"], "--map steps steps: allowed: two different parameters"),
    (["{sweep}", "--map", "customers.n", "steps", "--metric", "vibes"], "--metric = vibes: allowed: "),
    (["{sweep}", "--strictly"], "unrecognized arguments: --strictly (allowed: --map, --metric, --strict)"),
]


@pytest.mark.parametrize("argv, expected", AGGREGATE_BAD, ids=[" ".join(a) for a, _ in AGGREGATE_BAD])
def test_aggregate_bad_input_is_one_line_and_writes_nothing(argv, expected, sweep, tmp_path, capsys):
    fill = {"tmp": tmp_path / "empty", "sweep": sweep}
    (tmp_path / "empty").mkdir()
    before = written(tmp_path)
    line = stops(aggregate.main, [a.format(**fill) for a in argv], capsys)
    assert line.startswith("argument error: ") and expected.format(**fill) in line
    assert written(tmp_path) == before


DAMAGE = {
    "seed=1": ("timeseries.parquet", lambda p: p.write_bytes(p.read_bytes()[:300]), "not a Parquet file"),
    "seed=2": ("summary.csv", lambda p: p.write_text(""), "empty file"),
    "seed=3": ("params.json", lambda p: p.write_text("{'seed'"), "not valid JSON"),
}


def test_aggregate_reports_damaged_runs_and_goes_on(sweep, capsys):
    for run, (name, damage, _) in DAMAGE.items():
        damage(sweep / run / name)
    aggregate.main([str(sweep)])
    out = capsys.readouterr().out
    expected = "3 of 4 runs unreadable: " + ", ".join(f"{r} ({n}: {why}" for r, (n, _, why) in DAMAGE.items())
    assert expected.split("(")[0] in out
    for run, (name, _, why) in DAMAGE.items():
        assert f"{run} ({name}: {why}" in out
    report = (sweep / "report" / "report.md").read_text()
    assert "Left out: 3 of 4 runs unreadable: seed=1 (timeseries.parquet: not a Parquet file" in report
    table = pd.read_parquet(sweep / "report" / "runs.parquet")
    assert sorted(table.run.unique()) == ["seed=0"]  # the healthy run is kept


@pytest.mark.parametrize(
    "name, damage, why",
    [
        ("summary.csv", lambda p: p.write_text("firm,policy\ngiving,giving\n"), "no long_run_share, npv, advocacy"),
        ("config.yaml", lambda p: p.write_bytes(b"\xff\xfe: [\x00"), "not text"),
        ("config.yaml", lambda p: p.write_text("seed: [1\n"), "not valid YAML"),
        ("params.json", lambda p: p.write_text('{"overrides": {"seed": 2}, "design": 5}'), "not a run's parameters"),
        ("timeseries.parquet", lambda p: p.unlink(), "no such file or directory"),
        ("timeseries.parquet", lambda p: pd.DataFrame({"week": [0]}).to_parquet(p), "no firm column"),
    ],
    ids=[
        "summary-columns",
        "config-binary",
        "config-yaml",
        "params-design",
        "timeseries-missing",
        "timeseries-columns",
    ],
)
def test_aggregate_names_each_kind_of_damage(sweep, name, damage, why, capsys):
    damage(sweep / "seed=2" / name)
    table = aggregate.collect(sweep)
    assert sorted(table.run.unique()) == ["seed=0", "seed=1", "seed=3"]
    (said,) = table.attrs["unreadable"]
    assert said.startswith(f"seed=2 ({name}: ") and why in said, said


def _summary_value(column: str, value: str):
    def damage(path: Path) -> None:
        summary = pd.read_csv(path, dtype=str, keep_default_na=False)
        summary.loc[0, column] = value
        summary.to_csv(path, index=False)

    return damage


NOT_NUMBERS = {  # a value the report computes with that is no finite number: the run is left out, no traceback
    "summary text": ("summary.csv", _summary_value("npv", "x"), "npv: a value that is not a finite number"),
    "summary inf": (
        "summary.csv",
        _summary_value("profit_lead_week", "1e400"),
        "profit_lead_week: a value that is not a finite number",
    ),
    "trajectory text": (
        "timeseries.parquet",
        lambda p: pd.read_parquet(p).assign(share="x").to_parquet(p),
        "share: a value that is not a finite number",
    ),
}


@pytest.mark.parametrize("name, damage, why", NOT_NUMBERS.values(), ids=NOT_NUMBERS)
def test_aggregate_leaves_out_a_run_whose_numbers_are_not_numbers(sweep, name, damage, why, capsys):
    damage(sweep / "seed=2" / name)
    aggregate.main([str(sweep)])
    assert f"1 of 4 runs unreadable: seed=2 ({name}: {why}); left out of the report" in capsys.readouterr().out
    assert (sweep / "report" / "report.md").is_file()


def test_aggregate_strict_fails_in_one_line_and_writes_nothing(sweep, capsys):
    DAMAGE["seed=1"][1](sweep / "seed=1" / "timeseries.parquet")
    line = stops(aggregate.main, [str(sweep), "--strict"], capsys, code=1)
    assert line.startswith("error: 1 of 4 runs unreadable: seed=1 (timeseries.parquet: not a Parquet file")
    assert not (sweep / "report").exists()


def test_aggregate_with_every_run_damaged_fails(sweep, capsys):
    for run in ("seed=0", "seed=1", "seed=2", "seed=3"):
        (sweep / run / "summary.csv").write_text("")
    assert stops(aggregate.main, [str(sweep)], capsys, code=1).startswith("error: 4 of 4 runs unreadable: seed=0")


def test_aggregate_full_disk_keeps_the_old_report(sweep, monkeypatch, capsys):
    aggregate.main([str(sweep)])
    capsys.readouterr()
    before = (sweep / "report" / "report.md").read_text()
    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
    line = stops(aggregate.main, [str(sweep)], capsys, code=1)
    assert line == f"error: writing {sweep / 'report'}: no space left on device"
    assert (sweep / "report" / "report.md").read_text() == before
    assert not [p for p in sweep.iterdir() if p.name.startswith(".report")]


def test_aggregate_command_on_a_damaged_sweep(sweep):
    DAMAGE["seed=1"][1](sweep / "seed=1" / "timeseries.parquet")
    proc = run("sim.aggregate", str(sweep), cwd=ROOT)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "1 of 4 runs unreadable: seed=1 (timeseries.parquet: not a Parquet file" in proc.stdout
    strict = run("sim.aggregate", str(sweep), "--strict", cwd=ROOT)
    assert strict.returncode == 1 and one_line(strict.stderr).startswith("error: 1 of 4 runs unreadable")


# --- python -m sim.bench --------------------------------------------------------------------------

BENCH_BAD = [
    (["--sizes", "-5"], "argument error: --sizes = -5: allowed: an integer, 11 ≤ value ≤ 20000000"),
    (["--sizes", "10"], "argument error: --sizes = 10: allowed: an integer, 11 ≤ value ≤ 20000000"),
    (["--sizes", "5", "--network", "none"], "argument error: --sizes = 5: allowed: an integer, 10 ≤ value ≤ 20000000"),
    (["--sizes", "20", "network.mean_degree=30"], "argument error: --sizes = 20: allowed: an integer, 31 ≤ value"),
    (["--agents-sizes", "10"], "argument error: --agents-sizes = 10: allowed: an integer, 11 ≤ value"),
    (["--sizes", "5"], "argument error: --sizes = 5: allowed"),
    (["--sizes", "many"], "argument error: --sizes = many: allowed"),
    (["--sizes"], "argument error: --sizes: expected at least one argument"),
    (["--agents-sizes", "0"], "argument error: --agents-sizes = 0: allowed"),
    (["--steps", "0"], "argument error: --steps = 0: allowed: an integer, 1 ≤ value ≤ 100000"),
    (["--agents-steps", "-1"], "argument error: --agents-steps = -1: allowed"),
    (["--degrees", "-2"], "argument error: --degrees = -2: allowed: an integer, 0 ≤ value ≤ 1000"),
    (["--seed", "-1"], "argument error: --seed = -1: allowed: an integer, 0 ≤ value"),
    (["--timeout", "0"], "argument error: --timeout = 0: allowed: a number, 1 ≤ value"),
    (["--timeout", "nan"], "argument error: --timeout = nan: allowed"),
    (["--network", "lattice"], "config error: network=lattice: no such option"),
    (
        ["--sizes", "100", "--degrees", "100"],
        "config error: network.mean_degree = 100: allowed: 0 ≤ value < customers.n",
    ),
    (["customers.patience=3"], "config error: unknown key 'customers.patience'"),
    (["--cores", "2"], "argument error: unrecognized arguments: --cores (allowed: --sizes"),
    (["--engines", "vectorized"], "argument error: unrecognized arguments: --engines (allowed: --sizes"),
    (["--threads", "0"], "argument error: --threads = 0: allowed: an integer, 1 ≤ value ≤ 256"),
    (["--sweep", "-1"], "argument error: --sweep = -1: allowed: an integer, 0 ≤ value ≤ 100000"),
]


@pytest.mark.parametrize("argv, expected", BENCH_BAD, ids=[" ".join(a) for a, _ in BENCH_BAD])
def test_bench_bad_input_is_one_line_before_any_child(argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, "measure", lambda *a, **k: pytest.fail("a case ran"))
    assert stops(bench.main, argv, capsys).startswith(expected)
    assert written(tmp_path) == []


def test_bench_accepts_the_range_it_shows(tmp_path, monkeypatch, capsys):
    """The fewest customers a case takes is the network's: more than a graph's mean degree, 10 without a graph."""
    row = {"engine": "compiled", "threads": 1, "import_s": 0.1, "customers": 10, "edges": 0, "steps": 2}
    row |= {"setup_s": 0.1, "first_week_s": 0.1, "run_s": 0.1, "wall_s": 0.3, "s_per_step": 0.1}
    row |= {"customer_steps_per_s": 1000.0, "peak_mb": 100.0}
    monkeypatch.setattr(bench, "measure", lambda *a, **k: dict(row))
    for argv in (["--sizes", "10", "--network", "none"], ["--sizes", "11"]):
        bench.main([*argv, "--agents-sizes", "--steps", "2", "--out", str(tmp_path / "bench")])
        assert "written:" in capsys.readouterr().out


def test_bench_negative_size_from_the_command_line_does_not_hang(tmp_path):
    proc = run("sim.bench", "--sizes", "-5", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert one_line(proc.stderr) == "argument error: --sizes = -5: allowed: an integer, 11 ≤ value ≤ 20000000"
    assert written(tmp_path) == []


def test_bench_child_that_fails_is_one_line_not_a_hang():
    with pytest.raises(Failure) as failed:
        bench.measure(200, 2, "watts_strogatz", overrides=["customers.patience=3"], timeout=120)
    assert str(failed.value).startswith("error: bench case compiled n=200 steps=2: config error: unknown key")


def test_bench_child_that_runs_too_long_is_stopped():
    t0 = time.monotonic()
    with pytest.raises(Failure, match=r"no result within 1 s \(--timeout\); stopped"):
        bench.measure(200_000, 5000, "watts_strogatz", timeout=1)
    assert time.monotonic() - t0 < 30


def test_bench_child_killed_is_one_line(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.bench", "--sizes", "300000", "--agents-sizes"]
        + ["--steps", "520", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not proc.stdout.readline().strip().startswith("engine"):  # the kernels loaded: the cases begin
        pass
    child, deadline = None, time.time() + 60
    while child is None and time.time() < deadline:
        time.sleep(0.1)
        for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                child = int(pid)
    os.kill(child, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert one_line(err) == "error: bench case compiled n=300000 steps=520: the child process died (killed by SIGKILL)"
    assert not out.exists()


def test_bench_full_disk_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    row = {
        "engine": "compiled",
        "threads": 1,
        "import_s": 0.1,
        "customers": 100,
        "edges": 400,
        "steps": 2,
        "setup_s": 0.1,
        "first_week_s": 0.1,
        "run_s": 0.1,
        "wall_s": 0.3,
    }
    row |= {"s_per_step": 0.05, "customer_steps_per_s": 2000.0, "peak_mb": 100.0}
    monkeypatch.setattr(bench, "measure", lambda *a, **k: dict(row))
    monkeypatch.setattr(pd.DataFrame, "to_csv", no_space)
    out = tmp_path / "bench"
    argv = ["--sizes", "100", "--agents-sizes", "--steps", "2", "--out", str(out)]
    line = stops(bench.main, argv, capsys, code=1)
    assert line.startswith(f"error: writing {out}/") and line.endswith(": no space left on device")
    assert [p for p in out.rglob("*") if p.is_file()] == []


# --- python -m sim.docking ------------------------------------------------------------------------

DOCKING_BAD = [
    (["customers.n=-5"], "customers.n = -5"),
    (["steps=0"], "steps = 0"),
    (["customers.patience=1"], "unknown key 'customers.patience'"),
    (["network=lattice"], "network=lattice: no such option"),
    (["experiment=nope"], "experiment=nope: no such option"),
    (["seed=[1,"], "override 'seed=[1,'"),
    (["market.shocks=[{kind: outage, week: 5, duration: 2, size: 0.5, firm: nobody}]"], "market.shocks.0.firm"),
    (["firms.café.price=9"], "override 'firms.café.price=9': 'é' (character 10) cannot be in a key; allowed: "),
    (["--", "--n", "100"], "'--n' is not an override; allowed: key=value (e.g. customers.n=500)"),
]


@pytest.mark.parametrize("argv, expected", DOCKING_BAD, ids=[" ".join(a) for a, _ in DOCKING_BAD])
def test_docking_bad_input_is_one_line(argv, expected, capsys):
    line = stops(docking.main, argv, capsys)
    assert line.startswith("config error: ") and expected in line


def test_docking_size_as_an_option_is_one_line(capsys):
    line = stops(docking.main, ["--n", "100"], capsys)
    assert line.startswith("argument error: ") and "--n" in line and "allowed: --chunk" in line


def test_docking_command_bad_input(tmp_path):
    proc = run("sim.docking", "customers.n=-5", cwd=tmp_path)
    assert proc.returncode == 2 and one_line(proc.stderr).startswith("config error: customers.n = -5")
    assert written(tmp_path) == []


# --- python -m sim.sensitivity --------------------------------------------------------------------

SENSITIVITY_BAD = [
    (["--param", "market.nope=0:1"], "config error: --param market.nope: unknown key"),
    (["--param", "market=0:1"], "config error: --param market: unknown key"),
    (["--param", "market.reach=0:2"], "config error: market.reach = 2.0: "),
    (["--param", "market.reach=0.3:0.1"], "config error: --param market.reach: low (0.3) must be below high"),
    (["--param", "market.reach=0:inf"], "config error: --param market.reach: low (0.0) must be below high (inf)"),
    (["--param", "market.reach"], "config error: --param 'market.reach': expected key=low:high"),
    (["--params", "missing.yaml"], "argument error: --params = missing.yaml: no such file"),
    (["--params", "bad.yaml"], "config error: --params bad.yaml: not valid YAML"),
    (["--params", "list.yaml"], "config error: --params list.yaml: expected a mapping"),
    (["--params", "bounds.yaml"], "config error: bounds.yaml: market.reach: expected [low, high], two numbers"),
    (["--trajectories", "1"], "argument error: --trajectories = 1: allowed: an integer, 2 ≤ value ≤ 10000"),
    (["--levels", "x"], "argument error: --levels = x: allowed"),
    (["--n", "5"], "argument error: --n = 5: allowed: an integer, 10 ≤ value ≤ 20000000"),
    (["--steps", "0"], "argument error: --steps = 0: allowed"),
    (["--jobs", "0"], "argument error: --jobs = 0: allowed"),
    (["--seed", "-1"], "argument error: --seed = -1: allowed"),
    (["--name", "../elsewhere"], "argument error: --name = ../elsewhere: allowed: one folder name"),
    (
        ["--giving", "nobody"],
        "argument error: --giving = nobody: not a firm of this experiment (allowed: giving, taking)",
    ),
    (["--launcher", "cloud"], "config error: hydra/launcher=cloud: no such option (allowed: basic, joblib"),
    (["--experiment", "nope"], "config error: experiment=nope: no such option"),
    (["customers.patience=3"], "config error: unknown key 'customers.patience'"),
    (["--trajectory", "3"], "argument error: unrecognized arguments: --trajectory (allowed: --param"),
    (["--method", "sobol", "--samples", "6"], "argument error: --samples = 6: allowed: a power of 2, at least 4"),
    (["--method", "fast"], "argument error: --method: invalid choice: 'fast' (choose from 'morris', 'sobol')"),
]
INPUTS = {"bad.yaml": "market.reach: [0, 1\n", "list.yaml": "- market.reach\n", "bounds.yaml": "market.reach: [0, a]\n"}


@pytest.mark.parametrize("argv, expected", SENSITIVITY_BAD, ids=[" ".join(a) for a, _ in SENSITIVITY_BAD])
def test_sensitivity_bad_input_is_one_line_and_writes_nothing(argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, text in INPUTS.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(sensitivity, "run_sweep", lambda cmd: pytest.fail("the sweep started"))
    assert stops(sensitivity.main, argv, capsys).startswith(expected)
    assert written(tmp_path, *INPUTS) == []


def test_sensitivity_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pd.DataFrame, "to_csv", no_space)
    monkeypatch.setattr(sensitivity, "run_sweep", lambda cmd: pytest.fail("the sweep started"))
    line = stops(sensitivity.main, ["--results-dir", str(tmp_path)], capsys, code=1)
    assert line == f"error: writing {tmp_path / 'sensitivity' / 'morris'}: no space left on device"


@pytest.mark.parametrize(
    "code, expected",
    [
        (
            "import sys; sys.exit('error: writing x: no space left on device')",
            "error: writing x: no space left on device",
        ),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "error: the sweep failed (killed by SIGKILL): "),
    ],
    ids=["said", "killed"],
)
def test_sensitivity_failed_sweep_is_one_line(code, expected):
    with pytest.raises(Failure) as failed:
        sensitivity.run_sweep([sys.executable, "-c", code])
    assert str(failed.value).startswith(expected) and str(failed.value).endswith("(rerun the same command to resume)")


def test_sensitivity_refuses_a_sweep_with_a_damaged_run(sweep):
    DAMAGE["seed=1"][1](sweep / "seed=1" / "timeseries.parquet")
    with pytest.raises(Failure, match=r"^error: 1 of 4 runs unreadable: seed=1 \(timeseries.parquet"):
        aggregate.collect(sweep, strict=True)


# --- python -m sim.validate -----------------------------------------------------------------------

VALIDATE_BAD = [
    ([], "argument error: check nothing: allowed: bass, facts, observables, baseline, spend, synthetic, coverage"),
    (
        ["docking"],
        "argument error: check 'docking': allowed: bass, facts, observables, baseline, spend, synthetic, coverage",
    ),
    (["bass", "--n", "5"], "argument error: --n = 5: allowed: an integer, 10 ≤ value ≤ 20000000"),
    (["bass", "--steps", "0"], "argument error: --steps = 0: allowed"),
    (["bass", "--seeds", "0"], "argument error: --seeds = 0: allowed: an integer, 1 ≤ value ≤ 1000"),
    (["bass", "--p", "0.1"], "argument error: unrecognized arguments: --p 0.1 (allowed: --n, --steps, --seeds"),
    (["facts", "--seeds", "0"], "argument error: --seeds = 0: allowed"),
    (["facts", "--n", "many"], "argument error: --n = many: allowed"),
    (["baseline", "--file", "missing.csv"], "argument error: --file = missing.csv: no such file (--refresh writes it)"),
    (["spend", "customers.n=-1"], "config error: customers.n = -1"),
    (["observables", "--seeds", "1"], "argument error: --seeds = 1: allowed: an integer, 2 ≤ value ≤ 1000"),
    (["observables", "market.reach=7"], "config error: market.reach = 7"),
    (["coverage", "--truths", "0"], "argument error: --truths = 0: allowed: an integer, 1 ≤ value ≤ 1000"),
    (["synthetic", "--card", "uk_mobile"], "argument error: --card = uk_mobile: has no truth to simulate"),
    (["spend", "firms.nobody.price=1"], "config error: "),
]


@pytest.mark.parametrize("argv, expected", VALIDATE_BAD, ids=[" ".join(a) or "nothing" for a, _ in VALIDATE_BAD])
def test_validate_bad_input_is_one_line_and_writes_nothing(argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert stops(validate.main, argv, capsys).startswith(expected)
    assert written(tmp_path) == []


BASELINE_BAD = {
    "empty": ("", "not a readable CSV file (no columns to parse from file)"),
    "ragged": ('a,b\n1,2,3,4\n"unclosed\n', "not a readable CSV file (error tokenizing data"),
    "columns": ("seed,firm\n0,giving\n", "not a baseline (no column long_run_share, npv, "),
    "seed": ("{header}\nx,giving,1,2,3,4,5,6,7\n", "not a baseline (a seed is not a whole number ≥ 0)"),
    "value": ("{header}\n0,giving,a,2,3,4,5,6,7\n", "not a baseline (long_run_share: a value is not a number)"),
}


@pytest.mark.parametrize("name", BASELINE_BAD)
def test_validate_a_malformed_baseline_is_one_line(name, tmp_path, monkeypatch, capsys):
    from sim.validation import baseline

    text, why = BASELINE_BAD[name]
    (tmp_path / "b.csv").write_text(text.format(header=",".join(["seed", "firm", *baseline.METRICS])))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(baseline, "summaries", lambda *a: pytest.fail("the baseline ran"))
    line = stops(validate.main, ["baseline", "--file", "b.csv"], capsys)
    assert (
        line.startswith(f"argument error: --file = b.csv: {why}") and "allowed: a CSV with columns seed, firm" in line
    )
    assert written(tmp_path, "b.csv") == []


def test_validate_unwritable_output_is_one_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    proc = run(
        "sim.validate",
        "bass",
        "--n",
        "100",
        "--steps",
        "3",
        "--seeds",
        "1",
        "--out",
        "file/sub/bass.png",
        "--docs",
        "",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert one_line(proc.stderr) == "error: writing file/sub/bass.png: not a directory"


# --- python -m sim.pairing, sim.influence, sim.calibrate, sim.whatif ------------------------------

ANALYSES_BAD = [
    (pairing, ["firms.giving.generosity=2"], "config error: firms.giving.generosity = 2"),
    (pairing, ["market.reach=0.2", "--seeds", "2"], "argument error: --seeds = 2: allowed: an integer, 3 ≤ value"),
    (influence, ["--jobs", "0"], "argument error: --jobs = 0: allowed: an integer, 1 ≤ value ≤ 4096"),
    (influence, ["--name", "a/b"], "argument error: --name = a/b: allowed: one folder name"),
    (influence, ["--launcher", "nope"], "config error: "),
    (calibrate, ["market_data=synthetic", "--generations", "0"], "argument error: --generations = 0: allowed"),
    (calibrate, ["customers.n=5"], "argument error: customers.n=5: expected market_data=<card> first"),
    (calibrate, ["market_data=synthetic", "seed=3"], "argument error: seed=3: only card keys (market_data.*)"),
    (whatif, ["firms.giving.generosity=0.8", "--band", "1"], "argument error: --band = 1: allowed: a number"),
    (whatif, ["firms.giving.generosity=0.8", "--calibration", "nowhere"], "argument error: --calibration = nowhere"),
    (discover, ["--points", "5"], "argument error: --points = 5: allowed: an integer, 10 ≤ value ≤ 1000000"),
    (discover, ["--param", "market.reach=0.3:0.3"], "config error: --param market.reach=0.3:0.3: empty range"),
    (discover, ["--taking", "nobody"], "argument error: --taking = nobody: not a firm of this experiment"),
    (discover, ["--name", "/tmp/x"], "argument error: --name = /tmp/x: allowed: one folder name"),
    (
        calibrate,
        ["market_data=synthetic", "market_data.name=../../escape"],
        "config error: market_data.name = '../../escape': allowed: one folder name of letters, digits",
    ),
    (whatif, ["--changes", "missing.yaml"], "argument error: --changes = missing.yaml: no such file"),
    (
        calibrate,
        ["market_data=synthetic", "market_data.kpis.us.advocacy.value=nan"],
        "config error: market_data.kpis.us.advocacy.value = nan: input should be a finite number",
    ),
    (
        calibrate,
        ["market_data=synthetic", "market_data.kpis.us.advocacy.sd=inf"],
        "config error: market_data.kpis.us.advocacy.sd = inf: input should be a finite number",
    ),
    (
        calibrate,
        ["market_data=synthetic", "market_data.kpis.us.advocacy.sd=1e-300"],
        "config error: market_data.kpis.us.advocacy.sd = 1e-300: input should be greater than or equal to 0.000001",
    ),
    (
        calibrate,
        ["market_data=synthetic", "+market_data.free.progress=[0,1]"],
        "config error: market_data.free.progress: 'progress' is not a parameter of the market (it only shows",
    ),
    (
        calibrate,
        ["market_data=synthetic", "--sampler", "redis", "--redis", "localhost:abc"],
        "argument error: --redis = localhost:abc: allowed: host:port, an integer port 1 ≤ port ≤ 65535",
    ),
    (
        calibrate,
        ["market_data=synthetic", "--redis", "localhost:6379"],
        "argument error: --redis = localhost:6379: only with --sampler redis",
    ),
]


@pytest.mark.parametrize(
    "module, argv, expected",
    ANALYSES_BAD,
    ids=[f"{m.__name__.split('.')[-1]} {' '.join(a)}" for m, a, _ in ANALYSES_BAD],
)
def test_analysis_bad_input_is_one_line_and_writes_nothing(module, argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert stops(module.main, argv, capsys).startswith(expected)
    assert written(tmp_path) == []


def test_bench_repeat_keeps_the_run_of_median_time(tmp_path, monkeypatch, capsys):
    """`--repeat 3`: each case runs three times and the table keeps the run of median time."""
    row = {"engine": "compiled", "threads": 1, "import_s": 0.1, "customers": 100, "edges": 400, "steps": 2}
    row |= {"setup_s": 0.1, "first_week_s": 0.1, "wall_s": 0.3, "s_per_step": 0.1}
    row |= {"customer_steps_per_s": 1000.0, "peak_mb": 100.0}
    times = iter([9.0, 3.0, 1.0, 2.0])  # the kernels loaded once first, then the case three times
    monkeypatch.setattr(bench, "measure", lambda *a, **k: {**row, "run_s": next(times)})
    out = tmp_path / "bench"
    argv = ["--sizes", "100", "--agents-sizes", "--steps", "2", "--repeat", "3"]
    bench.main([*argv, "--out", str(out)])
    table = pd.read_csv(next(out.glob("*/bench.csv")))
    assert table.run_s.tolist() == [2.0] and table.repeats.tolist() == [3]
    assert stops(bench.main, ["--repeat", "0"], capsys).startswith("argument error: --repeat = 0: allowed:")


def test_bench_with_threads_but_no_one_thread_case_summarises(tmp_path, monkeypatch, capsys):
    """`--threads 2` alone (the 1M x 520 weeks figure) has no one-thread row to divide by: no crash."""
    row = {"engine": "compiled", "threads": 2, "import_s": 0.1, "customers": 100, "edges": 400, "steps": 2}
    row |= {"setup_s": 0.1, "first_week_s": 0.1, "run_s": 0.1, "wall_s": 0.3, "s_per_step": 0.1}
    row |= {"customer_steps_per_s": 1000.0, "peak_mb": 100.0}
    monkeypatch.setattr(bench, "measure", lambda *a, **k: dict(row))
    out = tmp_path / "bench"
    argv = ["--sizes", "100", "--threads", "2", "--agents-sizes", "--steps", "2"]
    bench.main([*argv, "--out", str(out)])
    assert "written:" in capsys.readouterr().out
    assert len(list(out.glob("*/bench.csv"))) == 1


# --- keys that are not parameters of the market; what-if scenarios; --out ----------------------------

REFUSED = [
    (
        whatif,
        ["seed=5"],
        "config error: change seed=5: 'seed' is not a parameter of the market (the seeds are the replicates: --seeds)",
    ),
    (
        whatif,
        ["steps=10"],
        "config error: change steps=10: 'steps' is not a parameter of the market "
        "(the weeks simulated are the horizon: --weeks)",
    ),
    (whatif, ["firms.giving.price=9", "--base", "seed=3"], "config error: --base seed=3: 'seed' is not a parameter"),
    (whatif, ["--changes", "seed.yaml"], "config error: --changes seed.yaml: a: seed=3: 'seed' is not a parameter"),
    (whatif, ["hydra.launcher.n_jobs=2"], "config error: change hydra.launcher.n_jobs=2: 'hydra' is not a parameter"),
    (whatif, ["--changes", "empty.yaml"], "argument error: --changes = empty.yaml: no scenario in it"),
    (
        whatif,
        ["--changes", "baseline.yaml"],
        "argument error: --changes baseline.yaml: baseline: 'baseline' names the unchanged world; allowed: any other",
    ),
    (whatif, ["market.reach=0.1", "--name", "baseline"], "argument error: --name = baseline: 'baseline' names the"),
    (whatif, ["--changes", "nochange.yaml"], "argument error: --changes nochange.yaml: a: no overrides; allowed:"),
    (
        whatif,
        ["market.reach=0.2", "--name", "a", "--changes", "a.yaml"],
        "argument error: --changes = a.yaml: scenario",
    ),
    (
        whatif,
        ["market.reach=0.2", "--base", "x=1", "--calibration", "."],
        "argument error: --base: only for the default",
    ),
    (
        pairing,
        ["seed=3"],
        "config error: change seed=3: 'seed' is not a parameter of the market (the seeds are the replicates: --seeds)",
    ),
    (
        pairing,
        ["+engine=agents"],
        "config error: change +engine=agents: 'engine' is not a parameter of the market (both engines give the same",
    ),
    (pairing, ["market.reach=0.2", "--base", "steps=10"], "config error: --base steps=10: 'steps' is not a parameter"),
    (
        pairing,
        ["market.reach=0.2", "--out", "file.txt"],
        "argument error: --out = file.txt: file.txt is a file; allowed",
    ),
    (
        pairing,
        ["market.reach=0.2", "--out", "file.txt/sub"],
        "argument error: --out = file.txt/sub: file.txt is a file",
    ),
    (validate, ["coverage", "--out", "file.txt"], "argument error: --out = file.txt: file.txt is a file; allowed"),
    (
        discover,
        ["--param", "seed=0:100"],
        "config error: --param seed=0:100: 'seed' is not a parameter of the market "
        "(the seeds are the replicates: --replicates)",
    ),
    (discover, ["--param", "engine=agents,compiled"], "config error: --param engine=agents,compiled: 'engine' is not"),
    (
        sensitivity,
        ["--param", "progress=0:1"],
        "config error: --param progress=0:1: 'progress' is not a parameter of the market (it only shows a progress bar)",
    ),
    (sensitivity, ["--params", "free.yaml"], "config error: --params free.yaml: seed: 'seed' is not a parameter"),
    (sensitivity, ["--param", "design_row=0:3"], "config error: --param design_row=0:3: 'design_row' is not a"),
    (
        sensitivity,
        ["--name", "x" * 250],
        f"argument error: --name = {'x' * 250}: too long for the folder sensitivity-<name>; allowed: at most 243",
    ),
    (
        discover,
        ["--name", "x" * 250],
        f"argument error: --name = {'x' * 250}: too long for the folder discover-<name>; allowed: at most 246",
    ),
    (
        influence,
        ["--name", "x" * 240],
        f"argument error: --name = {'x' * 240}: too long for the folder sensitivity-<name>-morris; allowed: at most 236",
    ),
    (
        influence,
        ["--trajectories", "1"],
        "argument error: --trajectories = 1: allowed: 0 (no Morris screening), or an integer, 2 ≤ value ≤ 10000",
    ),
    (influence, ["--n", "10"], "config error: network.mean_degree = 10: allowed: 0 ≤ value < customers.n (10)"),
    (influence, ["--morris-n", "10"], "config error: network.mean_degree = 10: allowed: 0 ≤ value < customers.n (10)"),
]
REFUSED_INPUTS = {
    "seed.yaml": "a: [seed=3]\n",
    "empty.yaml": "",
    "baseline.yaml": "baseline: [firms.giving.price=9]\n",
    "nochange.yaml": "a: []\n",
    "a.yaml": "a: [market.reach=0.1]\n",
    "free.yaml": "seed: [0, 9]\n",
    "file.txt": "not a folder\n",
}


@pytest.mark.parametrize(
    "module, argv, expected",
    REFUSED,
    ids=[f"{m.__name__.split('.')[-1]} {' '.join(a)}" for m, a, _ in REFUSED],
)
def test_refused_before_any_run_in_one_line(module, argv, expected, tmp_path, monkeypatch, capsys):
    """A key that is not a parameter of the market, a scenario that is no change, an --out that is a file."""
    from sim.calibration import coverage
    from sim.calibration import whatif as wi

    monkeypatch.chdir(tmp_path)
    for name, text in REFUSED_INPUTS.items():
        (tmp_path / name).write_text(text)
    for owner, name in ((wi, "run"), (pairing, "measure"), (sensitivity, "run_sweep"), (coverage, "recover")):
        monkeypatch.setattr(owner, name, lambda *a, **k: pytest.fail("a run started"))
    assert stops(module.main, argv, capsys).startswith(expected)
    assert written(tmp_path, *REFUSED_INPUTS) == []


# --- python -m sim.whatif on a damaged calibration folder -----------------------------------------


@pytest.fixture
def calibration_folder(tmp_path):
    """A finished calibration of the synthetic card as ``sim.calibrate`` leaves it (its posterior made up)."""
    import dataclasses

    import numpy as np

    from sim.calibration.card import load_card, priors

    card = load_card("synthetic")
    folder = tmp_path / "calibration"
    folder.mkdir()
    (folder / "card.json").write_text(json.dumps(dataclasses.asdict(card), indent=1))
    post = pd.DataFrame({p.key: np.linspace(p.low, p.high, 4) for p in priors(card)}).assign(weight=0.25)
    post.to_parquet(folder / "posterior.parquet", index=False)
    (folder / "report.md").write_text("# a calibration\n")
    return folder


def _posterior(change):
    def damage(folder: Path) -> None:
        path = folder / "posterior.parquet"
        change(pd.read_parquet(path)).to_parquet(path, index=False)

    return damage


def _cut(name: str, keep: int):
    def damage(folder: Path) -> None:
        (folder / name).write_bytes((folder / name).read_bytes()[:keep])

    return damage


POSTERIOR_DAMAGE = {
    "cut short": (_cut("posterior.parquet", 300), "posterior.parquet: not a Parquet file (damaged or cut short)"),
    "empty": (_cut("posterior.parquet", 0), "posterior.parquet: not a Parquet file (damaged or cut short)"),
    "no particles": (_posterior(lambda p: p.iloc[:0]), "posterior.parquet: no particles"),
    "NaN weights": (_posterior(lambda p: p.assign(weight=float("nan"))), "posterior.parquet: weight: a value that"),
    "no weights": (_posterior(lambda p: p.drop(columns="weight")), "posterior.parquet: no weight column (expected: "),
    "extra column": (_posterior(lambda p: p.assign(seed=3)), "posterior.parquet: column seed: not a free parameter"),
    "negative weight": (
        _posterior(lambda p: p.assign(weight=[-0.25, 0.5, 0.5, 0.25])),
        "posterior.parquet: weight: allowed: weights ≥ 0 with a positive sum",
    ),
    "outside the prior": (
        _posterior(lambda p: p.assign(**{"market.reach": 0.5})),
        "posterior.parquet: market.reach: values outside its prior range [0.0, 0.2]",
    ),
    "weights as text": (
        _posterior(lambda p: p.assign(weight=p.weight.astype(str))),
        "posterior.parquet: weight: a value that is not a finite number",
    ),
    "values as text": (
        _posterior(lambda p: p.assign(**{"market.reach": p["market.reach"].astype(str)})),
        "posterior.parquet: market.reach: a value that is not a finite number",
    ),
    "card cut short": (_cut("card.json", 200), "card.json: not valid JSON ("),
    "card edited": (
        lambda f: (f / "card.json").write_text((f / "card.json").read_text().replace('"seeds": 1', '"seeds": 0')),
        "card.json: market_data.seeds = 0: input should be greater than or equal to 1",
    ),
}


@pytest.mark.parametrize("damage, expected", POSTERIOR_DAMAGE.values(), ids=POSTERIOR_DAMAGE)
def test_whatif_on_a_damaged_calibration_is_one_line(
    calibration_folder, damage, expected, tmp_path, monkeypatch, capsys
):
    from sim.calibration import whatif as wi

    monkeypatch.setattr(wi, "run", lambda *a, **k: pytest.fail("a run started"))
    damage(calibration_folder)
    argv = ["firms.us.price=9", "--calibration", str(calibration_folder), "--results-dir", str(tmp_path / "results")]
    line = stops(whatif.main, argv, capsys)
    assert line.startswith(f"argument error: --calibration = {calibration_folder}: {expected}")
    assert not (tmp_path / "results").exists()


def test_whatif_reads_a_sound_calibration_as_written(calibration_folder):
    card, post = whatif.calibration(calibration_folder)
    assert card.name == "synthetic"
    pd.testing.assert_frame_equal(post, pd.read_parquet(calibration_folder / "posterior.parquet"))


# --- python -m sim.calibrate: one launch at a time, a damaged history, a full disk, no Redis ----------

CALIBRATE = ["market_data=synthetic", "--population", "10", "--predictive", "2", "--jobs", "1", "--no-progress"]
CALIBRATE += ["--design", "20"]  # a small emulator: the history's errors are the same on it


@pytest.fixture
def instant_market(monkeypatch):
    """The card's market simulated at once: its KPIs as observed, moved by the parameters' distances from the
    middle of their priors (several observation sds apart, so the fit takes every generation planned); the
    plots left blank."""
    pytest.importorskip("pyabc")
    from sim.calibration import inference, report
    from sim.calibration.card import observed, priors, uncertainty

    def simulate(card, params):
        off = sum((params[p.key] - p.low) / (p.high - p.low) - 0.5 for p in priors(card))
        sd = uncertainty(card)
        return {key: value + 10 * sd[key] * off for key, value in observed(card).items()}

    monkeypatch.setattr(inference, "simulate", simulate)
    for plot in ("pairs_plot", "kpi_plot"):
        monkeypatch.setattr(report, plot, lambda *args: args[-1].write_bytes(b""))


def generations(folder: Path) -> list[int]:
    import pyabc

    pops = pyabc.History(f"sqlite:///{folder / 'history.db'}").get_all_populations()
    return sorted(pops[pops.t >= 0].t)


def test_calibrate_while_the_same_calibration_runs_stops_naming_it(instant_market, tmp_path, capsys):
    import socket

    from sim.runs.claims import claim, claim_path

    argv = [*CALIBRATE, "--generations", "2", "--results-dir", str(tmp_path)]
    a, card = calibrate.parse(argv)
    root, key = tmp_path / "calibration" / "synthetic", calibrate.fingerprint(card, a)
    running = root / "2030-01-01_00-00-00"
    running.mkdir(parents=True)
    (running / "fingerprint").write_text(key)
    with claim(root / key):  # held, as by the process running that calibration
        line = stops(calibrate.main, argv, capsys, code=1)
    assert line == (
        f"error: this calibration is already running in {running} (pid {os.getpid()} on {socket.gethostname()}); "
        "wait for it to finish, or stop it and run this again to continue it"
    )
    assert sorted(p.name for p in running.iterdir()) == ["fingerprint"]
    # a claim left by a process that died (its file, not its lock) does not block: the calibration continues
    claim_path(root / key).write_text(json.dumps({"host": "elsewhere", "pid": 2**22 + 1}))
    calibrate.main(argv)
    assert f"continuing: {running}" in capsys.readouterr().out
    assert (running / "report.md").is_file() and generations(running) == [0, 1]
    assert not claim_path(root / key).exists()


HISTORY_DAMAGE = {
    "zero bytes": (_cut("history.db", 0), None),  # nothing recorded yet: it starts again
    "cut short": (_cut("history.db", 20_000), "database disk image is malformed (damaged or cut short)"),
    "not a database": (
        lambda folder: (folder / "history.db").write_bytes(b"sqlite? no" * 1000),
        "file is not a database (damaged or cut short)",
    ),
}


@pytest.mark.parametrize("damage, why", HISTORY_DAMAGE.values(), ids=HISTORY_DAMAGE)
def test_calibrate_continuing_a_damaged_history(instant_market, damage, why, tmp_path, capsys):
    argv = [*CALIBRATE, "--results-dir", str(tmp_path)]
    calibrate.main([*argv, "--generations", "1"])
    (folder,) = (tmp_path / "calibration" / "synthetic").iterdir()
    (folder / "report.md").unlink()  # as if stopped before it finished
    db = folder / "history.db"
    damage(folder)
    capsys.readouterr()
    if why is None:
        calibrate.main([*argv, "--generations", "2"])
        assert (folder / "report.md").is_file() and generations(folder) == [0, 1]
        return
    line = stops(calibrate.main, [*argv, "--generations", "2"], capsys, code=1)
    assert line == f"error: reading {db}: {why}: move {folder} away to start again"
    assert not (folder / "report.md").exists()


def test_calibrate_on_a_full_disk_is_one_line_and_a_rerun_continues(instant_market, tmp_path, monkeypatch, capsys):
    import sqlite3

    from sqlalchemy.engine.default import DefaultDialect

    real = DefaultDialect.do_execute

    def full(self, cursor, statement, parameters, context=None):  # SQLite's own error when the disk is full
        if statement.lstrip().upper().startswith("INSERT INTO SAMPLES"):
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, cursor, statement, parameters, context)

    argv = [*CALIBRATE, "--generations", "2", "--results-dir", str(tmp_path)]
    with monkeypatch.context() as disk:
        disk.setattr(DefaultDialect, "do_execute", full)
        line = stops(calibrate.main, argv, capsys, code=1)
    (folder,) = (tmp_path / "calibration" / "synthetic").iterdir()
    assert (
        line
        == f"error: writing {folder / 'history.db'}: database or disk is full; run the same command again to continue"
    )
    assert not (folder / "report.md").exists()
    calibrate.main(argv)
    assert (folder / "report.md").is_file() and generations(folder) == [0, 1]


def test_calibrate_without_its_redis_server_is_one_line_and_writes_nothing(tmp_path, capsys):
    import socket

    pytest.importorskip("redis")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [
        "market_data=synthetic",
        "--sampler",
        "redis",
        "--redis",
        f"localhost:{port}",
        "--results-dir",
        str(tmp_path),
    ]
    line = stops(calibrate.main, argv, capsys, code=1)
    assert line == f"error: the Redis server at localhost:{port} (--redis): connection refused"
    assert written(tmp_path) == []


@pytest.mark.slow
def test_two_launches_of_one_calibration_and_a_killed_one(tmp_path):
    """The second launch stops while the first runs; a killed first one's claim blocks nothing; no generation twice."""
    args = ["market_data=synthetic", "market_data.customers=300", "market_data.weeks=104", "market_data.seeds=1"]
    args += ["--population", "10", "--generations", "2", "--predictive", "2", "--jobs", "2", "--no-progress"]
    args += ["--design", "20"]
    args += ["--results-dir", str(tmp_path)]
    command = [sys.executable, "-m", "sim.calibrate", *args]
    # in a session of its own, so that killing it kills its helper processes too (the process pools' resource
    # trackers would otherwise outlive it, holding its output open); its output to a file all the same
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    root = tmp_path / "calibration" / "synthetic"
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.read_text() for p in root.glob(".*.claim")):
        time.sleep(0.1)
    while time.time() < deadline and not list(root.glob("*/history.db")):
        time.sleep(0.1)
    second = run("sim.calibrate", *args, cwd=ROOT, timeout=300)
    assert second.returncode == 1
    (folder,) = [p for p in root.iterdir() if not p.name.startswith(".")]
    assert one_line(second.stderr).startswith(
        f"error: this calibration is already running in {folder} (pid {first.pid} on "
    )
    os.killpg(first.pid, signal.SIGKILL)  # the launch and every process it started, as a crash of its machine
    first.wait(timeout=60)
    log.close()
    third = run("sim.calibrate", *args, cwd=ROOT, timeout=900)
    assert third.returncode == 0, third.stderr
    assert f"continuing: {folder}" in third.stdout
    assert (folder / "report.md").is_file() and generations(folder) == [0, 1]
