"""Shared fixtures: small synthetic cohorts made from numpy signals (no corpus needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from _signals import voiced_tone

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def tone_cohort(tmp_path: Path) -> pd.DataFrame:
    """6 speakers x 2 classes x 3 recordings; class 'high' has twice the pitch and is louder.

    Also a ``phq9`` score that rises with pitch, for regression tests.
    """
    from vocalmind.corpora import make_manifest

    rows = []
    for s in range(6):
        base = 100 + 15 * s
        for cls, mult, loud in (("low", 1.0, 0.2), ("high", 2.0, 0.5)):
            for r in range(3):
                f0 = base * mult * (1 + 0.03 * r)
                path = tmp_path / f"spk{s}_{cls}_{r}.wav"
                sf.write(path, voiced_tone(f0, seed=100 * s + r, loud=loud), 16_000)
                rows.append({"file": str(path), "subject": f"S{s}", "emotion": cls,
                             "gender": "m" if s % 2 else "f",
                             "phq9": float(np.clip(round((f0 - 100) / 20), 0, 27))})
    return make_manifest(rows)


def write_tiny_wav2vec2(folder: Path) -> str:
    """A 2-layer, 32-wide random-weight wav2vec 2.0 model saved with ``save_pretrained``
    (seeded): the local SSL encoder of the ssl_attention tests. Returns the folder."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, conv_dim=(32, 32), conv_kernel=(10, 3),
                         conv_stride=(5, 2), num_conv_pos_embeddings=16,
                         num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    Wav2Vec2Model(cfg).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Folder of :func:`write_tiny_wav2vec2`'s model, written once per test session."""
    return write_tiny_wav2vec2(tmp_path_factory.mktemp("tiny_w2v"))
