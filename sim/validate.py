"""``python -m sim.validate <check> [options]``: the model's validation checks (docs/validation.md).

python -m sim.validate bass                 # docking with the Bass model: results/validation/bass.png
python -m sim.validate facts                # stylized facts: results/validation/stylized_facts.csv
python -m sim.validate baseline [--refresh] # the regression baseline (tests/baseline/)
python -m sim.validate spend [overrides]    # equal spend of experiment=discount_vs_generosity
python -m sim.validate observables         # observed-market ranges: results/validation/observables.csv
python -m sim.validate synthetic           # the synthetic card's KPIs, made by the model at its truth
python -m sim.validate noise               # a run's own noise against a card's sd: are its seeds enough?
python -m sim.validate coverage            # calibration recovers truths drawn from the priors
python -m sim.validate release [--archive DIR]  # is the release complete? DIR: the archive CoMSES asks for
"""

from __future__ import annotations

import logging
import sys

from .calibration import coverage, noise, synthetic
from .runs.errors import ArgumentError, command
from .validation import baseline, bass, facts, observables, release, spend

CHECKS = {
    "bass": bass.main,
    "facts": facts.main,
    "observables": observables.main,
    "baseline": baseline.main,
    "spend": spend.main,
    "synthetic": synthetic.main,
    "coverage": coverage.main,
    "noise": noise.main,
    "release": release.main,
}


@command
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    if not argv or argv[0] not in CHECKS:
        given = f"'{argv[0]}'" if argv else "nothing"
        raise ArgumentError(f"check {given}: allowed: {', '.join(CHECKS)}")
    logging.getLogger("MESA").setLevel(logging.WARNING)
    CHECKS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
