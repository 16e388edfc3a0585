"""Pretrained speech encoders, loaded offline: Whisper's encoder and a GE2E speaker encoder.

Weights come from installed weight packages (the ``vocalmind[encoders]`` extra, pinned and
sha256-checked) or from local folders and files; nothing is ever downloaded. The feature sets
``whisper`` and ``speaker`` (:mod:`vocalmind.features.encoders`) and the ``ssl_attention``
family's Whisper backbone are built on this room.

Names are imported lazily so that ``import vocalmind.encoders`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_whisper_encoder": "vocalmind.encoders.whisper",
    "WhisperFeatureEncoder": "vocalmind.encoders.whisper",
    "whisper_log_mel": "vocalmind.encoders.whisper",
    "load_speaker_encoder": "vocalmind.encoders.speaker",
    "GE2EEncoder": "vocalmind.encoders.speaker",
    "packaged_weights": "vocalmind.encoders.weights",
    "PACKAGED": "vocalmind.encoders.weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'vocalmind.encoders' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
