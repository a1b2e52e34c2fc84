"""``python -m sim``: run an experiment from Hydra config and write its results folder.

``python -m sim -m ...`` runs a sweep: every run lands in
``<results_dir>/<experiment>/<sweep>/<run key>/``; a run whose folder is complete is skipped,
so the same command resumes an interrupted sweep; a run is claimed before it starts
(``runs.claims``), so two launches of the same sweep share its runs instead of repeating them.
Every failure ends in one line on stderr and a non-zero exit (``runs.errors``).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, redirect_stderr
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .config import (
    CONF_DIR,
    ConfigError,
    Settings,
    apply_design,
    hydra_error,
    load,
    to_plain,
    validate,
    yaml_error,
)
from .runs import fingerprint, sweep
from .runs.claims import claim
from .runs.errors import BAD_INPUT, FAILED, ArgumentParser, Failure, command, failing_as, stop
from .runs.results import clear_stale, is_complete, run_folder, sweep_run_folder
from .runs.run import keep_freed_memory, own_progress_lock, run_and_write

EXCLUDE_KEYS = "hydra.job.config.override_dirname.exclude_keys"
HYDRA_JOB_FAILED = "Error executing job with overrides:"
LAUNCHER_PID = 0  # the process ``cli`` runs in; a run elsewhere is in a launcher's worker


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    try:
        run_one(cfg)
    except (ConfigError, Failure) as err:
        if os.getpid() != LAUNCHER_PID:
            raise  # a worker's run: the launcher hands it back when the sweep ends, and ``cli`` says it
        # in the launching process (a single run, the basic launcher): stop the command now
        stop(str(err), BAD_INPUT if isinstance(err, ConfigError) else FAILED)


def run_one(cfg: DictConfig) -> None:
    """A single run into a dated folder, or a sweep's run into its run key's folder."""
    run_cfg, row = apply_design(cfg)
    settings = validate(to_plain(run_cfg))
    keep_freed_memory()
    own_progress_lock()
    config_yaml = OmegaConf.to_yaml(run_cfg, resolve=True)
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        dest = None
        if row:  # a single design row: the folder says which
            dated = run_folder(settings.results_dir, settings.experiment)
            dest = dated.with_name(f"{dated.name}_design_row={cfg.design_row}")
        with failing_as("running", dest or settings.results_dir):
            run_and_write(settings, config_yaml, dest)
        return
    task = list(hydra_cfg.overrides.task)
    name = cfg.sweep or sweep.sweep_name(task)
    dest = sweep_run_folder(
        settings.results_dir, settings.experiment, name, sweep.run_key(hydra_cfg.job.override_dirname)
    )
    params = {"overrides": sweep.run_params(task), "design": row, "task": task}
    with failing_as("running", dest):
        sweep_run(settings, config_yaml, dest, params, strict=bool(cfg.get("strict")), reuse=bool(cfg.get("reuse")))


def done(dest: Path, settings: Settings, strict: bool, reuse: bool, say: bool = True) -> bool:
    """Whether a sweep's run is already done: its folder complete, made with these settings by this model's code
    (or by other code, when ``reuse`` says so). A folder made otherwise is said in one line, then rerun, or refused
    with ``strict``."""
    if not is_complete(dest):
        return False
    found, wanted = fingerprint.read(dest), fingerprint.fingerprint(settings)
    if fingerprint.same_run(found, wanted):
        print(f"complete, skipped: {dest}", flush=True)
        return True
    if reuse and fingerprint.same_settings(found, wanted):
        print(f"complete, made by other model code, reused (reuse=true): {dest}", flush=True)
        return True
    what = "; ".join(fingerprint.differences(found, wanted))
    if not say:
        return False
    if strict:
        raise ConfigError(
            f"config error: {dest} was made otherwise ({what}); strict=true refuses to rerun it"
            " (drop strict=true to rerun it, or give the sweep another name: sweep=<name>)"
        )
    print(f"made otherwise ({what}), rerun: {dest}", flush=True)
    return False


def sweep_run(settings: Settings, config_yaml: str, dest: Path, params: dict, strict: bool, reuse: bool) -> None:
    """One run of a sweep: skipped if done or claimed by another live sweep, else claimed and run."""
    if done(dest, settings, strict, reuse):
        return
    with claim(dest) as mine:
        if mine.supported and not mine.held:
            print(f"claimed by another sweep{f' ({mine.owner})' if mine.owner else ''}, skipped: {dest}", flush=True)
            return
        if done(dest, settings, strict, reuse, say=False):  # done by another sweep since our look
            return
        if mine.held:  # no live process writes dest: its temporary folders are a dead one's
            clear_stale(dest)
        run_and_write(settings, config_yaml, dest, params=params, plots=False, keep_existing=True)


def preflight(argv: list[str]) -> None:
    """Compose and validate a single run's overrides before Hydra starts (a ``ConfigError`` if bad)."""
    if any(a.startswith("-") for a in argv):  # --cfg, --help...: leave to Hydra
        return
    load(argv)


