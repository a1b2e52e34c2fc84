"""One rule for every command: how it stops when something is wrong.

- A bad argument or value (``ConfigError``, argparse's own errors): one line on stderr naming it and
  the allowed values, exit code 2, nothing written (commands check their input before writing).
- An environment failure (a full disk, a denied permission, a worker process that died): one line
  saying what failed and where, exit code 1. Results are written atomically, so nothing left
  behind looks complete, and every wait on a child process or worker has an end.

- Stopped (Ctrl-C, SIGTERM): one line (``interrupted``, ``stopped: terminated (SIGTERM)``), exit code
  130 or 128 + the signal, and every process the command started is stopped with it: a worker launcher
  (joblib) kills its workers as it does on Ctrl-C, and a command's child sweep (``run_child``) runs in a
  process group of its own, stopped whole.

``command`` applies the rule to a command's ``main``; ``ArgumentParser`` and ``number`` make
argparse's errors one line that names the argument and its allowed values; ``failing_as`` says
what was being done, and where, when an ``OSError`` strikes.
"""

from __future__ import annotations

import argparse
import errno
import functools
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ..config import ConfigError

BAD_INPUT = 2
FAILED = 1
INTERRUPTED = 130  # the shell's convention for Ctrl-C
STOP_GRACE = 10.0  # seconds a child process group asked to stop (as Ctrl-C asks) may take before it is killed


class ArgumentError(ConfigError):
    """A bad command-line argument: ``argument error: --sizes = -5: allowed: ...``."""

    PREFIX = "argument error: "

    def __init__(self, text: str) -> None:
        super().__init__(text if text.startswith(self.PREFIX) else self.PREFIX + text)  # as pickle rebuilds it


class Failure(Exception):
    """An environment failure, already said in one line: what failed and where."""


class Stopped(KeyboardInterrupt):
    """A command told to stop by a signal other than Ctrl-C (SIGTERM): unwinds as Ctrl-C does, so whatever
    cleans up after Ctrl-C (a worker launcher killing its workers, temporary folders removed) does it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"stopped: terminated ({signal.Signals(self.signum).name})"


def _raise_stopped(signum: int, frame: Any) -> None:
    raise Stopped(signum)


@contextmanager
def stopping_on_sigterm() -> Iterator[None]:
    """SIGTERM raises ``Stopped`` in the main thread while the block runs (unless SIGTERM is already handled)."""
    ours = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if ours:
        signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    finally:
        if ours:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def reason(err: BaseException) -> str:
    """Why an operation failed, briefly: an OSError's errno text (``no space left on device``), else its first line."""
    if isinstance(err, OSError) and err.errno:
        text = os.strerror(err.errno)
    elif isinstance(err, FileNotFoundError):  # some readers (pyarrow) give only the path
        text = os.strerror(errno.ENOENT)
    else:
        lines = str(err).strip().splitlines()
        text = lines[0] if lines else type(err).__name__
    text = one_line(text)
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def describe(err: BaseException, doing: str | None = None, where: Any = None) -> str:
    """One line: ``error: writing results/x/seed=3: no space left on device``."""
    where = where if where is not None else getattr(err, "filename", None)
    head = " ".join(str(p) for p in (doing, where) if p is not None)
    return f"error: {head}: {reason(err)}" if head else f"error: {reason(err)}"


@contextmanager
def failing_as(doing: str, where: Path | str) -> Iterator[None]:
    """Turn an ``OSError`` in the block into a ``Failure`` saying what was being done and where."""
    try:
        yield
    except OSError as err:
        raise Failure(describe(err, doing, where)) from err


