"""Each rule of the model is named once: the ODD's process overview lists the rules, and each engine has a
function or method of that name for each, and no rule of another name."""

import inspect
import re

from conftest import ROOT

from sim.model import agents, compiled
from sim.model.vocabulary import Happened

ODD = ROOT / "docs" / "ODD.md"


def odd_rules() -> dict[str, list[str]]:
    """The rules in the ODD's process overview, in order, each with the events it records."""
    text = ODD.read_text()
    overview = text[text.index("## 3. Process overview") : text.index("## 4. Design concepts")]
    rows = re.findall(r"^\s*\| `(\w+)` \|[^|]*\|[^|]*\|([^|]*)\|", overview, flags=re.M)
    return {name: re.findall(r"`(\w+)`", records) for name, records in rows}


def test_the_odd_and_both_engines_name_the_same_rules():
    listed = odd_rules()
    assert len(listed) > 20
    assert list(listed) == list(dict.fromkeys(listed))  # each once
    assert set(listed) == set(agents.RULES), set(listed) ^ set(agents.RULES)
    assert set(listed) == set(compiled.RULES), set(listed) ^ set(compiled.RULES)
    for name in listed:
        assert callable(getattr(agents.Customer, name)) and hasattr(getattr(compiled, name), "py_func"), name


# A rule whose outcome the compiled engine writes on the customer's own thread, in the kernel named here: a
# defense is decided as a word is addressed (any thread), and noted by the thread that owns the defender.
RECORDED_BY = {"defend": "hear"}


def test_every_recorded_event_is_listed_with_the_rule_that_records_it():
    listed = odd_rules()
    recorded = {event for events in listed.values() for event in events}
    assert recorded == {h.name for h in Happened}  # every event listed (some are recorded by more than one rule)
    for rule, events in listed.items():
        for event in events:  # the rule's code in each engine names the event it records
            kernel = compiled.__dict__[RECORDED_BY.get(rule, rule)].py_func
            for source in (kernel, agents.Customer.__dict__[rule]):
                assert f"Happened.{event}" in inspect.getsource(source), (rule, event, source)


def test_the_derived_quantities_have_one_name_in_both_engines():
    for name in ("remembered", "utilities", "discount_decided"):
        assert hasattr(agents.Customer, name) and hasattr(compiled, name), name


def test_no_kernel_takes_more_than_ten_parameters():
    """The compiled engine's functions take records (``People``, ``Week``, ``Work``...), not long lists of arrays."""
    kernels = {name: f.py_func for name, f in vars(compiled).items() if hasattr(f, "py_func")}
    assert len(kernels) > 30
    too_many = {name: n for name, f in kernels.items() if (n := len(inspect.signature(f).parameters)) > 10}
    assert not too_many, too_many