def is_multirun(argv: list[str]) -> bool:
    return any(a in sweep.MULTIRUN_FLAGS for a in argv) or "hydra.mode=MULTIRUN" in argv


def prepare_multirun(argv: list[str]) -> tuple[list[str], Path | None]:
    """Check every swept value, then name the sweep and its run keys: the extra overrides, and the sweep folder."""
    if any(a.startswith("-") and a not in sweep.MULTIRUN_FLAGS for a in argv):  # --cfg, --help...
        return [], None
    overrides = [a for a in argv if not a.startswith("-")]
    base = sweep.preflight(overrides)
    given = [o for o in sweep.parse(overrides) if sweep.key_of(o) == "sweep" and o.value() is not None]
    name = sweep.check_name(given[-1]) if given else sweep.sweep_name(overrides)
    keys = ", ".join(f"'{k}'" for k in sweep.exclude_keys_for(overrides))
    swept = any(o.is_sweep_override() and sweep.key_of(o) == "experiment" for o in sweep.parse(overrides))
    folder = Path(base.results_dir) / ("<experiment>" if swept else base.experiment) / name
    print(f"sweep: {folder}", flush=True)
    return [*([] if given else [f"sweep='{name}'"]), f"{EXCLUDE_KEYS}=[{keys}]"], folder


def declared(argv: list[str]) -> list[str]:
    """``+design=...`` and ``design=...`` both work: the key is declared in conf/config.yaml."""
    return [re.sub(r"^\+(design|design_row|sweep|strict|reuse)=", r"\1=", a) for a in argv]


class _WithoutJobAnnouncement:
    """stderr without Hydra's ``Error executing job with overrides: [...]``: the failure's own line follows it."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return len(text) if text.startswith(HYDRA_JOB_FAILED) else self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextmanager
def hydra_reraising() -> Iterator[None]:
    """Hydra re-raises what fails (``HYDRA_FULL_ERROR``) instead of printing its own report, so the rule applies."""
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        with redirect_stderr(_WithoutJobAnnouncement(sys.stderr)):
            yield
    except (HydraException, OmegaConfBaseException) as err:
        raise hydra_error(err) from None
    except Exception as err:  # a config file in conf/ that is not valid YAML
        if (said := yaml_error(err)) is None:
            raise
        raise said from None
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


def check_flags(argv: list[str]) -> None:
    """Hydra's own flags (``--cfg``, ``--info``...) checked as Hydra will, but with the project's one-line errors."""
    if {"-h", "--help", "--hydra-help", "--version"} & set(argv):
        return  # Hydra prints these itself
    try:
        from hydra._internal.utils import get_args_parser  # Hydra's own parser, so the flags stay Hydra's
    except ImportError:
        return
    parser = get_args_parser()
    parser.prog = "python -m sim"
    parser.error = functools.partial(ArgumentParser.error, parser)  # type: ignore[method-assign]
    args = parser.parse_args(argv)
    commands = {  # what Hydra is asked to do: one thing at a time
        "--run": args.run,
        "--multirun": args.multirun,
        "--cfg": args.cfg is not None,
        "--info": args.info is not None,
        "--shell-completion": args.shell_completion,
    }
    if len(given := [flag for flag, on in commands.items() if on]) > 1:
        parser.error(f"{' and '.join(given)}: allowed: one of {', '.join(commands)}")
    if args.resolve and args.cfg is None:
        parser.error("--resolve: allowed: only with --cfg")
    if args.experimental_rerun is not None:  # Hydra's pickle of a run's config, which no run keeps here
        parser.error("--experimental-rerun: not supported (a run keeps its config in config.yaml, not a pickle)")


@command
def cli() -> None:
    """``python -m sim``: check the overrides, then let Hydra run; every failure ends in one line (``runs.errors``)."""
    global LAUNCHER_PID
    argv = declared(sys.argv[1:])
    check_flags(argv)
    folder = None
    if is_multirun(argv):
        extra, folder = prepare_multirun(argv)
        argv += extra
    else:
        preflight(argv)
    sys.argv[1:] = argv
    LAUNCHER_PID = os.getpid()
    with failing_as("running the sweep", folder) if folder else nullcontext(), hydra_reraising():
        main()


if __name__ == "__main__":
    cli()
