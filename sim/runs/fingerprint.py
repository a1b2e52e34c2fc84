"""A run is its configuration: what made a run folder, kept in it, compared before the run counts as done.

``fingerprint.json`` holds the run's settings (every key that can change a number: result-neutral keys left
out), a digest of the model's code (``sim/model/``: its rules, accounts and records), and, to say
which model made it, the package version and the git commit (``sim.provenance``). A sweep's run whose folder
holds another fingerprint is not the run asked for: ``differences`` names what differs, in one line.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from ..config import RESULT_NEUTRAL, Settings
from ..provenance import describe

FINGERPRINT = "fingerprint.json"
PACKAGE = Path(__file__).resolve().parent.parent
MODEL_CODE = ("model",)  # under the package: the code that decides a run's numbers (its settings are compared apart)


@functools.cache
def model_code() -> str:
    """A digest of the model's code: every file under ``sim/model/``, by path and content."""
    digest = hashlib.sha256()
    files = []
    for part in MODEL_CODE:
        path = PACKAGE / part
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for file in files:
        digest.update(file.relative_to(PACKAGE).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def settings_of(settings: Settings) -> dict[str, Any]:
    """The settings that can change a run's numbers, as plain JSON values."""
    plain = json.loads(json.dumps(dataclasses.asdict(settings), default=str))
    return {k: v for k, v in plain.items() if k not in RESULT_NEUTRAL}


def fingerprint(settings: Settings) -> dict[str, Any]:
    """What makes this run: its settings and the model's code (and which version and commit that code is)."""
    return {"settings": settings_of(settings), "model": model_code(), **describe()}


def dumps(found: dict[str, Any]) -> str:
    return json.dumps(found, indent=1, sort_keys=True)


def read(folder: Path) -> dict[str, Any] | None:
    """The fingerprint of a run folder, or None if it has none (made before fingerprints, or damaged)."""
    try:
        found = json.loads((folder / FINGERPRINT).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and isinstance(found.get("settings"), dict) else None


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= flat(v, f"{prefix}{k}.")
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): value}


def differences(found: dict[str, Any] | None, wanted: dict[str, Any], limit: int = 4) -> list[str]:
    """What makes a folder's run another run than the one wanted, in words: ``customers.n: 300, not 400``."""
    if found is None:
        return ["no fingerprint (made by an earlier version, or damaged)"]
    have, want = flat(found.get("settings", {})), flat(wanted["settings"])
    keys = sorted(set(have) | set(want))
    out = [f"{k}: {have.get(k, '(none)')}, not {want.get(k, '(none)')}" for k in keys if have.get(k) != want.get(k)]
    if len(out) > limit:
        out = [*out[:limit], f"and {len(out) - limit} more"]
    if found.get("model") != wanted["model"]:
        made_by = found.get("version") or "?"
        commit = found.get("commit")
        out.append(f"other model code (version {made_by}{f', commit {commit[:12]}' if commit else ''})")
    return out


def same_settings(found: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    return found is not None and found.get("settings") == wanted["settings"]


def same_run(found: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """The same settings, run by the same model code: the same numbers (version and commit aside)."""
    return same_settings(found, wanted) and found.get("model") == wanted["model"]
