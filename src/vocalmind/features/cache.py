"""An opt-in on-disk cache of feature vectors, keyed by content and every setting.

The key hashes (SHA-256) the recording's *content* (not its path), the segment bounds, the
feature set's settings and the digest of the source that computes it
(:meth:`FeatureSet.code_digest`), the preprocessing settings and ``vocalmind.__version__``;
so a renamed file still hits, an edited file, a changed setting or changed feature code
misses, and an upgrade of vocalmind starts afresh. (audinterface's cache keys on the index alone and silently serves
stale features after a settings change; this is the bug avoided.)

Values are ``.npy`` files written atomically (temporary name, then rename), so an
interrupted run leaves only whole entries behind and a re-run recomputes just the rest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vocalmind.files import atomic_path

__all__ = ["FeatureCache", "file_digest", "cache_key"]

_CHUNK = 1 << 20  # 1 MiB reads: content hashing streams, never loads a whole file
_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's content, memoised per (path, size, mtime) within the process.

    Parameters
    ----------
    path : path of the file

    Returns
    -------
    str, 64 hex digits

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    p = os.path.abspath(os.fspath(path))
    st = os.stat(p)
    memo_key = (p, st.st_size, st.st_mtime_ns)
    with _DIGESTS_LOCK:
        hit = _DIGESTS.get(memo_key)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with _DIGESTS_LOCK:
        _DIGESTS[memo_key] = digest
    return digest


def _bound(x: float | None) -> float | None:
    # NaN/None both mean "file edge"; JSON has no NaN, and -0.0/0 must not differ
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), 6) + 0.0


def cache_key(
    content_digest: str,
    *,
    start: float | None,
    end: float | None,
    feature_settings: dict[str, Any],
    preprocess_settings: dict[str, Any],
) -> str:
    """Cache key of one (recording, segment, settings) combination.

    Parameters
    ----------
    content_digest : str, :func:`file_digest` of the recording
    start, end : float or None, segment bounds in seconds (None/NaN = file edge)
    feature_settings : dict, :meth:`FeatureSet.settings` (JSON-serialisable)
    preprocess_settings : dict, the preprocessing settings (JSON-serialisable)

    Returns
    -------
    str, 64 hex digits
    """
    from vocalmind import __version__

    payload = {
        "content": content_digest,
        "start": _bound(start),
        "end": _bound(end),
        "features": feature_settings,
        "preprocess": preprocess_settings,
        "vocalmind": __version__,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FeatureCache:
    """Feature vectors stored as ``<directory>/<ab>/<key>.npy``.

    Parameters
    ----------
    directory : folder of the cache (created on first write)

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> c = FeatureCache(tempfile.mkdtemp())
    >>> c.put("ab" * 32, np.arange(3.0))
    >>> c.get("ab" * 32, n_features=3)
    array([0., 1., 2.])
    >>> c.get("cd" * 32) is None
    True
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` lives."""
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str, *, n_features: int | None = None) -> np.ndarray | None:
        """The cached vector of ``key``, or None if absent, unreadable or of the wrong length."""
        path = self.path(key)
        try:
            value = np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError, EOFError):
            # a missing or damaged entry is simply a miss; put() will overwrite it
            return None
        if value.ndim != 1 or (n_features is not None and value.shape[0] != n_features):
            return None
        return value

    def put(self, key: str, value: np.ndarray) -> None:
        """Store ``value`` [shape=(n_features,)] under ``key`` atomically."""
        with atomic_path(self.path(key)) as tmp, open(tmp, "wb") as f:
            # a file handle, because np.save would append ".npy" to the temporary name
            np.save(f, np.asarray(value, dtype=np.float64), allow_pickle=False)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.npy")) if self.directory.is_dir() else 0
