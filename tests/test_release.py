"""A release researchers can cite, archive and rerun: one version, provenance, licence, citation, lock files,
container definition, and ``python -m sim.validate release``."""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from test_launchers import KEYS, SWEEP, assert_same, basic, slurm  # noqa: F401 (fixtures, used by name)

import sim
from sim import provenance, validate
from sim.validation import archive, release

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def git(cwd, *args: str) -> str:
    who = ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *who, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A git checkout holding a package ``pkg`` (committed) and a README."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("hello\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


# --- one version ---------------------------------------------------------------------------------


def test_the_version_is_written_once():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "sim.__version__"}
    assert importlib.metadata.version("loyalty-sim") == sim.__version__ == provenance.version()


def test_the_version_is_semantic():
    major, minor, patch = sim.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


# --- provenance ----------------------------------------------------------------------------------


@needs_git
def test_commit_is_head_and_dirty_when_tracked_files_change(checkout):
    head = git(checkout, "rev-parse", "HEAD")
    assert provenance.commit(checkout / "pkg") == head
    (checkout / "notes.txt").write_text("untracked files do not make a checkout dirty\n")
    assert provenance.commit(checkout / "pkg") == head
    (checkout / "README.md").write_text("changed\n")
    assert provenance.commit(checkout / "pkg") == f"{head}-dirty"
    git(checkout, "add", "README.md")
    assert provenance.commit(checkout / "pkg") == f"{head}-dirty"  # staged, not committed


