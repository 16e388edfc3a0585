"""What a feature set is: a pure function of a 16 kHz mono signal, plus its feature names.

The extraction engine (:mod:`vocalmind.features.extract`) does files, segments, workers,
caching and failure handling once for every set; a set supplies only this.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vocalmind.errors import ConfigError


class FeatureSet(ABC):
    """A named, parameterised feature extractor over one signal.

    Subclasses set ``name`` and implement :meth:`names` and :meth:`process_signal`; all
    settings go through the constructor and are reported by :meth:`settings` (they key the
    cache, together with the input content and the vocalmind version).
    """

    name: str = ""
    #: input sample rate the set expects (Hz); the engine resamples to it
    sample_rate: int = 16_000
    #: modules whose source computes the set (default: the module defining the class; a
    #: package means every file in it); their digest keys the cache (:meth:`code_digest`)
    code_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    def settings(self) -> dict[str, Any]:
        """All settings that change the output (JSON-serialisable)."""
        return {"name": self.name, **self.params}

    def code_digest(self) -> str:
        """SHA-256 (hex) of the source files that compute this set.

        Part of the feature cache key, so features computed by an earlier implementation
        are never served after the code changed (the package version alone does not move
        between releases).
        """
        return source_digest(self.code_modules or (type(self).__module__,))

    @abstractmethod
    def names(self) -> list[str]:
        """Feature names, in output order; ``len(names()) == n_features``."""

    @abstractmethod
    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Compute the features of one signal.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), dtype=float32], mono signal in [-1, 1]
        sr : sample rate in Hz (== ``self.sample_rate``)

        Returns
        -------
        np.ndarray [shape=(n_features,), dtype=float64]; NaN where a feature is undefined

        Raises
        ------
        vocalmind.errors.FeatureError
            If the signal cannot give meaningful features (e.g. too few voiced frames).
        """


_REGISTRY: dict[str, Callable[..., FeatureSet]] = {}


def register(name: str) -> Callable[[type[FeatureSet]], type[FeatureSet]]:
    """Class decorator that makes a feature set available by name."""

    def deco(cls: type[FeatureSet]) -> type[FeatureSet]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def get_feature_set(name: str, **params: Any) -> FeatureSet:
    """Instantiate a registered feature set by name, e.g. ``get_feature_set("egemaps")``.

    Raises
    ------
    vocalmind.errors.ConfigError
        If ``name`` is not registered; the message lists the available sets.
    """
    _load_builtin_sets()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown feature set {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        ) from None
    return factory(**params)


def available_feature_sets() -> list[str]:
    """Names of all registered feature sets."""
    _load_builtin_sets()
    return sorted(_REGISTRY)


def _load_builtin_sets() -> None:
    # Importing the modules registers their sets; done lazily so `import vocalmind` stays fast.
    import importlib

    for mod in ("vocalmind.features.opensmile_sets", "vocalmind.features.logmel",
                "vocalmind.features.clinical", "vocalmind.features.encoders",
                "vocalmind.features.fusion"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


@functools.lru_cache(maxsize=64)
def source_digest(modules: tuple[str, ...]) -> str:
    """SHA-256 (hex) over the source of ``modules`` (a package: all ``.py`` files under it),
    read once per process."""
    h = hashlib.sha256()
    for mod in modules:
        spec = importlib.util.find_spec(mod)
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        if origin is None or not origin.is_file():
            h.update(f"{mod}:unknown".encode())
            continue
        files = (sorted(origin.parent.rglob("*.py"))
                 if spec.submodule_search_locations is not None else [origin])
        for f in files:
            h.update(f.relative_to(origin.parent).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()
