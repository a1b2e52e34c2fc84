"""docs/ODD.md documents every parameter: each key of the composed config, of every policy preset,
of every management rule and of the shock and planned-change records appears there as `dotted.key` (firm keys as
`firms.<name>.key`). The keys are enumerated from conf/, so a new key without documentation fails."""

import dataclasses
from pathlib import Path

import yaml

from sim.config import PolicyChange, Shock, compose, to_plain

ROOT = Path(__file__).resolve().parent.parent
ODD_PATH = ROOT / "docs" / "ODD.md"


def leaves(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        out += leaves(v, f"{key}.") if isinstance(v, dict) and v else [key]
    return out


def documented_keys() -> list[str]:
    raw = to_plain(compose())
    raw.pop("hydra", None)
    firms = raw.pop("firms")
    groups = raw["customers"]["segments"].pop("groups")  # named by the user, like firms
    keys = leaves(raw)
    keys += sorted({f"customers.segments.groups.<name>.{k}" for group in groups.values() for k in group})
    firm_keys = set()
    for spec in firms.values():
        firm_keys |= set(spec)
    for preset in (ROOT / "conf" / "policy").glob("*.yaml"):
        firm_keys |= set(yaml.safe_load(preset.read_text())) - {"defaults"}
    management = set()
    for spec in firms.values():
        management |= set(spec.pop("management"))
    for rule in (ROOT / "conf" / "management").glob("*.yaml"):
        management |= set(yaml.safe_load(rule.read_text())["management"])
    keys += [f"firms.<name>.{k}" for k in sorted(firm_keys - {"management"})]
    keys += [f"firms.<name>.management.{k}" for k in sorted(management)]
    keys += [f"market.shocks[].{f.name}" for f in dataclasses.fields(Shock)]
    keys += [f"firms.<name>.changes[].{f.name}" for f in dataclasses.fields(PolicyChange)]
    return keys


def test_every_parameter_is_in_the_odd():
    keys = documented_keys()
    assert len(keys) > 100
    odd = ODD_PATH.read_text()
    missing = [k for k in keys if f"`{k}`" not in odd]
    assert not missing, f"not documented in docs/ODD.md: {missing}"


def test_run_control_keys_are_enumerated():
    """Top-level keys added to conf/config.yaml are picked up without editing this test."""
    top = set(yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())) - {"defaults", "hydra"}
    assert top <= set(documented_keys())
