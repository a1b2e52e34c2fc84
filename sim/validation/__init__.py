"""Validation of the model (``python -m sim.validate``): docking with the Bass model (``bass``),
stylized facts (``facts``), the regression baseline (``baseline``), equal spend (``spend``) and a release's
completeness and archive (``release``)."""
