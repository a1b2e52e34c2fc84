"""``python -m sim``: run an experiment from Hydra config and write its results folder."""

from __future__ import annotations

import logging
import re
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from .config import CONF_DIR, ConfigError, compose, to_plain, validate
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


def one_line(err: Exception) -> str:
    """Hydra's composition errors, reduced to one line naming the key."""
    text = str(err)
    if m := re.search(r"Could not override '([^']+)'", text):
        return f"config error: unknown key '{m.group(1)}' (use +{m.group(1)}=... to add a key on purpose)"
    if m := re.search(r"Could not find '([^']+)'", text):
        options = [o for o in re.findall(r"^\t(\S+)", text, flags=re.M) if "=" not in o]
        group, _, name = m.group(1).rpartition("/")
        return f"config error: {group}={name}: no such option (allowed: {', '.join(options)})"
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"config error: could not read the overrides: {first}"


def preflight(argv: list[str]) -> None:
    """Compose and validate a single run's overrides before Hydra starts; one line on error."""
    if any(a.startswith("-") for a in argv):  # --multirun, --cfg, --help...: leave to Hydra
        return
    try:
        validate(to_plain(compose(argv)))
    except ConfigError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    except Exception as err:  # Hydra's override and composition errors
        print(one_line(err), file=sys.stderr)
        sys.exit(2)


def cli() -> None:
    preflight(sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
