"""Corpus readers: each turns a corpus, laid out as its authors distribute it, into a manifest."""

from vocalmind.corpora.manifest import (
    COLUMNS,
    KEY,
    make_manifest,
    read_manifest,
    validate_manifest,
    write_manifest,
)

__all__ = ["COLUMNS", "KEY", "make_manifest", "read_manifest", "validate_manifest", "write_manifest"]
