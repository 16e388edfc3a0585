"""Fixtures: the tiny random-weight encoders of :mod:`_tiny_models`, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _tiny_models import tiny_hf_whisper, write_ct2, write_openai


@pytest.fixture(scope="session")
def tiny_whisper_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same tiny random Whisper in the three on-disk formats, plus the HF reference."""
    root = tmp_path_factory.mktemp("whisper")
    hf = tiny_hf_whisper()
    hf.save_pretrained(root / "hf")
    return {"hf": root / "hf", "ct2": write_ct2(root / "ct2", hf.encoder, dtype="float32"),
            "ct2_fp16": write_ct2(root / "ct2_fp16", hf.encoder),
            "openai": write_openai(root / "tiny.pt", hf.encoder)}


@pytest.fixture(scope="session")
def tiny_ge2e(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight GE2E checkpoint laid out as Resemblyzer's (stacked LSTM + linear)."""
    torch.manual_seed(1)
    lstm, linear = torch.nn.LSTM(40, 256, num_layers=3, batch_first=True), torch.nn.Linear(256, 256)
    state = {**{f"lstm.{k}": v for k, v in lstm.state_dict().items()},
             **{f"linear.{k}": v for k, v in linear.state_dict().items()},
             "similarity_weight": torch.ones(1), "similarity_bias": torch.zeros(1)}
    path = tmp_path_factory.mktemp("ge2e") / "ge2e-random.pt"
    torch.save({"step": 0, "model_state": state}, path)
    return path
