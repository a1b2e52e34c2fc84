"""Claims: a sweep's run is claimed before it starts, so concurrent launchers of one sweep share the work.

A claim is an exclusive ``flock`` on ``.<run key>.claim``, beside the run's temporary folders, held
while the run is computed and written; the file (its owner's host and pid, for messages) is removed
when the run ends. A run whose claim is held is left to its owner. The lock is the operating
system's: it is released when its owner's process ends however it ends (SIGKILL included), so a
claim left by a killed process never blocks a rerun, whatever its age.

What this relies on: ``flock`` honoured by every machine that writes the results folder. It is on a
local disk, and on NFS (the Linux client maps ``flock`` to NFS locks: NFSv4, or NFSv3 with the lock
manager), where the server frees the locks of a machine that is gone when its lease runs out (about
90 s). On a filesystem without shared locks (NFS mounted ``nolock`` or ``local_lock=all``, Lustre
without ``-o flock``) machines do not see each other's claims: two of them may both run a run; nothing
is lost or counted twice (the first complete copy wins), the work is done twice. Where locking fails
outright (``ENOLCK``), runs go ahead unclaimed, and leave other processes' temporary folders alone.

A process forked by the owner (a worker pool's process) does not share its claims: it closes their files
at once, so the claim still ends with its owner even if such a child outlives it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
_HELD: set[int] = set()  # the descriptors of the claims this process holds


def _not_in_child() -> None:
    """In a forked child: close the parent's claim files (a lock is shared by every copy of its descriptor)."""
    for fd in _HELD:
        with suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_not_in_child)


def claim_path(dest: Path) -> Path:
    """``<sweep>/.<run key>.claim``: hidden, so never taken for a run."""
    return dest.parent / f".{dest.name}.claim"


@dataclass
class Claim:
    """The outcome of claiming a run: ours (``held``), another live process's (``owner``), or unclaimable."""

    path: Path
    held: bool
    owner: str = ""  # "pid 123 on host" of the live owner, when the claim is another's
    supported: bool = True


def _same_file(fd: int, path: Path) -> bool:
    """The locked file is still the claim file (not one its owner removed when it finished)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _owner(path: Path) -> str:
    try:
        who = json.loads(path.read_text())
        return f"pid {who['pid']} on {who['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""  # being written or removed right now


def _lock(path: Path) -> int | Claim:
    """Open and lock the claim file: its descriptor, or the ``Claim`` that says why not."""
    for _ in range(100):  # each retry follows an owner that finished between our open and our lock
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return Claim(path, held=False, owner=_owner(path))
        except OSError as err:
            os.close(fd)
            if err.errno in UNSUPPORTED:
                return Claim(path, held=False, supported=False)
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)
    raise OSError(errno.EAGAIN, "claim file keeps changing", str(path))


@contextmanager
def claim(dest: Path) -> Iterator[Claim]:
    """Claim the run that writes ``dest`` for the block; ``held`` says whether it is ours.

    Not ours: another live process holds it (``owner``), or this filesystem cannot lock
    (``supported`` false). Ours: released, and its file removed, when the block ends.
    """
    path = claim_path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _lock(path)
    if isinstance(fd, Claim):
        yield fd
        return
    _HELD.add(fd)
    try:
        with suppress(OSError):  # who holds it is for messages only; a full disk must not stop the run here
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode())
        yield Claim(path, held=True)
    finally:
        if fd in _HELD:  # not in a forked child: that closed its copy at the fork, and the claim is not its own
            _HELD.discard(fd)
            # remove, then unlock: whoever locks the old file next sees it is no longer the claim file
            with suppress(OSError):
                os.unlink(path)
            os.close(fd)
