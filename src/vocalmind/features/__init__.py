"""Features room: openSMILE sets, log-mel, clinical descriptors and the extraction engine.

Every feature set is a :class:`~vocalmind.features.base.FeatureSet` registered by name;
:func:`extract_features` runs one over many recordings (workers, cache, failures) and
returns a table indexed by (file, start, end), like the manifest.

Names are imported lazily so that ``import vocalmind.features.base`` (done by every set)
stays light and free of import cycles.

Examples
--------
>>> from vocalmind.features import available_feature_sets
>>> {"egemaps", "compare", "is09", "logmel"} <= set(available_feature_sets())
True
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FeatureSet": "vocalmind.features.base",
    "register": "vocalmind.features.base",
    "get_feature_set": "vocalmind.features.base",
    "available_feature_sets": "vocalmind.features.base",
    "extract_features": "vocalmind.features.extract",
    "ExtractionResult": "vocalmind.features.extract",
    "PreprocessSettings": "vocalmind.features.extract",
    "FeatureCache": "vocalmind.features.cache",
    "Executor": "vocalmind.features.executor",
    "LocalExecutor": "vocalmind.features.executor",
    "get_executor": "vocalmind.features.executor",
    "SpeakerStandardizer": "vocalmind.features.normalize",
    "normalize_per_speaker": "vocalmind.features.normalize",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # `logmel` is deliberately not re-exported here: it would shadow the submodule of the
    # same name; use `from vocalmind.features.logmel import logmel`
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'vocalmind.features' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
