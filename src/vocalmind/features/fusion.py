"""Several feature sets computed on the same signal and joined into one row: ``fusion``.

Each part is any registered set with its own parameters; the row is their concatenation,
in order. Column names carry the part's name as a prefix (``whisper_...``, ``speaker_...``,
``compare_...``) so that a model can tell the blocks apart (late fusion in
:class:`vocalmind.models.fusion.FusionClassifier`, in-fold block selection).

Examples
--------
>>> from vocalmind.features import get_feature_set
>>> fs = get_feature_set("fusion", sets=[{"set": "egemaps"}, {"set": "logmel"}])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vocalmind.errors import ConfigError
from vocalmind.features.base import FeatureSet, get_feature_set, register

__all__ = ["FusionSet", "block_of"]


def _prefixed(set_name: str, names: list[str]) -> list[str]:
    return [n if n.startswith(f"{set_name}_") else f"{set_name}_{n}" for n in names]


def block_of(column: str, blocks: list[str]) -> str | None:
    """The block a column belongs to: the longest of ``blocks`` that prefixes it."""
    hits = [b for b in blocks if column.startswith(b)]
    return max(hits, key=len) if hits else None


@register("fusion")
class FusionSet(FeatureSet):
    """Concatenation of several feature sets.

    Parameters
    ----------
    sets : list of ``{"set": name, "params": {...}}`` (or plain names); at least two, all
        at the same sample rate, each set at most once

    Notes
    -----
    Output: the parts' features in order; a part whose name does not already start with
    ``<set>_`` gets that prefix.
    """

    def __init__(self, sets: list[Any] | None = None) -> None:
        specs = []
        for s in sets or []:
            if isinstance(s, str):
                s = {"set": s}
            if not isinstance(s, Mapping) or "set" not in s or set(s) - {"set", "params"}:
                raise ConfigError(f"fusion: each part is {{set: NAME, params: {{...}}}}, got {s!r}")
            specs.append({"set": str(s["set"]), "params": dict(s.get("params") or {})})
        names = [s["set"] for s in specs]
        if len(specs) < 2 or len(set(names)) != len(names) or "fusion" in names:
            raise ConfigError(f"fusion: needs at least two different sets (not fusion), got {names}")
        super().__init__(sets=specs)
        try:
            self.parts = [get_feature_set(s["set"], **s["params"]) for s in specs]
        except TypeError as e:
            raise ConfigError(f"fusion: bad parameters: {e}") from None
        except ValueError as e:
            raise ConfigError(f"fusion: {e}") from None
        rates = {p.sample_rate for p in self.parts}
        if len(rates) != 1:
            raise ConfigError(f"fusion: parts need one sample rate, got {sorted(rates)}")
        self.sample_rate = rates.pop()

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "sets": [p.settings() for p in self.parts]}

    def code_digest(self) -> str:
        """Digest over this module's and every part's code digest."""
        import hashlib

        from vocalmind.features.base import source_digest

        own = source_digest((type(self).__module__,))
        return hashlib.sha256("".join([own, *(p.code_digest() for p in self.parts)])
                              .encode()).hexdigest()

    def names(self) -> list[str]:
        return [n for p in self.parts for n in _prefixed(p.name, p.names())]

    def weights(self) -> list[dict[str, str]]:
        """The pretrained weights the parts need (see ``_EncoderSet.weights``)."""
        out: list[dict[str, str]] = []
        for p in self.parts:
            w = getattr(p, "weights", None)
            if callable(w):
                out.extend(w())
        return out

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        return np.concatenate([np.asarray(p.process_signal(y, sr), dtype=np.float64)
                               for p in self.parts])
