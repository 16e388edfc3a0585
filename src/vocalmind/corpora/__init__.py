"""Corpus readers: each turns a corpus, laid out as its authors distribute it, into a manifest."""

from __future__ import annotations

from typing import Any

from vocalmind.corpora.manifest import (
    COLUMNS,
    KEY,
    make_manifest,
    read_manifest,
    validate_manifest,
    write_manifest,
)

__all__ = [
    "COLUMNS",
    "KEY",
    "make_manifest",
    "read_manifest",
    "validate_manifest",
    "write_manifest",
    "read_corpus",
    "available_corpora",
    "summarize",
]

# The readers import the audio room (transcripts); loading them lazily keeps
# ``import vocalmind.corpora`` light and free of import cycles with vocalmind.audio.
_LAZY = {
    "read_corpus": "vocalmind.corpora.readers",
    "available_corpora": "vocalmind.corpora.readers",
    "summarize": "vocalmind.corpora.summary",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vocalmind.corpora' has no attribute {name!r}")
