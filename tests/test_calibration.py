"""Fit the model to a market, then ask it "what if?": market cards, calibration, what-if."""

import copy
import dataclasses
import functools
import subprocess
import sys
from math import inf, nan
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from sim.calibration import inference, report
from sim.calibration import whatif as wi
from sim.calibration.card import check_card, load_card, settings_for
from sim.config import ConfigError

pytest.importorskip("pyabc")


@functools.cache
def synthetic() -> dict:
    return dataclasses.asdict(load_card("synthetic"))


def raw_card(**changes) -> dict:
    raw = copy.deepcopy(synthetic())
    for key, value in changes.items():
        node = raw
        *path, leaf = key.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    return raw


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"kpis.them": {"share": {"value": 0.1, "sd": 0.01}}}, "market_data.kpis.them: no such firm in the card"),
        (
            {"kpis.us.share": {"value": 1.4, "sd": 0.01}},
            "market_data.kpis.us.share.value = 1.4: allowed: 0 ≤ value ≤ 1",
        ),
        (
            {"kpis.rival.share": {"value": 0.6, "sd": 0.01}},
            r"the shares sum to 1\.37\d*; allowed: at most 1",  # us 0.77 + 0.6
        ),
        ({"free": {"customers.patience": [0, 1]}}, "market_data.free.customers.patience: not a config key"),
        ({"free": {"market.reach": [0.2, 0.1]}}, r"market_data.free.market.reach = \[0.2, 0.1\]: an empty prior range"),
        ({"free": {"market.reach": [0.0, 3.0]}}, "market.reach = 3.0"),
        ({"kpis.us.loyalty": {"value": 0.5, "sd": 0.1}}, "market_data.kpis.us.loyalty: unknown KPI"),
        ({"firms.us.preset": "kind"}, "market_data.firms.us.preset = 'kind': no such preset"),
        ({"kpis.us.share": {"value": 0.5, "sd": 0}}, "market_data.kpis.us.share.sd = 0"),
        (
            {"kpis.us.advocacy": {"value": nan, "sd": 3}},
            "market_data.kpis.us.advocacy.value = nan: input should be a finite",
        ),
        (
            {"kpis.us.advocacy": {"value": 30, "sd": inf}},
            "market_data.kpis.us.advocacy.sd = inf: input should be a finite",
        ),
        (
            {"kpis.us.advocacy": {"value": 30, "sd": 1e-300}},
            "market_data.kpis.us.advocacy.sd = 1e-300: input should be greater",
        ),
        (
            {"kpis": {}},
            r"^config error: market_data.kpis: nothing observed; allowed: \{firm: \{kpi: \{value, sd\}\}\} or market_data.cohorts$",
        ),
        ({"kpis": {"us": {}, "rival": {}}}, "market_data.kpis: nothing observed"),
        (
            {"free": {"market.reach": [0, nan]}},
            r"market_data.free.market.reach.1 = nan: input should be a finite number",
        ),
        ({"truth": {"market.reach": inf}}, r"market_data.truth.market.reach = inf: input should be a finite number"),
        (
            {"free": {"progress": [0, 1]}},
            r"^config error: market_data.free.progress: 'progress' is not a parameter of the market \(it only shows",
        ),
        (
            {"free": {"seed": [0, 1000]}},
            r"market_data.free.seed: 'seed' is not a parameter of the market \(the seeds are the replicates: "
            r"market_data.seeds\)$",
        ),
        ({"free": {"steps": [104, 200]}}, r"'steps' is not a parameter of the market \(.*: market_data.weeks\)$"),
        ({"free": {"hydra.launcher.n_jobs": [1, 4]}}, r"market_data.free.hydra.launcher.n_jobs: 'hydra' is not a"),
        ({"free": {"firms.giving.price": [5, 10]}}, "market_data.free.firms.giving.price: not a config key"),
        ({"free": {"network.kind": [0, 1]}}, r"market_data.free.network.kind: 'watts_strogatz', not a number"),
        (
            {"free": {"customers.segments": [0, 1]}},
            r"market_data.free.customers.segments: a group of keys, not a number",
        ),
        (
            {"nickname": "x"},
            r"^config error: unknown key 'market_data.nickname' \(allowed keys here: name, description",
        ),
    ],
)
def test_a_bad_card_is_one_line(changes, message):
    with pytest.raises(ConfigError, match=message) as err:
        check_card(raw_card(**changes))
    assert "\n" not in str(err.value)


