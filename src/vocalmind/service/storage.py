"""Content-addressed audio on disk, written atomically.

A recording's bytes live at ``<root>/<sha[:2]>/<sha256>``: the same content uploaded twice
is stored once, and a path never changes meaning. Uploads are first spooled to a temporary
file (hashed and counted on the way, refused as soon as they pass the byte limit), then
checked, then moved into place with ``os.replace`` -- atomic on one file system, so a
reader never sees half a file and a crash leaves at most a stray temporary file.

Stray temporary files (a server killed with ``kill -9`` mid-upload) hold raw audio that no
participant owns. While a spooled upload is alive its process holds an exclusive
``flock`` on it; :meth:`AudioStore.sweep_orphans` (run at every start-up and hourly by the
worker) removes every ``upload-*.part`` whose lock it can take, i.e. whose owner is gone --
also when several server processes share the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vocalmind.errors import InputError

__all__ = ["AudioStore", "Spooled", "TooLargeError"]

CHUNK = 1 << 20


class TooLargeError(ValueError):
    """An upload passed the byte limit (the spooled part has been removed)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"upload larger than the limit of {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Spooled:
    """An upload written to a temporary file: its path, SHA-256 (hex) and size (bytes).

    ``lock_fd`` is an open descriptor holding the file's ``flock`` until :meth:`AudioStore.put`
    or :meth:`AudioStore.discard` releases it (so no sweep removes a live upload).
    """

    path: Path
    sha256: str
    n_bytes: int
    lock_fd: int = -1

    def release(self) -> None:
        """Close the lock descriptor (idempotent)."""
        if self.lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.lock_fd)
            object.__setattr__(self, "lock_fd", -1)


class AudioStore:
    """Content-addressed file store under ``root``.

    Parameters
    ----------
    root : folder of the store (created if missing)
    spool_dir : folder for temporary uploads; must be on the same file system as ``root``
        so that :meth:`put` is an atomic rename (default ``root/../uploads``)
    """

    def __init__(self, root: str | Path, *, spool_dir: str | Path | None = None) -> None:
        self.root = Path(root)
        self.spool_dir = Path(spool_dir) if spool_dir else self.root.parent / "uploads"
        self.root.mkdir(parents=True, exist_ok=True)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # put() and remove_if() of one content must not interleave within this process
        self.lock = threading.Lock()

    def relpath(self, sha256: str) -> str:
        """Path of a content relative to the store's parent folder (what the DB keeps)."""
        self._check_sha(sha256)
        return f"{self.root.name}/{sha256[:2]}/{sha256}"

    def path(self, sha256: str) -> Path:
        """Absolute path of a content."""
        self._check_sha(sha256)
        return self.root / sha256[:2] / sha256

    def spool(self, chunks: Iterable[bytes], *, max_bytes: int) -> Spooled:
        """Write ``chunks`` to a temporary file, hashing and counting them.

        Raises
        ------
        TooLargeError
            As soon as more than ``max_bytes`` arrive; the temporary file is removed.
        """
        while True:
            fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=self.spool_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:
                break
            os.close(fd)  # a sweep removed it between creation and lock: take another
        tmp = Path(name)
        lock_fd = os.dup(fd)  # the lock belongs to the open file, which this keeps open
        h, n = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    n += len(chunk)
                    if n > max_bytes:
                        raise TooLargeError(max_bytes)
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.close(lock_fd)
            raise
        return Spooled(tmp, h.hexdigest(), n, lock_fd)

    def put(self, spooled: Spooled) -> Path:
        """Move a spooled upload into the store (or drop it if the content is there already)."""
        target = self.path(spooled.sha256)
        with self.lock:
            if target.is_file():
                spooled.path.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(spooled.path, target)
        spooled.release()
        return target

    def discard(self, spooled: Spooled) -> None:
        """Remove a spooled upload that was refused."""
        spooled.path.unlink(missing_ok=True)
        spooled.release()

    def sweep_orphans(self) -> int:
        """Delete spooled uploads whose writer is gone (no process holds their lock).

        Returns the number of files removed.
        """
        removed = 0
        for part in sorted(self.spool_dir.glob("upload-*.part")):
            try:
                fd = os.open(part, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # a live upload of this or another process
                continue
            try:
                part.unlink(missing_ok=True)
                removed += 1
            finally:
                os.close(fd)
        return removed

    def remove(self, sha256: str) -> bool:
        """Delete a content's file; True if there was one (callers check references first)."""
        target = self.path(sha256)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        with contextlib.suppress(OSError):
            target.parent.rmdir()  # only succeeds when empty
        return True

    @staticmethod
    def _check_sha(sha256: str) -> None:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InputError(f"storage: not a lower-case hex SHA-256: {sha256[:80]!r}")
