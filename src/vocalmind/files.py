"""Writing outputs safely: everything goes to a temporary name, then is renamed into place.

An interrupted run therefore never leaves a half-written file that looks whole. The file
gets the permissions an ordinary ``open(path, "w")`` would give (``0o666`` less the
process umask), not the ``0o600`` of a private temporary file, so colleagues sharing a
server read runs as the umask allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux
    ``/proc/self/status``); elsewhere set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "x.txt").read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # the writer may have replaced it; mkstemp made it 0o600
            os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def check_writable(path: str | Path, *, what: str = "output", folder: bool = False) -> Path:
    """Fail at once, not after hours of work, when ``path`` cannot be written.

    The folder that will hold ``path`` (its parent; for ``folder=True`` the parent too, as
    run folders are built beside their final name) is created if missing, and a temporary
    file is created and removed in it: a real attempt, so it also holds for root, read-only
    mounts and full quotas.

    Raises
    ------
    ConfigError
        Naming the path, what it is for and why it cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_writable(d / "sub" / "features.parquet").name
    'features.parquet'
    """
    from vocalmind.errors import ConfigError

    path = Path(path).expanduser()
    if not folder and path.is_dir():
        raise ConfigError(f"{what} {path.absolute()} is a folder; give a file name")
    parent = path.absolute().parent
    existing = next((a for a in (parent, *parent.parents) if a.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"{what} {path.absolute()} cannot be written: {existing} is a file, "
                          "not a folder; choose another place")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".vocalmind-write-check.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(f"{what} {path.absolute()} cannot be written ({reason} in "
                          f"{e.filename or parent}); choose another place") from None
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically; numpy scalars and NaN are converted."""
    return write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_table(df: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    """Write a table atomically as CSV or Parquet, chosen by the suffix of ``path``.

    Raises
    ------
    ValueError
        If the suffix is neither ``.csv`` nor ``.parquet``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet"}:
        from vocalmind.errors import ConfigError

        raise ConfigError(f"{path}: unsupported table format {suffix!r}; use .csv or .parquet")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            df.to_csv(tmp, index=index)
        else:
            df.to_parquet(tmp, index=index)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table written by :func:`write_table`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)