def test_an_empty_or_partial_card_says_what_a_card_has():
    for raw in ({}, None):
        with pytest.raises(ConfigError, match=r"^config error: market_data: the card is empty; a card has name, "):
            check_card(raw)
    partial = raw_card()
    del partial["name"]
    with pytest.raises(ConfigError, match=r"^config error: missing key 'market_data.name'$"):
        check_card(partial)


def test_a_card_frees_the_levers_of_its_own_firms():
    card = check_card(raw_card(free={"firms.us.generosity": [0.2, 0.9]}))
    assert settings_for(card, {"firms.us.generosity": 0.4}).firms["us"].generosity == 0.4


def test_the_cards_load_and_build_their_market():
    for name in ("synthetic", "uk_mobile"):
        card = load_card(name)
        s = settings_for(card, {})
        assert list(s.firms) == list(card.firms) and s.customers.n == card.customers
        assert all(s.firms[f].price == card.firms[f].price for f in card.firms)
    assert load_card("uk_mobile").sources  # published figures name their sources


def small_card():
    """Two free parameters that the KPIs identify, a small market: a fast recovery check."""
    raw = raw_card(customers=800, weeks=156, seeds=1)
    raw["free"] = {"customers.review_rate": [0.0005, 0.008], "customers.gratitude": [0.02, 0.4]}
    raw["truth"] = {"customers.review_rate": 0.004, "customers.gratitude": 0.12}
    card = check_card(raw)
    truth = inference.simulate(dataclasses.replace(card, seeds=1), card.truth)
    kpis = copy.deepcopy(raw["kpis"])
    for firm in kpis:
        for kpi in kpis[firm]:
            kpis[firm][kpi]["value"] = truth[f"{firm}.{kpi}"]
    raw["kpis"] = kpis
    return check_card(raw)


def test_each_parameter_set_meets_luck_of_its_own_and_always_the_same():
    card = dataclasses.replace(load_card("synthetic"), seeds=3)
    one = {"customers.review_rate": 0.004, "customers.gratitude": 0.12}
    other = {"customers.review_rate": 0.004, "customers.gratitude": 0.12000000001}
    seeds = inference.seeds_of(card, one)
    assert seeds == inference.seeds_of(card, dict(reversed(one.items())))  # the same set, the same luck
    assert len(set(seeds)) == 3 and all(0 <= s < 2**63 for s in seeds)
    assert not set(seeds) & set(inference.seeds_of(card, other))  # any other set: other luck, never shared
    assert inference.seeds_of(dataclasses.replace(card, seeds=1), one) == seeds[:1]


@pytest.mark.slow
def test_parameter_recovery_on_a_small_synthetic_market(tmp_path):
    card = small_card()
    history = inference.run(card, tmp_path / "h.db", population=30, generations=3, jobs=2, progress=False)
    generations = history.max_t + 1
    post = inference.posterior(history, card)
    params = report.summary(post, card).set_index("parameter")
    assert params.truth_inside_90.all(), params
    assert params.width_over_prior["customers.gratitude"] < 0.8  # advocacy pins gratitude down quickly
    # an interrupted calibration continues: one more generation onto the same history
    more = inference.run(card, tmp_path / "h.db", population=30, generations=4, jobs=2, progress=False)
    assert generations == 3 and more.max_t + 1 == 4
    pops = more.get_all_populations()
    temperature = pops[pops.t >= 0].sort_values("t").epsilon.to_numpy()
    # tempered at first, exact (temperature 1) at the last generation planned, and after a continuation too
    assert temperature[0] > 1 and np.all(np.diff(temperature) <= 0) and temperature[2] == temperature[3] == 1


