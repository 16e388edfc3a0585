"""vocalmind: emotion, depression and anxiety measurement from speech.

Outputs about depression or anxiety are research measurements, not diagnoses.

The main entry points are available from the package itself and imported on first use,
so ``import vocalmind`` stays fast::

    import vocalmind

    cfg = vocalmind.load_config("examples/emodb-egemaps-svm.yaml",
                                overrides=["corpus.root=../shared/data/emodb"])
    run = vocalmind.run_experiment(cfg, out="runs/emodb")
    table = vocalmind.extract_features(["a.wav", "b.wav"], "egemaps").features
    answers = vocalmind.assess(["new.wav"], run.run_dir)

Scripts need no ``if __name__ == "__main__":`` guard: worker processes never re-run the
calling script.
"""

from __future__ import annotations

import importlib
from typing import Any

from vocalmind.errors import VocalmindError

__version__ = "0.1.0"
SAMPLE_RATE = 16_000  # Hz; every internal signal is 16 kHz mono float32

#: entry point -> the module that defines it (imported on first use, by name, so the
#: package facade adds no import edge back into the rooms that import ``vocalmind``)
_LAZY = {
    "run_experiment": "vocalmind.experiment",
    "load_config": "vocalmind.config",
    "extract_features": "vocalmind.features.extract",
    "assess": "vocalmind.assess",
    "load_model": "vocalmind.runs",
    "read_manifest": "vocalmind.corpora.manifest",
    "read_corpus": "vocalmind.corpora.readers",
}

__all__ = ["VocalmindError", "SAMPLE_RATE", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vocalmind' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
