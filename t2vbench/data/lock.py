"""One writer per dataset folder: an `fcntl.flock` on ROOT/.lock while make-dataset writes ROOT.

A whole run holds the lock exclusively, so a second run into the same folder (another config, or the
same one) is refused with one line instead of mixing its shards in. The slices of a cluster build
(`--num-shards`, `--finalize`) share it, so they can run side by side; slices of two configs are kept
apart by their slice records (build.py). The kernel releases the lock when its holder dies, so a
killed run never leaves the folder locked; the lock file goes with the last holder.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

from t2vbench.data.format import LOCK, os_reason
from t2vbench.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock
    fcntl = None


def _same_file(path: Path, fd: int) -> bool:
    """Whether `fd` still is the file at `path` (a holder unlinks it on release; a lock taken on the
    unlinked file would lock nothing)."""
    try:
        a, b = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class FolderLock:
    """`with FolderLock(root, shared=False):` holds ROOT/.lock; refuses at once if it is held."""

    def __init__(self, root, shared: bool = False, log=lambda msg: None):
        self.path = Path(root) / LOCK
        self.shared = shared
        self.log = log
        self.fd: int | None = None

    def __enter__(self):
        if fcntl is None:
            return self
        mode = (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, mode)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").strip()
                os.close(fd)
                who = f" (pid {holder})" if holder else " (a cluster slice)"
                raise UserError(f"another make-dataset run{who} is writing {self.path.parent}; wait for it to "
                                "finish, or choose another --out") from None
            except OSError as e:  # a file system without flock (some network mounts)
                os.close(fd)
                self.log(f"warning: cannot lock {self.path} ({os_reason(e)}); make sure no other make-dataset "
                         "run writes this folder at the same time")
                return self
            if _same_file(self.path, fd):
                break
            os.close(fd)
        self.fd = fd
        os.ftruncate(fd, 0)  # a killed holder's pid must not be named
        if not self.shared:
            os.pwrite(fd, f"{os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        return self

    def __exit__(self, *exc):
        fd, self.fd = self.fd, None
        if fd is None:
            return
        if not self.shared:
            self.path.unlink(missing_ok=True)  # while still holding it: no one can lock the old file
            os.close(fd)
            return
        os.close(fd)
        try:  # the last slice out removes the file
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(self.path, fd):
                self.path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(fd)
