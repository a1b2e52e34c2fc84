"""A release researchers can cite, archive and rerun: one version, provenance, licence, citation, lock files,
container definition, and ``python -m sim.validate release``."""

import importlib.metadata
import shutil
import subprocess
import tomllib

import pytest
from conftest import ROOT

import sim
from sim import provenance

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
