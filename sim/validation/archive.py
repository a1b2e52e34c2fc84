"""A release's archive, in the layout the CoMSES Net model library asks for (``python -m sim.validate release
--archive DIR``):

    DIR/README.md, LICENSE, CITATION.cff, CHANGELOG.md
    DIR/code/               the whole project as committed: package, conf, experiments, tests, pyproject.toml,
                            lock files, container; the README's commands set it up and rerun it there
    DIR/docs/               the ODD description, the validation and their figures
    DIR/results/README.md   the commands that remake the README's findings (the model ships no data)

From a git checkout the code is the commit (``git archive HEAD``): nothing uncommitted or untracked slips in.
Elsewhere (an archive's own ``code/``) it is the folder, less virtualenvs, caches and results.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from .. import __version__
from ..runs.errors import Failure, failing_as, one_line
from ..runs.results import atomic_folder

TOP = ("README.md", "LICENSE", "CITATION.cff", "CHANGELOG.md")
NOT_SOURCE = (".git", ".venv", "venv", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", ".hypothesis")
NOT_SOURCE_AT_TOP = {"results", "outputs", "multirun", "build"}  # what runs write, not what makes them


def findings_commands(readme: str) -> list[str]:
    """The commands of the ```bash blocks in the README's Findings section (its subsections included), one per
    line, a line continued by a backslash joined to the next."""
    section = re.search(r"^## Findings\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    blocks = re.findall(r"^```bash\n(.*?)^```", section[1] if section else "", re.M | re.S)
    joined = [re.sub(r"\\\n\s*", "", block) for block in blocks]
    return [ln.strip() for block in joined for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def results_readme(commands: list[str], commit: str | None) -> str:
    made = f"loyalty-sim {__version__}" + (f", commit {commit}" if commit else "")
    setup = (
        "python -m venv .venv && .venv/bin/pip install -r requirements/test.txt && "
        ".venv/bin/pip install -e . --no-deps && . .venv/bin/activate"
    )
    return (
        f"# Results\n\n{made}.\n\n"
        "The model ships no data: every figure in README.md's Findings is remade by running it. Set up `code/` once\n"
        "with the locked environment (Python 3.12 on Linux x86_64; or use the container in `code/container/`):\n\n"
        f"```bash\ncd code && {setup}\n```\n\n"
        "then run these from `code/` (seeds are fixed; each writes under `results/`):\n\n"
        "```bash\n" + "\n".join(commands) + "\n```\n\n"
        "Figures whose command README.md gives inline, beside the figure, are remade the same way.\n"
    )


def _from_git(root: Path, code: Path) -> None:
    try:
        done = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=root, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as err:
        raise Failure(f"error: git archive HEAD in {root.resolve()}: {one_line(str(err))}") from err
    if done.returncode != 0:
        said = one_line(done.stderr.decode(errors="replace")) or f"exit code {done.returncode}"
        raise Failure(f"error: git archive HEAD in {root.resolve()}: {said}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(code, filter="data")


def _from_folder(root: Path, code: Path, dest: Path) -> None:
    anywhere = shutil.ignore_patterns(*NOT_SOURCE)
    archives = {code.parent.resolve(), dest.resolve()}  # the archive may be written inside the folder it copies

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = NOT_SOURCE_AT_TOP if Path(folder).resolve() == root.resolve() else set()
        inside = {name for name in names if (Path(folder) / name).resolve() in archives}
        return set(anywhere(folder, names)) | (top & set(names)) | inside

    shutil.copytree(root, code, ignore=ignore)


def write(root: Path, dest: Path, commit: str | None) -> Path:
    """Write the archive of the project at ``root`` to ``dest`` (made whole, then renamed); the folder written."""
    with failing_as("writing", dest), atomic_folder(dest) as staged:
        code = staged.tmp / "code"
        if commit:
            _from_git(root, code)
        else:
            _from_folder(root, code, dest)
        for name in TOP:
            shutil.copy2(code / name, staged.tmp / name)
        shutil.copytree(code / "docs", staged.tmp / "docs")
        (staged.tmp / "results").mkdir()
        commands = findings_commands((code / "README.md").read_text())
        (staged.tmp / "results" / "README.md").write_text(results_readme(commands, commit))
    return staged.final