def test_whatif_pairs_change_and_baseline_and_writes_a_self_contained_report(tmp_path):
    args = [
        sys.executable,
        "-m",
        "sim.whatif",
        "firms.giving.generosity=0.9",
        "--base",
        "customers.n=600",
        "--seeds",
        "3",
        "--weeks",
        "60",
        "--results-dir",
        str(tmp_path),
    ]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    said = done.stdout.splitlines()[1]
    assert said.startswith("If firms.giving.generosity=0.9 (a change giving makes), over 60 weeks: giving's NPV")
    assert "; taking's NPV" in said  # whose change it is, then what it does to the rival
    assert "chance it is better" in done.stdout
    (folder,) = (tmp_path / "whatif").iterdir()
    page = (folder / "report.html").read_text()
    assert "data:image/png;base64," in page and "src='http" not in page and "In plain words" in page
    assert ">nan<" not in page and "npv_change_pct_low" not in page and "@media print" in page  # a board's page
    money = pd.read_csv(folder / "economics.csv")
    assert set(money.scenario) == {"baseline", "firms.giving.generosity=0.9"} and money.margin.between(-1, 1).all()
    assert "margin (profit / revenue)" in page and "lifetime value" in page
    kept = pd.read_csv(folder / "survival.csv")
    assert set(kept.scenario) == set(money.scenario) and kept.survival.between(0, 1).all()
    assert "first-year acquisitions still there" not in page or "Survival of each firm" in page
    diff = pd.read_parquet(folder / "differences.parquet")
    week0 = diff[diff.week == 0]
    assert (week0.difference == 0).all()  # same people, same start: the worlds differ only by the change
    summary = pd.read_csv(folder / "summary.csv")
    assert set(summary.firm) == {"giving", "taking"} and summary.variance_ratio.min() > 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["firms.giving.patience=3"], "unknown key 'firms.giving.patience' in the change"),
        (["firms.giving.generosity=3"], "firms.giving.generosity = 3"),
        ([], "argument error: no change given"),
        (["firms.giving.generosity=0.8", "--weeks", "10"], "--weeks = 10: allowed: an integer, 53 ≤ value"),
    ],
)
def test_bad_whatif_input_is_one_line_and_writes_nothing(tmp_path, argv, message):
    assert_one_line_error("sim.whatif", argv, message, tmp_path)
    assert not any(tmp_path.iterdir())


def assert_one_line_error(module: str, argv: list[str], message: str, results: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, *argv, "--results-dir", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.slow  # over 10 s end to end: the slow set
def test_bad_calibrate_input_is_one_line(tmp_path):
    for argv, message in (
        (["market_data=nope"], "market_data=nope: no such option"),
        (["market_data=synthetic", "market_data.customers=5"], "market_data.customers = 5"),
        (["market_data=synthetic", "--population", "3"], "--population = 3: allowed: an integer, 10 ≤ value"),
        (["market_data=synthetic", "--holdout", "2"], "--holdout: the card holds no cohorts"),
        (["market_data=fader_hardie", "--holdout", "12"], "--holdout = 12: allowed: 1 ≤ holdout ≤ 11"),
        (["market_data=fader_hardie", "market_data.weeks=600"], "market_data.weeks = 600: 12 years of cohort"),
    ):
        assert_one_line_error("sim.calibrate", argv, message, tmp_path)
    assert not any(tmp_path.iterdir())


def test_payback_week_and_plain_words():
    curve = pd.Series([-3.0, -1.0, 0.5, -0.1, 0.2, 1.0], index=range(6))
    assert wi.payback_week(curve) == 4
    assert np.isnan(wi.payback_week(pd.Series([1.0, -1.0], index=[0, 1])))
    rows = pd.DataFrame(
        {
            "firm": ["rival", "us"],
            "scenario": "a free SIM",
            "npv_change_pct": [-2.0, 4.0],
            "npv_change_pct_low": [-3.0, -1.0],
            "npv_change_pct_high": [-1.0, 9.0],
            "payback_week": [np.nan, 70.0],
            "chance_better": [0.0, 0.88],
            "share_change": [-0.01, 0.01],
        }
    )
    owners = wi.owners(["firms.us.generosity=0.8", "market.reach=0.1"], ["rival", "us"])
    assert owners == ["us"]
    assert wi.in_words(rows, 260, owners) == (
        "If a free SIM (a change us makes), over 5 years: us's NPV rises by 4.0% [-1.0%, +9.0%] (90% band), it "
        "pays back in week 70, 88% chance it is better for us, long-run share +1.0 points; rival's NPV falls by "
        "2.0% [-3.0%, -1.0%], 0% chance it is better for rival, long-run share -1.0 points."
    )
    market = wi.in_words(rows, 260, wi.owners(["market.reach=0.1"], ["rival", "us"]))
    assert "(a change to the market)" in market and "it does not pay back within the horizon" in market


@pytest.fixture
def redis_workers(tmp_path):
    """A Redis server on a free port and two calibration workers listening to it (as on a cluster's nodes)."""
    import shutil
    import socket
    import time

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run tests/setup_redis.sh (Debian's redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    worker = [
        str(ROOT / ".venv" / "bin" / "abc-redis-worker"),
        "--host",
        "localhost",
        "--port",
        str(port),
        "--runtime",
        "10m",
    ]
    workers = [
        subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)
    ]
    yield f"localhost:{port}"
    for p in [*workers, server]:
        p.terminate()
        p.wait(timeout=30)