def exit_status(code: int | None) -> str:
    """A child's exit code in words: ``exit code 1``, ``killed by SIGKILL``."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def launcher_failure(err: BaseException) -> Failure | None:
    """A dead worker or failed cluster job reported by a launcher (joblib, submitit, Ray), in one line."""
    from concurrent.futures import BrokenExecutor

    text = str(err)
    if isinstance(err, BrokenExecutor):  # joblib's (loky's) word for a worker process that died
        codes = re.search(r"exit codes? of the workers? (?:are|is) (\{[^}]*\})", text)
        died = f"a worker process died{f' (exit codes {codes[1]})' if codes else ''}"
        return Failure(f"error: {died}; run the same command again to finish the sweep")
    if not type(err).__module__.startswith(("submitit", "ray")):
        return None
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    ours = [m[1] for ln in lines if (m := re.search(r"\b((?:config |argument )?error: .*)", ln))]
    said = ours[-1] if ours else (lines[0] if lines else type(err).__name__)  # the worker's own line, if it said one
    return Failure(f"error: a worker failed ({type(err).__name__}): {said[:300]}")


def stop(line: str, code: int) -> None:
    print(one_line(line), file=sys.stderr, flush=True)
    sys.exit(code)


def command(main: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command's ``main`` under the rule: one line on stderr, exit 2 for bad input, 1 for a failure."""

    @functools.wraps(main)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            with stopping_on_sigterm():
                return main(*args, **kwargs)
        except ConfigError as err:
            stop(str(err), BAD_INPUT)
        except Failure as err:
            stop(str(err), FAILED)
        except OSError as err:
            stop(describe(err), FAILED)
        except MemoryError:
            stop("error: out of memory", FAILED)
        except Stopped as err:
            stop(str(err), 128 + err.signum)
        except KeyboardInterrupt:
            stop("interrupted", INTERRUPTED)
        except Exception as err:
            failure = launcher_failure(err)
            if failure is None:
                raise  # a bug: its traceback is what a developer needs
            stop(str(failure), FAILED)

    return run


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line naming the argument and what is allowed, with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = re.sub(r"^argument (\S+): = ", r"\1 = ", message)  # from ``number``: ``--sizes = -5: ...``
        message = re.sub(r"^argument (\S+): ", r"\1: ", message)
        if message.startswith("unrecognized arguments"):
            options = [max(a.option_strings, key=len) for a in self._actions if a.option_strings and a.dest != "help"]
            message += f" (allowed: {', '.join(options)})"
        stop(f"argument error: {message}", BAD_INPUT)


def number(kind: type = int, low: float | None = None, high: float | None = None) -> Callable[[str], Any]:
    """An argparse ``type``: a ``kind`` (int or float) with ``low ≤ value ≤ high``; a bad value names the range."""
    noun = "an integer" if kind is int else "a number"
    bounds = f"{'' if low is None else f'{low} ≤ '}value{'' if high is None else f' ≤ {high}'}"
    allowed = f"allowed: {noun}, {bounds}" if low is not None or high is not None else f"allowed: {noun}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None
            or (isinstance(value, float) and not math.isfinite(value))
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise argparse.ArgumentTypeError(f"= {text}: {allowed}")
        return value

    parse.__name__ = noun
    return parse


def existing(kind: str = "folder") -> Callable[[str], Path]:
    """An argparse ``type``: a path to an existing folder or file."""

    def parse(text: str) -> Path:
        path = Path(text)
        if not (path.is_dir() if kind == "folder" else path.is_file()):
            raise argparse.ArgumentTypeError(f"= {text}: no such {kind}")
        return path

    parse.__name__ = kind
    return parse


def _exit_code(pid: int, timeout: float | None = None) -> int | None:
    """Wait until the child ``pid`` has exited, without reaping it (its process group cannot be reused meanwhile);
    its exit code (``-N``: killed by signal N), or None if it still runs after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if info is not None and info.si_pid:
            return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        if deadline is not None and time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def group_members(pgid: int) -> list[int] | None:
    """The live processes of the process group ``pgid`` (zombies aside), from /proc; None without /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        state, _, group = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state not in "ZX":
            members.append(int(entry.name))
    return members


def _end_group(pgid: int, linger: float = 3.0) -> None:
    """Kill what is left of a process group whose leader has exited (not yet reaped), after ``linger`` seconds
    for helpers that leave by themselves (loky's resource tracker, cleaning up) to do so."""
    deadline = time.monotonic() + linger
    while (members := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if members != []:
        _signal_group(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 2.0  # gone by the time this returns
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)


def run_child(cmd: list[str], grace: float = STOP_GRACE) -> subprocess.CompletedProcess:
    """Run ``cmd`` (stdout discarded, stderr kept) in a process group of its own, which its workers join.

    If this command is stopped (Ctrl-C, SIGTERM) the group is asked to stop as Ctrl-C asks (SIGINT), given
    ``grace`` seconds, then killed; if the child fails, what is left of its group is killed. Either way no
    process it started outlives it (nor writes a run folder afterwards).
    """
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, process_group=0)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.append(child.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    clean = False
    try:
        try:
            clean = _exit_code(child.pid) == 0
        except BaseException:
            _signal_group(child.pid, signal.SIGINT)
            if _exit_code(child.pid, grace) is None:
                _signal_group(child.pid, signal.SIGKILL)  # it did not stop in time
            raise
    finally:
        if not clean:
            _end_group(child.pid)  # what is left of it: workers, their helpers
        child.wait()
        reader.join(timeout=None if clean else 5)
    return subprocess.CompletedProcess(cmd, child.returncode, None, said[0] if said else "")
