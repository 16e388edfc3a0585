"""OpenAI Whisper's audio encoder as a frozen feature extractor, loaded offline.

The network is ``transformers``' :class:`~transformers.models.whisper.modeling_whisper.WhisperEncoder`
(built from a :class:`~transformers.WhisperConfig`); only the weights are mapped into it,
from any of the formats users have on disk:

* an installed weight package (``"base"``, ``"tiny.en"``; the ``vocalmind[encoders]`` extra),
* a CTranslate2 / faster-whisper folder (``model.bin`` + ``config.json``),
* a Hugging Face ``transformers`` Whisper folder (``config.json`` + ``*.safetensors``/``*.bin``),
* an OpenAI ``.pt`` checkpoint (``{"dims": ..., "model_state_dict": ...}``).

:class:`WhisperFeatureEncoder` runs the encoder on clips of any length up to 30 s without
padding them to 30 s (padding costs ~14x the time for ~1.5 UAR points on EMO-DB; it is
offered as ``pad_30s=True``) and returns every layer's hidden states. Longer recordings go
through in 30 s windows, so memory stays bounded.

Examples
--------
>>> import numpy as np, torch
>>> from transformers import WhisperConfig
>>> enc = WhisperFeatureEncoder(WhisperConfig(d_model=8, encoder_layers=2,
...     encoder_attention_heads=2, encoder_ffn_dim=16, num_mel_bins=80), name="tiny-random")
>>> mel = whisper_log_mel(np.zeros(16000, dtype="float32"))
>>> mel.shape
torch.Size([80, 100])
>>> [h.shape for h in enc(mel[None])]
[torch.Size([1, 50, 8]), torch.Size([1, 50, 8]), torch.Size([1, 50, 8])]
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vocalmind.encoders.weights import (
    INSTALL_HINT,
    PACKAGED,
    MultiPartReader,
    packaged_weights,
    sha256_files,
)
from vocalmind.errors import EncoderWeightsError, FeatureError

__all__ = ["WhisperFeatureEncoder", "load_whisper_encoder", "whisper_log_mel",
           "SAMPLE_RATE", "HOP_LENGTH", "WINDOW_SAMPLES", "FORMATS"]

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
#: Whisper's context: 30 s = 3000 mel frames = 1500 encoder positions
WINDOW_SAMPLES = 30 * SAMPLE_RATE

FORMATS = ("an installed weight package name (" + ", ".join(
    k for k in PACKAGED if k != "ge2e") + ")", "a CTranslate2/faster-whisper folder "
           "(model.bin + config.json)", "a Hugging Face transformers Whisper folder "
           "(config.json + model.safetensors or pytorch_model.bin)",
           "an OpenAI Whisper .pt checkpoint")


@functools.lru_cache(maxsize=4)
def _mel_filters(n_mels: int) -> torch.Tensor:
    import librosa

    # Whisper's filterbank is librosa's Slaney mel for a 400-point FFT at 16 kHz
    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels))


def whisper_log_mel(y: np.ndarray | torch.Tensor, *, n_mels: int = 80,
                    pad_30s: bool = False) -> torch.Tensor:
    """Whisper's log-mel front end.

    Hann-windowed 400-point STFT with hop 160 (10 ms) at 16 kHz, the last frame dropped,
    power through the Slaney mel filterbank, log10 floored at 1e-10, clamped to
    (max - 8) per signal, then ``(x + 4) / 4``.

    Parameters
    ----------
    y : array [shape=(n,) or (batch, n)], mono signal(s) at 16 kHz in [-1, 1]
    n_mels : 80 (every Whisper up to large-v2) or 128 (large-v3)
    pad_30s : pad with silence to 30 s before the transform, as Whisper's decoder needs
        (the clamp then sees the padding too)

    Returns
    -------
    torch.Tensor [shape=(n_mels, n_frames) or (batch, n_mels, n_frames), dtype=float32],
    ``n_frames = n // 160`` (3000 with ``pad_30s`` for clips up to 30 s)
    """
    x = y.detach().float() if isinstance(y, torch.Tensor) else torch.as_tensor(
        np.asarray(y, dtype=np.float32))
    if x.ndim not in (1, 2) or x.shape[-1] < HOP_LENGTH:
        raise FeatureError(f"whisper: need a mono signal of at least {HOP_LENGTH} samples "
                           f"(10 ms at 16 kHz), got shape {tuple(x.shape)}")
    n = x.shape[-1]
    if pad_30s:
        x = torch.nn.functional.pad(x, (0, WINDOW_SAMPLES))
    stft = torch.stft(x, N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT, device=x.device),
                      return_complex=True)
    power = stft[..., :-1].abs() ** 2
    log_spec = torch.clamp(_mel_filters(n_mels).to(x.device) @ power, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0)
    log_spec = (log_spec + 4.0) / 4.0
    n_frames = max(n, WINDOW_SAMPLES) // HOP_LENGTH if pad_30s else n // HOP_LENGTH
    return log_spec[..., :n_frames]


class WhisperFeatureEncoder(nn.Module):
    """Whisper's encoder returning every layer's hidden states (frozen by default).

    Parameters
    ----------
    config : transformers.WhisperConfig (d_model, encoder_layers, encoder_attention_heads,
        encoder_ffn_dim, num_mel_bins)
    name : what the weights are called (recorded in run folders)
    weights_sha256 : digest of the weight file(s) the parameters came from, or None

    Attributes
    ----------
    encoder : transformers' WhisperEncoder holding the parameters
    n_layers, dim : number of transformer blocks and width
    """

    def __init__(self, config: Any, *, name: str = "whisper",
                 weights_sha256: str | None = None) -> None:
        super().__init__()
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        config._attn_implementation = "sdpa"
        self.encoder = WhisperEncoder(config)
        self.name = name
        self.weights_sha256 = weights_sha256
        self.n_layers = int(config.encoder_layers)
        self.dim = int(config.d_model)
        self.n_mels = int(config.num_mel_bins)
        self.eval()

    @property
    def middle_layer(self) -> int:
        """The middle block (3 of 6 for base, 2 of 4 for tiny): the default feature layer."""
        return max(1, self.n_layers // 2)

    def forward(self, mel: torch.Tensor, up_to: int | None = None) -> list[torch.Tensor]:
        """Hidden states of one window.

        Parameters
        ----------
        mel : torch.Tensor [shape=(batch, n_mels, n_frames)], ``n_frames <= 3000``
        up_to : last block to run (0 = embeddings only; None = all, with the final layer
            norm applied to the last block's output, as Whisper does)

        Returns
        -------
        list of torch.Tensor [shape=(batch, ceil(n_frames / 2), dim)], index k = output of
        block k (0 = convolutional embeddings + positions); ``len = up_to + 1``
        """
        enc = self.encoder
        if mel.ndim != 3 or mel.shape[1] != self.n_mels:
            raise FeatureError(f"whisper: expected mel of shape (batch, {self.n_mels}, frames), "
                               f"got {tuple(mel.shape)}")
        max_frames = 2 * enc.embed_positions.num_embeddings
        if mel.shape[-1] > max_frames:
            raise FeatureError(f"whisper: a window holds at most {max_frames} frames (30 s), "
                               f"got {mel.shape[-1]}; use encode_signal, which windows")
        last = self.n_layers if up_to is None else int(up_to)
        if not 0 <= last <= self.n_layers:
            raise FeatureError(f"whisper: layer {last} does not exist (0..{self.n_layers})")
        h = nn.functional.gelu(enc.conv1(mel))
        h = nn.functional.gelu(enc.conv2(h)).permute(0, 2, 1)
        h = h + enc.embed_positions.weight[: h.shape[1]]
        states = [h]
        for k in range(last):
            h = enc.layers[k](h, None)
            if isinstance(h, tuple):  # older transformers return (hidden, attn)
                h = h[0]
            if k == self.n_layers - 1:
                h = enc.layer_norm(h)
            states.append(h)
        return states

    @torch.no_grad()
    def encode_signal(self, y: np.ndarray, *, layers: list[int],
                      pad_30s: bool = False) -> list[np.ndarray]:
        """Frame-level hidden states of a whole recording, 30 s window by window.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)], mono 16 kHz signal
        layers : which blocks to return (0..n_layers)
        pad_30s : pad each window to 30 s (Whisper's own input length); the padded frames
            are dropped from the output

        Returns
        -------
        list of np.ndarray [shape=(n_positions, dim), dtype=float32], one per layer, with
        ``n_positions = ceil(n_frames / 2)`` summed over windows (20 ms per position)
        """
        up_to = max(layers)
        chunks: list[list[np.ndarray]] = [[] for _ in layers]
        for start in range(0, len(y), WINDOW_SAMPLES):
            seg = y[start: start + WINDOW_SAMPLES]
            if len(seg) < HOP_LENGTH:
                break  # a tail under 10 ms has no frame
            mel = whisper_log_mel(seg, n_mels=self.n_mels, pad_30s=pad_30s)
            keep = math.ceil((len(seg) // HOP_LENGTH) / 2)
            states = self(mel[None], up_to=up_to)
            for i, layer in enumerate(layers):
                chunks[i].append(states[layer][0, :keep].float().numpy())
        if not chunks[0]:
            raise FeatureError(f"whisper: signal of {len(y)} samples is shorter than one "
                               f"10 ms frame")
        return [np.concatenate(c, axis=0) for c in chunks]


# --------------------------------------------------------------------------- loaders


def _config(d_model: int, layers: int, heads: int, ffn: int, n_mels: int, positions: int) -> Any:
    from transformers import WhisperConfig

    return WhisperConfig(d_model=d_model, encoder_layers=layers, encoder_attention_heads=heads,
                         encoder_ffn_dim=ffn, num_mel_bins=n_mels,
                         max_source_positions=positions, decoder_layers=1,
                         decoder_attention_heads=heads, decoder_ffn_dim=ffn)


def _from_ct2(parts: list[Path], name: str, sha: str) -> WhisperFeatureEncoder:
    from vocalmind.encoders.ctranslate2_format import read_ct2_variables

    with MultiPartReader(parts) as raw:
        import io

        spec, v = read_ct2_variables(io.BufferedReader(raw, 1 << 20),
                                     keep=lambda s: s.startswith("encoder/"), where=str(parts[0]))
    if spec != "WhisperSpec":
        raise EncoderWeightsError(f"{parts[0]}: a CTranslate2 {spec!r} model, not Whisper")
    n_layers = 1 + max(int(k.split("/")[1][6:]) for k in v
                       if k.startswith("encoder/layer_") and k.split("/")[1][6:].isdigit())
    d_model, n_mels, _ = v["encoder/conv1/weight"].shape
    ffn = v["encoder/layer_0/ffn/linear_0/weight"].shape[0]
    positions = v["encoder/position_encodings/encodings"].shape[0]
    heads = int(np.ravel(v["encoder/num_heads"])[0]) if "encoder/num_heads" in v else max(1, d_model // 64)
    model = WhisperFeatureEncoder(_config(d_model, n_layers, heads, ffn, n_mels, positions),
                                  name=name, weights_sha256=sha)

    def t(key: str) -> torch.Tensor:
        return torch.from_numpy(np.array(v[key], dtype=np.float32))

    sd: dict[str, torch.Tensor] = {
        "conv1.weight": t("encoder/conv1/weight"), "conv1.bias": t("encoder/conv1/bias"),
        "conv2.weight": t("encoder/conv2/weight"), "conv2.bias": t("encoder/conv2/bias"),
        "embed_positions.weight": t("encoder/position_encodings/encodings"),
        "layer_norm.weight": t("encoder/layer_norm/gamma"),
        "layer_norm.bias": t("encoder/layer_norm/beta"),
    }
    for i in range(n_layers):
        src, dst = f"encoder/layer_{i}", f"layers.{i}"
        # CTranslate2 fuses the query, key and value projections into one matrix
        qkv_w = t(f"{src}/self_attention/linear_0/weight")
        qkv_b = t(f"{src}/self_attention/linear_0/bias")
        for j, proj in enumerate(("q_proj", "k_proj", "v_proj")):
            sd[f"{dst}.self_attn.{proj}.weight"] = qkv_w[j * d_model:(j + 1) * d_model]
            if proj != "k_proj":  # Whisper's key projection has no bias (zeros in the file)
                sd[f"{dst}.self_attn.{proj}.bias"] = qkv_b[j * d_model:(j + 1) * d_model]
        pairs = {"self_attention/linear_1": "self_attn.out_proj",
                 "self_attention/layer_norm": "self_attn_layer_norm",
                 "ffn/linear_0": "fc1", "ffn/linear_1": "fc2", "ffn/layer_norm": "final_layer_norm"}
        for a, b in pairs.items():
            if a.endswith("layer_norm"):
                sd[f"{dst}.{b}.weight"] = t(f"{src}/{a}/gamma")
                sd[f"{dst}.{b}.bias"] = t(f"{src}/{a}/beta")
            else:
                sd[f"{dst}.{b}.weight"] = t(f"{src}/{a}/weight")
                sd[f"{dst}.{b}.bias"] = t(f"{src}/{a}/bias")
    model.encoder.load_state_dict(sd, strict=True)
    return model


def _sinusoids(length: int, channels: int) -> torch.Tensor:
    # OpenAI's fixed positional embedding, used when a checkpoint does not store it
    inc = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


def _from_openai(path: Path, sha: str) -> WhisperFeatureEncoder:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise EncoderWeightsError(f"{path}: not a readable OpenAI Whisper checkpoint ({e})") from None
    if not isinstance(ckpt, dict) or "dims" not in ckpt or "model_state_dict" not in ckpt:
        raise EncoderWeightsError(f"{path}: not an OpenAI Whisper checkpoint (expected the keys "
                                  "'dims' and 'model_state_dict')")
    dims, w = ckpt["dims"], ckpt["model_state_dict"]
    d, n_layers = int(dims["n_audio_state"]), int(dims["n_audio_layer"])
    model = WhisperFeatureEncoder(
        _config(d, n_layers, int(dims["n_audio_head"]),
                int(w["encoder.blocks.0.mlp.0.weight"].shape[0]), int(dims["n_mels"]),
                int(dims["n_audio_ctx"])), name=path.stem, weights_sha256=sha)
    pos = w.get("encoder.positional_embedding")
    sd = {"conv1.weight": w["encoder.conv1.weight"], "conv1.bias": w["encoder.conv1.bias"],
          "conv2.weight": w["encoder.conv2.weight"], "conv2.bias": w["encoder.conv2.bias"],
          "embed_positions.weight": pos if pos is not None else _sinusoids(
              int(dims["n_audio_ctx"]), d),
          "layer_norm.weight": w["encoder.ln_post.weight"],
          "layer_norm.bias": w["encoder.ln_post.bias"]}
    names = {"attn.query": "self_attn.q_proj", "attn.key": "self_attn.k_proj",
             "attn.value": "self_attn.v_proj", "attn.out": "self_attn.out_proj",
             "attn_ln": "self_attn_layer_norm", "mlp.0": "fc1", "mlp.2": "fc2",
             "mlp_ln": "final_layer_norm"}
    for i in range(n_layers):
        for a, b in names.items():
            for kind in ("weight", "bias"):
                key = f"encoder.blocks.{i}.{a}.{kind}"
                if key in w:
                    sd[f"layers.{i}.{b}.{kind}"] = w[key]
    model.encoder.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model


def _from_hf(folder: Path, sha: str) -> WhisperFeatureEncoder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub id would otherwise stall ~26 s
    from transformers import WhisperConfig, WhisperModel

    try:
        cfg = WhisperConfig.from_pretrained(str(folder), local_files_only=True)
        hf = WhisperModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        raise EncoderWeightsError(f"{folder}: cannot load a transformers Whisper model ({e})") from None
    model = WhisperFeatureEncoder(cfg, name=folder.name, weights_sha256=sha)
    model.encoder.load_state_dict(hf.encoder.state_dict(), strict=True)
    return model


_LOADED: dict[tuple[str, str], WhisperFeatureEncoder] = {}


def resolve_whisper_source(source: str | Path) -> tuple[str, str, list[Path]]:
    """Which weights ``source`` names: ``(kind, name, files)``.

    ``kind`` is ``"ct2"``, ``"hf"`` or ``"openai"``; ``files`` are the weight files whose
    sha256 identifies the model (parts in order for split packages).

    Raises
    ------
    EncoderWeightsError
        Nothing loadable there; the message lists the accepted formats.
    """
    s = str(source)
    if s in PACKAGED and s != "ge2e":
        parts, _ = packaged_weights(s)
        return "ct2", s, parts
    p = Path(s).expanduser()
    if p.is_file() and p.suffix == ".pt":
        return "openai", p.stem, [p]
    if p.is_dir():
        if (p / "model.bin").is_file() and (p / "config.json").is_file():
            try:
                has_ct2 = "alignment_heads" in json.loads((p / "config.json").read_text()) or \
                    not (p / "preprocessor_config.json").exists()
            except (OSError, ValueError):
                has_ct2 = True
            if has_ct2:
                return "ct2", p.name, [p / "model.bin"]
        files = sorted(p.glob("*.safetensors")) or sorted(p.glob("pytorch_model*.bin"))
        if (p / "config.json").is_file() and files:
            return "hf", p.name, files
    known = ", ".join(k for k in PACKAGED if k != "ge2e")
    raise EncoderWeightsError(
        f"no Whisper weights at {s!r}: give a packaged name ({known}; {INSTALL_HINT}), "
        f"or one of: {'; '.join(FORMATS[1:])}")


def load_whisper_encoder(source: str | Path = "base") -> WhisperFeatureEncoder:
    """Load Whisper's encoder from an installed package, a folder or a checkpoint.

    Parameters
    ----------
    source : ``"base"`` / ``"tiny.en"`` (installed weight packages, sha256-checked), a
        CTranslate2 folder, a transformers folder, or an OpenAI ``.pt`` file

    Returns
    -------
    WhisperFeatureEncoder, in eval mode; cached per process (by source and sha256)

    Raises
    ------
    EncoderWeightsError
        Missing package or file, unknown format, altered weights.
    """
    kind, name, files = resolve_whisper_source(source)
    sha = sha256_files(files)
    key = (str(source), sha)
    if key not in _LOADED:
        if kind == "ct2":
            model = _from_ct2(files, name, sha)
        elif kind == "openai":
            model = _from_openai(files[0], sha)
        else:
            model = _from_hf(files[0].parent, sha)
        model.requires_grad_(False)
        _LOADED[key] = model
    return _LOADED[key]