@needs_git
def test_no_commit_outside_a_checkout_of_the_package(checkout, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("installed") / "pkg"
    elsewhere.mkdir()
    assert provenance.commit(elsewhere) is None
    # Installed into a venv inside a checkout: the checkout is not the package's source.
    inside = checkout / ".venv" / "lib" / "site-packages" / "pkg"
    inside.mkdir(parents=True)
    (inside / "__init__.py").write_text("x = 1\n")
    assert provenance.commit(inside) is None


@needs_git
def test_no_commit_in_a_repository_without_commits(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    assert provenance.commit(tmp_path / "pkg") is None


def test_no_git_means_no_commit_and_no_noise(checkout, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(checkout / "nowhere"))
    assert provenance.commit(checkout / "pkg") is None
    assert provenance.describe() == {"version": sim.__version__, "commit": None}
    assert capsys.readouterr() == ("", "")


def test_a_failing_git_is_none(monkeypatch):
    def hangs(*args, **kwargs):
        raise subprocess.TimeoutExpired("git", provenance.TIMEOUT)

    monkeypatch.setattr(subprocess, "run", hangs)
    assert provenance.commit() is None


@needs_git
def test_describe_names_this_checkouts_commit():
    if provenance.PACKAGE.parent != ROOT or not (ROOT / ".git").exists():
        pytest.skip("the package does not run from this checkout")
    described = provenance.describe()
    assert described["version"] == sim.__version__
    assert described["commit"].removesuffix("-dirty") == git(ROOT, "rev-parse", "HEAD")


# --- licence, citation, changelog ----------------------------------------------------------------


def test_licence_is_the_one_pyproject_names():
    assert release.licence(ROOT).ok
    assert importlib.metadata.metadata("loyalty-sim")["License-Expression"] == "MIT"
    assert "The loyalty-sim authors" in (ROOT / "LICENSE").read_text()


def test_citation_is_valid_cff_and_names_this_version():
    assert release.cff_errors(ROOT / "CITATION.cff") == []
    assert release.citation(ROOT).ok


def test_the_cff_schema_is_the_official_one():
    schema = release.cff_schema()
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    assert "cff-version" in schema["required"]


def test_an_invalid_citation_is_named(tmp_path):
    good = (ROOT / "CITATION.cff").read_text()
    (tmp_path / "CITATION.cff").write_text(good.replace('date-released: "2026-12-06"', "date-released: 6 Dec 2026"))
    assert [e for e in release.cff_errors(tmp_path / "CITATION.cff") if e.startswith("'date-released'")]
    (tmp_path / "CITATION.cff").write_text(good.replace("authors:", "writers:"))
    assert "'(top)': 'authors' is a required property" in release.cff_errors(tmp_path / "CITATION.cff")


def test_every_changelog_entry_says_which_model_numbers_moved():
    text = (ROOT / "CHANGELOG.md").read_text()
    entries = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert entries[0] == "Unreleased" and sim.__version__ in entries and "0.1.0" in entries
    for version in entries:
        assert "### Model numbers" in release.changelog_entry(text, version), version
    assert release.changelog(ROOT).ok


# --- lock files ----------------------------------------------------------------------------------


def test_lock_files_pin_every_dependency_for_the_base_and_each_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(release.install_sets(ROOT)) == {"base", "all", *extras}
    problems, named = release.lock_problems(ROOT)
    assert problems == [] and named > 20


def test_lock_files_agree_and_bring_no_torch():
    versions: dict[str, set[str]] = {}
    for path in (ROOT / "requirements").glob("*.txt"):
        for name, version in release.pins(path).items():
            versions.setdefault(name, set()).add(version)
        assert "--hash=sha256:" in path.read_text()
    assert {name: v for name, v in versions.items() if len(v) > 1} == {}
    assert not {"torch", "tensorflow", "jax"} & set(versions)


@pytest.fixture
def project(tmp_path):
    """A copy of what the release checks read."""
    for name in ("pyproject.toml", "LICENSE", "CITATION.cff", "CHANGELOG.md", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("requirements", "docs", "tests/baseline"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "sim").mkdir()
    shutil.copy(ROOT / "sim" / "__init__.py", tmp_path / "sim" / "__init__.py")
    return tmp_path


def test_a_dependency_missing_from_a_lock_is_named(project):
    lock = project / "requirements" / "cluster.txt"
    lock.write_text(re.sub(r"^submitit==.*$", "", lock.read_text(), flags=re.M))
    text = (project / "pyproject.toml").read_text().replace('"numpy>=2.0"', '"numpy>=3"')
    (project / "pyproject.toml").write_text(text)
    (project / "requirements" / "discover.txt").unlink()
    problems, _ = release.lock_problems(project)
    assert "requirements/discover.txt missing" in problems
    assert any(p.startswith("requirements/base.txt pins numpy==") and p.endswith("outside >=3") for p in problems)
    assert not [p for p in problems if "submitit" in p]  # submitit comes with a launcher: pyproject does not name it
    text = text.replace('"hydra-submitit-launcher>=1.2"', '"hydra-submitit-launcher>=1.2", "submitit>=1"')
    (project / "pyproject.toml").write_text(text)
    assert "requirements/cluster.txt does not pin submitit" in release.lock_problems(project)[0]
    assert release.locks(project).detail.endswith("refresh them: bash experiments/lock.sh")


def test_ci_installs_from_the_lock_files_and_one_command_refreshes_them():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -r requirements/test.txt" in ci and "-e . --no-deps" in ci
    assert 'pip install -q -e ".[' not in ci
    lock = ROOT / "experiments" / "lock.sh"
    assert lock.stat().st_mode & 0o111 and '"$uv" pip compile' in lock.read_text()
    subprocess.run(["bash", "-n", str(lock)], check=True)


# --- container (no engine or Apptainer on CI machines: the definitions are checked, not built) ----------


def sections(definition: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """An Apptainer definition's header (``Bootstrap``, ``From``) and its ``%sections``' lines."""
    header, body, current = {}, {}, None
    for line in definition.splitlines():
        if line.startswith("%"):
            current = line[1:].split()[0]
            body[current] = []
        elif current is not None:
            body[current].append(line.strip())
        elif ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            header[key.strip()] = value.strip()
    return header, body


def lock_files_installed(script: str) -> set[str]:
    return set(re.findall(r"-r /opt/loyalty-sim/(requirements/\w+\.txt)", script))


def test_apptainer_definition_builds_the_locked_environment():
    header, body = sections((ROOT / "container" / "loyalty-sim.def").read_text())
    assert header == {"Bootstrap": "docker", "From": "python:3.12-slim-bookworm"}
    assert {"files", "post", "environment", "help", "labels", "test", "runscript"} <= set(body)
    copied = [line.split() for line in body["files"] if line]
    assert all(len(pair) == 2 for pair in copied)
    missing = [src for src, _ in copied if not (ROOT / src).exists()]
    assert missing == []
    assert {src for src, _ in copied} >= {"pyproject.toml", "README.md", "LICENSE", "sim", "conf", "requirements"}
    commands = "\n".join(body["post"]).replace("\\\n", " ").splitlines()  # continued lines joined
    installed = lock_files_installed("\n".join(commands))
    assert installed and all((ROOT / path).is_file() for path in installed)
    # Every pip install is from the lock files, or the project itself without dependencies.
    for command in [c for c in commands if "pip install" in c]:
        assert "-r /opt/loyalty-sim/requirements/" in command or "--no-deps" in command, command
    assert any("export PATH=/opt/venv/bin:$PATH" in line for line in body["environment"])


def test_dockerfile_matches_the_definition():
    dockerfile = (ROOT / "container" / "Dockerfile").read_text()
    _, body = sections((ROOT / "container" / "loyalty-sim.def").read_text())
    assert re.search(r"^FROM python:3.12-slim-bookworm$", dockerfile, re.M)
    sources = [s for line in re.findall(r"^COPY (.*) \S+$", dockerfile, re.M) for s in line.split()]
    assert sources and [s for s in sources if not (ROOT / s).exists()] == []
    assert lock_files_installed(dockerfile) == lock_files_installed(" ".join(body["post"]))
    assert "pip install --no-deps -e /opt/loyalty-sim" in dockerfile


def test_sweep_script_runs_a_sweep_through_the_image():
    script = ROOT / "container" / "sweep.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert 'apptainer exec "$image" python -m sim -m "$@"' in script.read_text()


@pytest.mark.slow
def test_array_tasks_of_the_sweep_script_share_one_sweep(basic, slurm, tmp_path):  # noqa: F811 (the fixtures)
    """container/sweep.sbatch as a two-task array on the one-node SLURM, with a stand-in for apptainer (CI machines
    have none) that runs the command here: the tasks share the sweep, whose runs are the basic launcher's."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "apptainer").write_text('#!/bin/sh\n[ "$1" = exec ] || exit 2\nshift 2\nexec "$@"\n')
    (shim / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    for tool in shim.iterdir():
        tool.chmod(0o755)
    (tmp_path / "loyalty-sim.sif").write_text("")
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    sbatch = ["sbatch", "--wait", "--array=0-1", f"--chdir={tmp_path}", str(ROOT / "container" / "sweep.sbatch")]
    proc = subprocess.run([*sbatch, *SWEEP], env=env, capture_output=True, text=True, timeout=900)
    logs = "".join(p.read_text() for p in tmp_path.glob("slurm-*.out"))
    assert proc.returncode == 0, proc.stderr + logs[-3000:]
    assert len(list(tmp_path.glob("slurm-*_[01].out"))) == 2
    (sweep,) = [p for p in (tmp_path / "results" / "giving_vs_taking").iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in sweep.iterdir()) == KEYS
    assert_same(basic, {key: pd.read_parquet(sweep / key / "timeseries.parquet") for key in KEYS})


# --- python -m sim.validate release ----------------------------------------------------------------


@pytest.fixture
def quick(monkeypatch):
    """The regression baseline taken as matching (its own test runs it): the rest of the checklist is fast."""
    monkeypatch.setattr(release.baseline, "compare", lambda path: None)


def test_a_complete_release_passes(project, quick, monkeypatch, capsys):
    monkeypatch.chdir(project)
    validate.main(["release"])
    out = capsys.readouterr().out
    assert out.count("  [x] ") == len(release.CHECKS) and "  [ ] " not in out
    assert out.splitlines()[-1] == f"release {sim.__version__} complete"


@pytest.mark.parametrize(
    "breaks, failed",
    [
        (lambda p: (p / "LICENSE").unlink(), "licence"),
        (
            lambda p: (p / "CITATION.cff").write_text(
                read(p / "CITATION.cff").replace(f'"{sim.__version__}"', '"0.1.9"')
            ),
            "citation",
        ),
        (lambda p: (p / "docs" / "ODD.md").write_text("# Model\n## Purpose\n"), "ODD"),
        (lambda p: (p / "CHANGELOG.md").write_text("# Changelog\n## [Unreleased]\n"), "changelog"),
        (lambda p: (p / "requirements" / "test.txt").unlink(), "lock files"),
        (lambda p: (p / "tests" / "baseline" / "summary_metrics.csv").unlink(), "baseline"),
    ],
    ids=["licence", "citation", "odd", "changelog", "locks", "baseline"],
)
def test_an_incomplete_release_fails_naming_what_is_missing(project, quick, monkeypatch, capsys, breaks, failed):
    breaks(project)
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as stopped:
        validate.main(["release"])
    assert stopped.value.code == 1
    captured = capsys.readouterr()
    assert captured.err == f"release {sim.__version__} incomplete: {failed}\n"
    assert f"  [ ] {failed}: " in captured.out


def read(path):
    return path.read_text()


def test_outside_the_project_folder_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        validate.main(["release"])
    assert stopped.value.code == 1
    assert capsys.readouterr() == ("", f"error: {tmp_path}: no pyproject.toml; run from the project folder\n")


def test_bad_archive_arguments_are_one_line_and_write_nothing(project, quick, monkeypatch, capsys):
    monkeypatch.chdir(project)
    (project / "taken").mkdir()
    for argv, expected in [
        (["release", "--archive", "taken"], "argument error: --archive = taken: exists; allowed: a new folder"),
        (["release", "--nope"], "argument error: unrecognized arguments: --nope (allowed: --archive)"),
    ]:
        with pytest.raises(SystemExit) as stopped:
            validate.main(argv)
        assert stopped.value.code == 2 and capsys.readouterr().err.strip() == expected
    assert list((project / "taken").iterdir()) == []


@needs_git
def test_archive_is_the_commit_in_comses_layout(project, quick, monkeypatch, capsys):
    (project / ".venv").mkdir()
    (project / ".venv" / "junk").write_text("not source")
    (project / ".gitignore").write_text(".venv/\n")
    git(project, "init", "-q")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "release")
    (project / "untracked.txt").write_text("not committed")
    monkeypatch.chdir(project)
    validate.main(["release", "--archive", "out/loyalty-sim-0.2.0"])
    out = project / "out" / "loyalty-sim-0.2.0"
    assert capsys.readouterr().out.splitlines()[-1] == f"archive: {Path('out/loyalty-sim-0.2.0')}"
    assert sorted(p.name for p in out.iterdir()) == [
        "CHANGELOG.md", "CITATION.cff", "LICENSE", "README.md", "code", "docs", "results",
    ]  # fmt: skip
    for path in ("code/pyproject.toml", "code/sim/__init__.py", "code/requirements/test.txt", "docs/ODD.md"):
        assert (out / path).is_file(), path
    assert not (out / "code" / ".venv").exists() and not (out / "code" / "untracked.txt").exists()
    results = (out / "results" / "README.md").read_text()
    assert git(project, "rev-parse", "HEAD") in results
    assert "python -m sim -m 'seed=range(0,5)' && python -m sim.aggregate" in results
    assert "python -m sim.discover --launcher joblib --jobs 2" in results

    (project / "LICENSE").write_text((project / "LICENSE").read_text() + "\n")
    with pytest.raises(SystemExit) as stopped:
        validate.main(["release", "--archive", "out/again"])
    assert stopped.value.code == 2 and "uncommitted changes" in capsys.readouterr().err
    assert not (project / "out" / "again").exists()


def test_archive_outside_a_checkout_copies_the_folder_without_what_runs_leave(project, quick, monkeypatch, capsys):
    for leftover in (".venv/bin", "results/giving_vs_taking", "sim/__pycache__"):
        (project / leftover).mkdir(parents=True)
    monkeypatch.setattr(release.provenance, "commit", lambda package: None)
    monkeypatch.chdir(project)
    validate.main(["release", "--archive", "archive"])
    code = project / "archive" / "code"
    assert (code / "sim" / "__init__.py").is_file() and (code / "tests" / "baseline").is_dir()
    assert not [p for p in (".venv", "results", "sim/__pycache__", "archive") if (code / p).exists()]


def test_findings_commands_are_the_readmes():
    commands = archive.findings_commands((ROOT / "README.md").read_text())
    assert len(commands) >= 5 and all(c.startswith("python ") for c in commands)
    assert archive.findings_commands("# x\n## Findings\nnone\n## Layout\n```bash\nls\n```\n") == []
    assert archive.findings_commands("## Findings\n```bash\npython -m sim \\\n  seed=1\n```\n") == [
        "python -m sim seed=1"
    ]


@pytest.mark.slow
def test_this_checkout_is_a_complete_release(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sim.validate", "release"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == f"release {sim.__version__} complete"
