"""``python -m sim``: run an experiment from Hydra config and write its results folder."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from .config import CONF_DIR, ConfigError, to_plain, validate
from .run import run_and_write


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    try:
        settings = validate(to_plain(cfg))
    except ConfigError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    run_and_write(settings, OmegaConf.to_yaml(cfg, resolve=True))


if __name__ == "__main__":
    main()
