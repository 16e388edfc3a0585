"""Tiny random-weight Whisper models written by the tests, in every on-disk format the
loaders accept (no weights are downloaded; the real packages are tested where installed).

A module of its own (not conftest) so tests import it by a name no other folder uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

TINY = dict(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
            num_mel_bins=80, max_source_positions=1500, decoder_layers=1,
            decoder_attention_heads=2, decoder_ffn_dim=32)


def tiny_hf_whisper(seed: int = 0):  # noqa: ANN201 - transformers.WhisperModel
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(seed)
    model = WhisperModel(WhisperConfig(**TINY)).eval()
    # random biases everywhere (the default init zeroes them, which would hide mapping errors)
    with torch.no_grad():
        for name, p in model.encoder.named_parameters():
            if name.endswith("bias") or "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def write_ct2(folder: Path, encoder: torch.nn.Module, *, dtype: str = "float16") -> Path:
    """The encoder's weights as a CTranslate2 folder (fused QKV, gamma/beta names)."""
    from vocalmind.encoders.ctranslate2_format import write_ct2_variables

    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().numpy() for k, v in encoder.state_dict().items()}
    cast = (lambda a: a.astype(dtype)) if dtype != "float32" else (lambda a: a.astype("float32"))
    v: dict[str, np.ndarray] = {"decoder/activation": np.array(1, dtype="i1")}
    v["encoder/conv1/weight"] = cast(sd["conv1.weight"])
    v["encoder/conv1/bias"] = cast(sd["conv1.bias"])
    v["encoder/conv2/weight"] = cast(sd["conv2.weight"])
    v["encoder/conv2/bias"] = cast(sd["conv2.bias"])
    n = TINY["encoder_layers"]
    for i in range(n):
        p, q = f"layers.{i}.", f"encoder/layer_{i}/"
        d = TINY["d_model"]
        v[q + "self_attention/linear_0/weight"] = cast(np.concatenate(
            [sd[p + f"self_attn.{x}_proj.weight"] for x in "qkv"]))
        v[q + "self_attention/linear_0/bias"] = cast(np.concatenate(
            [sd[p + "self_attn.q_proj.bias"], np.zeros(d, "float32"), sd[p + "self_attn.v_proj.bias"]]))
        v[q + "self_attention/linear_1/weight"] = cast(sd[p + "self_attn.out_proj.weight"])
        v[q + "self_attention/linear_1/bias"] = cast(sd[p + "self_attn.out_proj.bias"])
        v[q + "self_attention/layer_norm/gamma"] = cast(sd[p + "self_attn_layer_norm.weight"])
        v[q + "self_attention/layer_norm/beta"] = cast(sd[p + "self_attn_layer_norm.bias"])
        v[q + "ffn/linear_0/weight"] = cast(sd[p + "fc1.weight"])
        v[q + "ffn/linear_0/bias"] = cast(sd[p + "fc1.bias"])
        v[q + "ffn/linear_1/weight"] = cast(sd[p + "fc2.weight"])
        v[q + "ffn/linear_1/bias"] = cast(sd[p + "fc2.bias"])
        v[q + "ffn/layer_norm/gamma"] = cast(sd[p + "final_layer_norm.weight"])
        v[q + "ffn/layer_norm/beta"] = cast(sd[p + "final_layer_norm.bias"])
    v["encoder/layer_norm/gamma"] = cast(sd["layer_norm.weight"])
    v["encoder/layer_norm/beta"] = cast(sd["layer_norm.bias"])
    v["encoder/num_heads"] = np.array(TINY["encoder_attention_heads"], dtype="<i2")
    v["encoder/position_encodings/encodings"] = cast(sd["embed_positions.weight"])
    write_ct2_variables(folder / "model.bin", "WhisperSpec", v)
    (folder / "config.json").write_text(json.dumps({"alignment_heads": [[0, 0]]}))
    return folder


def write_openai(path: Path, encoder: torch.nn.Module, *, with_positions: bool = True) -> Path:
    """The encoder's weights as an OpenAI Whisper checkpoint (dims + model_state_dict)."""
    sd = encoder.state_dict()
    names = {"self_attn.q_proj": "attn.query", "self_attn.k_proj": "attn.key",
             "self_attn.v_proj": "attn.value", "self_attn.out_proj": "attn.out",
             "self_attn_layer_norm": "attn_ln", "fc1": "mlp.0", "fc2": "mlp.2",
             "final_layer_norm": "mlp_ln"}
    out = {"encoder.conv1.weight": sd["conv1.weight"], "encoder.conv1.bias": sd["conv1.bias"],
           "encoder.conv2.weight": sd["conv2.weight"], "encoder.conv2.bias": sd["conv2.bias"],
           "encoder.ln_post.weight": sd["layer_norm.weight"],
           "encoder.ln_post.bias": sd["layer_norm.bias"]}
    if with_positions:
        out["encoder.positional_embedding"] = sd["embed_positions.weight"]
    for k, t in sd.items():
        if k.startswith("layers."):
            _, i, rest = k.split(".", 2)
            mod, kind = rest.rsplit(".", 1)
            out[f"encoder.blocks.{i}.{names[mod]}.{kind}"] = t
    dims = {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": TINY["d_model"],
            "n_audio_head": TINY["encoder_attention_heads"], "n_audio_layer": TINY["encoder_layers"]}
    torch.save({"dims": dims, "model_state_dict": out}, path)
    return path
