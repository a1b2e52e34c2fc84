"""Which model made a result: the package version and the git commit it runs from.

``describe()`` is ``{"version": "0.2.0", "commit": "<40 hex digits>[-dirty]" or None}``. The commit is
asked of git only where the package is the checkout's own ``sim/`` (an editable install or a run from
the project folder); a copy installed elsewhere, a missing git or any git failure gives None. Nothing
here raises or prints: provenance must never stop a run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import __version__

PACKAGE = Path(__file__).resolve().parent
TIMEOUT = 10  # seconds; a hung git (a stale lock on a network disk) must not hold a run


def version() -> str:
    """The package version (``sim.__version__``, which pyproject also reads)."""
    return __version__


def _git(*args: str, cwd: Path) -> str | None:
    """git's output, or None when git is missing, fails or hangs."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}  # a read-only look: never take the index lock
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit(package: Path = PACKAGE) -> str | None:
    """The checkout's HEAD commit, ``-dirty`` when tracked files have uncommitted changes; else None."""
    top = _git("rev-parse", "--show-toplevel", cwd=package)
    # A package installed into a venv that lies inside some checkout is not that checkout's code.
    if not top or Path(top).resolve() != package.parent:
        return None
    if _git("ls-files", "--error-unmatch", "--", f"{package.name}/__init__.py", cwd=package.parent) is None:
        return None
    head = _git("rev-parse", "--verify", "HEAD^{commit}", cwd=package.parent)
    if not head:
        return None  # a repository without commits
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=package.parent)
    if status is None:
        return None
    return f"{head}-dirty" if status else head


def describe() -> dict[str, str | None]:
    """``{"version", "commit"}``: what a result needs to say which model made it."""
    return {"version": version(), "commit": commit()}


def made_by() -> str:
    """``made by loyalty-sim 0.3.0 (commit 1a2b3c4d5e6f)``: for a report's reader."""
    found = describe()
    commit = found["commit"]
    return f"made by loyalty-sim {found['version']}" + (
        f" (commit {commit[:12]}{'-dirty' if commit.endswith('-dirty') else ''})" if commit else ""
    )
