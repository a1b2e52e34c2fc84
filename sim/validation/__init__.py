"""Validation of the model (``python -m sim.validate``): docking with the Bass model (``bass``),
stylized facts (``facts``), the regression baseline (``baseline``) and equal spend (``spend``)."""
