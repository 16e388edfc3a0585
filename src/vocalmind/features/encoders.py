"""Pretrained speech encoders as feature sets: ``whisper`` and ``speaker``.

Both pool frame-level representations of a frozen, pretrained network into one row per
recording (or segment), so a light classifier can sit on top:

* ``whisper``: hidden states of Whisper's encoder (:mod:`vocalmind.encoders.whisper`),
  mean and standard deviation over time of the chosen layer(s). The default layer is the
  middle one, which on EMO-DB beats the last by ~12 UAR points (emotion lives in the
  acoustic middle of the stack; the top specialises in words).
* ``speaker``: the GE2E speaker embedding (256) and the mean and standard deviation of its
  second LSTM layer's outputs (2 x 256), from :mod:`vocalmind.encoders.speaker`.

The networks are loaded once per process, lazily (feature-set objects stay small when they
are sent to worker processes), and their weights' sha256 is part of :meth:`settings`, so the
cache never serves features of other weights.

Examples
--------
>>> from vocalmind.features import get_feature_set
>>> fs = get_feature_set("whisper", model="tiny.en", layers=[1, 4])  # doctest: +SKIP
>>> len(fs.names())  # doctest: +SKIP
1536
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vocalmind.errors import ConfigError, FeatureError
from vocalmind.features.base import FeatureSet, register

__all__ = ["WhisperSet", "SpeakerSet"]

POOLINGS = ("mean_std", "mean")


def _pool(frames: np.ndarray, pooling: str) -> np.ndarray:
    mean = frames.mean(axis=0)
    return mean if pooling == "mean" else np.concatenate([mean, frames.std(axis=0)])


class _EncoderSet(FeatureSet):
    """Shared plumbing: lazy per-process model, sha256 in the settings, no model in pickles."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_model", None)  # each worker loads (and caches) its own copy
        return state

    @property
    def model(self) -> Any:
        m = self.__dict__.get("_model")
        if m is None:
            # worker processes already run torch on one thread (the executor's initialiser)
            m = self._load()
            self.__dict__["_model"] = m
        return m

    def _load(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _weights(self) -> tuple[str, str]:
        """(name, sha256) of the weight files, without building the network."""
        raise NotImplementedError  # pragma: no cover - abstract

    def weights(self) -> list[dict[str, str]]:
        """The weights this set needs: ``[{"name", "sha256"}]`` (recorded in run folders)."""
        name, sha = self._weights()
        return [{"name": name, "sha256": sha}]

    #: the set and the encoder code it runs
    code_modules = ("vocalmind.features.encoders", "vocalmind.encoders")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "weights_sha256": self._weights()[1]}


