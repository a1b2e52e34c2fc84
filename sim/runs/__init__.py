"""Running the model: one run and its results folder (``run``, ``results``, ``plots``), sweeps (``sweep``)."""