@pytest.mark.slow
def test_calibration_runs_on_redis_workers(redis_workers, tmp_path):
    """The library's own distributed backend: a Redis server, and workers started anywhere that can reach it."""
    card = small_card()
    history = inference.run(
        card, tmp_path / "h.db", population=20, generations=2, sampler_kind="redis", redis=redis_workers, progress=False
    )
    assert history.max_t == 1 and len(inference.posterior(history, card)) == 20


def test_coverage_truths_are_seeded_draws_inside_the_priors_and_make_their_own_kpis():
    from sim.calibration import coverage
    from sim.calibration.synthetic import SD

    base = load_card("synthetic")
    sets = coverage.truths(base, 5, seed=3)
    assert sets == coverage.truths(base, 5, seed=3) and sets != coverage.truths(base, 5, seed=4)
    for truth in sets:
        for key, (lo, hi) in base.free.items():
            assert lo <= truth[key] <= hi
    card = coverage.card_for(base, sets[0], customers=300, weeks=104)
    assert card.truth == sets[0] and card.customers == 300 and card.weeks == 104
    assert {k for t in card.kpis.values() for k in t} == set(SD)
    assert card.kpis != base.kpis  # made at the new truth, not copied
    assert card == coverage.card_for(base, sets[0], customers=300, weeks=104)  # seeded: the same observation
    other = coverage.card_for(base, sets[0], customers=300, weeks=104, k=1)  # another market's luck and noise
    assert other.kpis["us"]["advocacy"].value != card.kpis["us"]["advocacy"].value


def test_a_coverage_folder_keeps_to_the_settings_its_truths_were_made_with(tmp_path, monkeypatch):
    """A rerun continues a folder's truths only with the same settings; other settings are refused in one line,
    never mixed in."""
    from sim.calibration import coverage

    calls = []
    monkeypatch.setattr(coverage, "card_for", lambda card, truth, customers, weeks, k=0: card)
    monkeypatch.setattr(coverage.emulator, "build", lambda *a: calls.append("design") or "an emulator")
    monkeypatch.setattr(
        coverage,
        "recover",
        lambda card, folder, *a: (
            calls.append(folder)
            or pd.DataFrame(
                {"parameter": list(card.free), "truth_inside_90": True, "width_over_prior": 0.5, "truth_rank": 0.5}
            )
        ),
    )
    out = str(tmp_path / "cov")
    coverage.main(["--truths", "2", "--out", out])
    coverage.main(["--truths", "3", "--out", out])  # the same settings: two skipped, one more run
    assert calls.count("design") == 2  # one emulator for every truth a run calibrates
    calls[:] = [c for c in calls if c != "design"]
    assert len(calls) == 3 and (tmp_path / "cov" / "coverage.png").is_file()
    table = pd.read_csv(tmp_path / "cov" / "coverage.csv")
    assert (table.truths == 3).all() and (table.coverage_90 == 1).all()
    from sim.runs.errors import Failure

    with pytest.raises(Failure, match=r"holds truths made with other settings \(population differ\)"):
        coverage.main(["--truths", "3", "--population", "50", "--out", out])
    assert len(calls) == 3
    with pytest.raises(Failure, match=r"\(design differ\)"):
        coverage.main(["--truths", "3", "--design", "0", "--out", out])