@register("whisper")
class WhisperSet(_EncoderSet):
    """Whisper encoder hidden states, pooled over time.

    Parameters
    ----------
    model : ``"base"`` (default) or ``"tiny.en"`` (installed weight packages), or a local
        CTranslate2 / transformers folder or an OpenAI ``.pt`` file
    layers : int, list of int, ``"middle"`` (default), ``"last"`` or ``"all"``; block k's
        output (0 = the convolutional embeddings)
    pooling : ``"mean_std"`` (default, 2 x width per layer) or ``"mean"``
    pad_30s : pad each clip to 30 s as Whisper's decoder expects (~14x slower; off)

    Notes
    -----
    Input: 16 kHz mono. Output: ``len(layers) x width x (2 | 1)`` values named
    ``whisper_L{k}_{mean|std}_{i}``. Recordings over 30 s are encoded in 30 s windows.
    """

    def __init__(self, model: str = "base", layers: int | list[int] | str = "middle",
                 pooling: str = "mean_std", pad_30s: bool = False) -> None:
        if pooling not in POOLINGS:
            raise ConfigError(f"whisper: pooling must be one of {POOLINGS}, got {pooling!r}")
        if not isinstance(layers, int | str | list | tuple):
            raise ConfigError(f"whisper: layers must be an int, a list of ints, 'middle', "
                              f"'last' or 'all', got {layers!r}")
        super().__init__(model=str(model), layers=layers if not isinstance(layers, tuple)
                         else list(layers), pooling=pooling, pad_30s=bool(pad_30s))

    def _load(self) -> Any:
        from vocalmind.encoders.whisper import load_whisper_encoder

        return load_whisper_encoder(self.params["model"])

    def _weights(self) -> tuple[str, str]:
        from vocalmind.encoders.weights import sha256_files
        from vocalmind.encoders.whisper import resolve_whisper_source

        _, name, files = resolve_whisper_source(self.params["model"])
        return name, sha256_files(files)

    @property
    def layer_list(self) -> list[int]:
        """The blocks used, resolved against the model's depth."""
        spec, n = self.params["layers"], self.model.n_layers
        if spec == "middle":
            return [self.model.middle_layer]
        if spec == "last":
            return [n]
        if spec == "all":
            return list(range(n + 1))
        out = [spec] if isinstance(spec, int) else list(spec)
        bad = [k for k in out if not isinstance(k, int) or not 0 <= k <= n]
        if bad or not out:
            raise ConfigError(f"whisper: layers {spec!r} out of range; model "
                              f"{self.params['model']!r} has blocks 0..{n}")
        return out

    def names(self) -> list[str]:
        stats = ("mean",) if self.params["pooling"] == "mean" else ("mean", "std")
        return [f"whisper_L{k}_{s}_{i}" for k in self.layer_list for s in stats
                for i in range(self.model.dim)]

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        frames = self.model.encode_signal(y, layers=self.layer_list,
                                          pad_30s=self.params["pad_30s"])
        return np.concatenate([_pool(f.astype(np.float64), self.params["pooling"])
                               for f in frames])


@register("speaker")
class SpeakerSet(_EncoderSet):
    """GE2E speaker embedding and pooled second-layer LSTM outputs.

    Parameters
    ----------
    model : ``"ge2e"`` (the ``resemblyzer==0.1.4`` weights) or a ``.pt`` checkpoint path
    parts : which outputs: ``"embedding"`` (256), ``"layer2"`` (mean and std, 512) or both
        (default)

    Notes
    -----
    Input: 16 kHz mono, raised to -30 dBFS and with long silences cut (the encoder's own
    recipe). Names: ``speaker_emb_{i}``, ``speaker_l2_mean_{i}``, ``speaker_l2_std_{i}``.
    """

    PARTS = ("embedding", "layer2")

    def __init__(self, model: str = "ge2e", parts: list[str] | str | None = None) -> None:
        chosen = list(self.PARTS) if parts is None else ([parts] if isinstance(parts, str)
                                                          else list(parts))
        bad = [p for p in chosen if p not in self.PARTS] if chosen else ["(none)"]
        if bad:
            raise ConfigError(f"speaker: parts must be among {self.PARTS}, got {parts!r}")
        super().__init__(model=str(model), parts=chosen)

    def _load(self) -> Any:
        from vocalmind.encoders.speaker import load_speaker_encoder

        return load_speaker_encoder(self.params["model"])

    def _weights(self) -> tuple[str, str]:
        from vocalmind.encoders.speaker import speaker_weight_file
        from vocalmind.encoders.weights import sha256_files

        path = speaker_weight_file(self.params["model"])
        return ("ge2e" if self.params["model"] == "ge2e" else path.stem), sha256_files([path])

    def names(self) -> list[str]:
        out: list[str] = []
        if "embedding" in self.params["parts"]:
            out += [f"speaker_emb_{i}" for i in range(256)]
        if "layer2" in self.params["parts"]:
            out += [f"speaker_l2_{s}_{i}" for s in ("mean", "std") for i in range(256)]
        return out

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        emb, layer2 = self.model.embed(y)
        if not np.isfinite(emb).all():
            raise FeatureError("speaker: the encoder gave non-finite values")
        out = []
        if "embedding" in self.params["parts"]:
            out.append(emb.astype(np.float64))
        if "layer2" in self.params["parts"]:
            out.append(_pool(layer2.astype(np.float64), "mean_std"))
        return np.concatenate(out)
