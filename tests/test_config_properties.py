"""The config gate under generated input: any override list gives valid settings or one line, never a traceback.

Overrides are generated as a user types them: known keys with values of the wrong type or out of
range, unknown keys, group choices, deletions, interpolations, malformed lists of shocks and
planned changes, design files good and bad, and text that is not an override at all.
"""

import string
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from sim.config import ConfigError, Settings, compose, load
from sim.runs import sweep


def _leaves(node, prefix=""):
    for key, value in node.items():
        if OmegaConf.is_dict(value):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


KEYS = sorted(_leaves(compose([])))
GROUPS = [
    "experiment",
    "network",
    "customers",
    "market",
    "policy@firms.giving",
    "policy@firms.taking",
    "hydra/launcher",
]
OPTIONS = ["giving_vs_taking", "newcomer", "bass", "watts_strogatz", "none", "mixed", "default", "taking", "fake_love"]
FIRMS = ["giving", "taking", "nobody", ""]

name = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8)
number = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1e400", "-0", "0x10", "1_000", ".5", "5.", "nan", "inf", "-inf"]),
)
scalar = st.one_of(
    number.map(str),
    st.sampled_from(["true", "false", "null", "''", "'text'", "~", "[]", "{}", "yes"]),
    name,
    st.sampled_from(["${seed}", "${nope}", "${oc.env:NOPE}", "${customers.n}", "${", "$${x}"]),
)


def _list(items):
    return st.lists(items, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]")


def _record(fields: dict):
    """A YAML flow mapping of some of ``fields`` (each value from its strategy), plus an occasional unknown key."""
    keys = st.lists(st.sampled_from([*fields, "extra"]), unique=True, max_size=len(fields) + 1)

    def draw(draw_keys):
        return st.tuples(*(fields.get(k, scalar) for k in draw_keys)).map(
            lambda vals, ks=draw_keys: "{" + ", ".join(f"{k}: {v}" for k, v in zip(ks, vals, strict=True)) + "}"
        )

    return keys.flatmap(draw)


shock = _record(
    {
        "kind": st.one_of(st.sampled_from(["outage", "price_cut", "recession", "voice", "flood"]), scalar),
        "week": scalar,
        "duration": scalar,
        "size": scalar,
        "firm": st.one_of(st.sampled_from(FIRMS), scalar),
    }
)
change = _record(
    {
        "week": scalar,
        "ramp": scalar,
        "levers": st.one_of(_record({"upsell": scalar, "generosity": scalar, "price": scalar, "nope": scalar}), scalar),
        "policy": st.one_of(st.sampled_from(["taking", "giving", "none"]), scalar),
    }
)
value = st.one_of(scalar, scalar, _list(scalar), _record({"a": scalar, "b": scalar}), st.just("1,2"))
garbage = st.text(string.printable, max_size=20)


@st.composite
def override(draw, design_files):
    kind = draw(st.integers(0, 9))
    if kind <= 3:
        return f"{draw(st.sampled_from(KEYS))}={draw(value)}"
    if kind == 4:
        return f"{draw(st.sampled_from(['+', '++', '', '~']))}{draw(name)}.{draw(name)}={draw(value)}"
    if kind == 5:
        return f"{draw(st.sampled_from(GROUPS))}={draw(st.one_of(st.sampled_from(OPTIONS), scalar))}"
    if kind == 6:
        return f"market.shocks={draw(st.one_of(_list(shock), scalar))}"
    if kind == 7:
        return f"firms.{draw(st.sampled_from(FIRMS[:2]))}.changes={draw(st.one_of(_list(change), scalar))}"
    if kind == 8:
        return draw(st.sampled_from([f"design={draw(st.sampled_from(design_files))}", f"design_row={draw(scalar)}"]))
    return draw(garbage)


@pytest.fixture(scope="module")
def design_files(tmp_path_factory):
    """Design CSVs: a good one, an out-of-range value, an unknown column, an empty file, a binary file, none."""
    d = tmp_path_factory.mktemp("designs")
    pd.DataFrame({"customers.review_rate": [0.01, 0.02]}).to_csv(d / "good.csv", index=False)
    pd.DataFrame({"customers.review_rate": [3.0]}).to_csv(d / "range.csv", index=False)
    pd.DataFrame({"customers.nope": [1], "customers": [2]}).to_csv(d / "columns.csv", index=False)
    (d / "empty.csv").write_text("")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (d / "ragged.csv").write_text('a,b\n1,2,3,4\n"unclosed\n')
    return [str(d / f) for f in ("good.csv", "range.csv", "columns.csv", "empty.csv", "binary.csv", "ragged.csv")] + [
        str(d / "missing.csv"),
        str(d),
    ]


def assert_gate(overrides: list[str]) -> None:
    """Valid settings, or a ``ConfigError`` of one line starting ``config error: ``; nothing else."""
    try:
        assert isinstance(load(overrides), Settings)
    except ConfigError as err:
        msg = str(err)
        assert msg.startswith("config error: ") and "\n" not in msg, (overrides, msg)


GATE = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def test_generated_overrides_give_settings_or_one_line(design_files):
    @GATE
    @given(st.lists(override(design_files), min_size=1, max_size=4))
    def check(overrides):
        assert_gate(overrides)

    check()


@pytest.mark.slow
def test_many_generated_overrides_give_settings_or_one_line(design_files):
    @settings(max_examples=800, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(override(design_files), min_size=1, max_size=6))
    def check(overrides):
        assert_gate(overrides)

    check()


def _sweep_check(overrides: list[str]) -> None:
    """What ``python -m sim -m`` checks before launching, in the order it does."""
    try:
        sweep.preflight(overrides)
        sweep.sweep_name(overrides)
        sweep.exclude_keys_for(overrides)
    except ConfigError as err:
        msg = str(err)
        assert msg.startswith("config error: ") and "\n" not in msg, (overrides, msg)


swept = st.tuples(st.sampled_from(KEYS), st.lists(scalar, min_size=2, max_size=3)).map(
    lambda kv: f"{kv[0]}={','.join(kv[1])}"
)


def test_generated_sweeps_are_checked_in_one_line(design_files):
    @settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.one_of(swept, override(design_files)), min_size=1, max_size=3))
    @example(["customers.ad_prompt=${,${seed},0"])  # a value OmegaConf cannot hold, found by the slow set
    def check(overrides):
        _sweep_check(overrides)

    check()


@pytest.mark.slow
def test_many_generated_sweeps_are_checked_in_one_line(design_files):
    @settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.one_of(swept, override(design_files)), min_size=1, max_size=4))
    def check(overrides):
        _sweep_check(overrides)

    check()


@pytest.mark.slow  # end to end, over 10 s: run in CI's slow set
def test_generated_overrides_on_the_command_line(tmp_path, design_files):
    """Through ``python -m sim`` itself: exit 0 with a results folder, or exit 2, one line and nothing written."""

    @settings(
        max_examples=4,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(override(design_files), min_size=1, max_size=3))
    def check(overrides):
        results = Path(tempfile.mkdtemp(dir=tmp_path)) / "results"  # one per example
        proc = cli(*overrides, "steps=3", "customers.n=50", "progress=false", f"results_dir={results}", cwd=tmp_path)
        assert "Traceback" not in proc.stderr, (overrides, proc.stderr)
        if proc.returncode == 0:
            return
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("config error: "), (overrides, proc)
        assert not results.exists()

    check()
