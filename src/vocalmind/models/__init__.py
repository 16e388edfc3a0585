"""Model families: one registry naming every family, its input kind and its tasks.

Importing this package does not import torch or scikit-learn; the modules are imported
when a family is built. Deep families (``melcnn``, ``cnn_lstm``, ``wavelet``,
``ssl_attention``) are plain ``torch.nn.Module`` classes configured only through their
constructor. They share one small protocol, which the training engine relies on:

- ``heads``: an ``nn.ModuleDict`` mapping a task name to its output layer
  (``n_classes`` logits for classification, 1 unit for regression);
- ``embedding_dim``: size of the penultimate representation;
- ``embed(x) -> (batch, embedding_dim)``: the penultimate representation;
- ``forward(x) -> dict[str, Tensor]``: one ``(batch, n_out)`` tensor per head.

Input kinds
-----------
``features``
    a feature table row (classical and ``mlp`` families).
``logmel``
    a log-mel spectrogram ``(batch, 1, n_mels, T)`` (``melcnn``: 128 mels, any T).
``logmel_segment``
    fixed 5 s log-mel segments ``(batch, n_mels, frames)`` (``cnn_lstm``: 40 x 500).
``waveform``
    raw 16 kHz waveform ``(batch, n_samples)`` of any length (``wavelet``).
``waveform_segments``
    a sequence of fixed-length 16 kHz segments per recording or subject
    ``(batch, n_segments, n_samples)`` with a mask (``ssl_attention``).
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any

from vocalmind.errors import ConfigError, ParameterError

__all__ = ["ModelFamily", "MODEL_FAMILIES", "DEEP_FAMILIES", "list_models", "get_family",
           "build_model"]


@dataclass(frozen=True)
class ModelFamily:
    """What the registry knows about one model family.

    Attributes
    ----------
    name : registry name, e.g. ``"melcnn"``
    input_kind : one of ``features``, ``logmel``, ``logmel_segment``, ``waveform``,
        ``waveform_segments`` (see the module docstring)
    tasks : the tasks it supports (``classification``, ``regression``, ``multitask``)
    module : dotted module path that implements it
    deep : True for torch families trained by :mod:`vocalmind.training.engine`
    source : the seed document it follows
    description : one line
    """

    name: str
    input_kind: str
    tasks: tuple[str, ...]
    module: str
    deep: bool
    source: str
    description: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        return d


_CLS = ("classification",)
_REG = ("regression",)
_ALL = ("classification", "regression", "multitask")

MODEL_FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in [
        ModelFamily("svm", "features", _CLS, "vocalmind.models.classical", False, "-",
                    "linear support vector classifier on a feature table"),
        ModelFamily("logreg", "features", _CLS, "vocalmind.models.classical", False, "-",
                    "logistic regression on a feature table"),
        ModelFamily("rf", "features", _CLS, "vocalmind.models.classical", False, "-",
                    "random forest classifier on a feature table"),
        ModelFamily("fusion", "features", _CLS, "vocalmind.models.classical", False, "-",
                    "linear model over named feature blocks (e.g. Whisper layers, speaker, "
                    "ComParE): early or late fusion, blocks chosen in-fold"),
        ModelFamily("svr", "features", _REG, "vocalmind.models.classical", False, "-",
                    "support vector regression on a feature table"),
        ModelFamily("ridge", "features", _REG, "vocalmind.models.classical", False, "-",
                    "ridge regression on a feature table"),
        ModelFamily("rf_regressor", "features", _REG, "vocalmind.models.classical", False,
                    "-", "random forest regressor on a feature table"),
        ModelFamily("mlp", "features", ("classification", "regression"),
                    "vocalmind.models.mlp", False, "002",
                    "fully connected network on selected features"),
        ModelFamily("melcnn", "logmel", _ALL, "vocalmind.models.melcnn", True, "004",
                    "3/4-block 2-D CNN on 128-mel log spectrograms, adaptive pooling or resize"),
        ModelFamily("cnn_lstm", "logmel_segment", _ALL, "vocalmind.models.cnn_lstm", True,
                    "000", "residual 1-D CNN + BiLSTM + attention on 40-mel 5 s segments"),
        ModelFamily("wavelet", "waveform", _ALL, "vocalmind.models.wavelet", True, "001",
                    "learnable wavelet packets + dilated CNN/attention + BiGRU per band"),
        ModelFamily("ssl_attention", "waveform_segments", _ALL,
                    "vocalmind.models.ssl_attention", True, "003",
                    "local SSL encoder (wav2vec 2.0 / HuBERT / WavLM folder, or Whisper) + "
                    "1-D CNN/attention pooling per 7 s segment + LSTM/self-attention across "
                    "segments"),
    ]
}

#: name -> class name of the deep families
_DEEP_CLASSES = {
    "melcnn": "MelCNN",
    "cnn_lstm": "CNNLSTM",
    "wavelet": "WaveletNet",
    "ssl_attention": "SSLAttention",
}
DEEP_FAMILIES: tuple[str, ...] = tuple(_DEEP_CLASSES)


def list_models() -> list[ModelFamily]:
    """All registered families, in registry order.

    Examples
    --------
    >>> [f.name for f in list_models() if f.deep]
    ['melcnn', 'cnn_lstm', 'wavelet', 'ssl_attention']
    """
    return list(MODEL_FAMILIES.values())


def get_family(name: str) -> ModelFamily:
    """The registry entry for ``name``.

    Raises
    ------
    ConfigError
        If ``name`` is not registered; the message lists the known names.
    """
    try:
        return MODEL_FAMILIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown model family {name!r}; choose one of {', '.join(MODEL_FAMILIES)}"
        ) from None


def model_class(name: str) -> Any:
    """The ``nn.Module`` class of a deep family (imports torch)."""
    fam = get_family(name)
    if not fam.deep:
        raise ConfigError(f"model family {name!r} is not a deep (torch) family")
    return getattr(importlib.import_module(fam.module), _DEEP_CLASSES[name])


def build_model(name: str, *, heads: dict[str, int], **params: Any) -> Any:
    """Instantiate a deep family.

    Parameters
    ----------
    name : a deep family name (:data:`DEEP_FAMILIES`)
    heads : task name -> output size (number of classes, or 1 for regression)
    **params : constructor arguments of the family

    Raises
    ------
    ConfigError
        Unknown family or an argument the constructor does not take (the message lists
        the accepted ones) or rejects.
    """
    import inspect

    cls = model_class(name)
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "heads")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model {name!r}: unknown parameter(s) {unknown}; accepted: {', '.join(accepted)}"
        )
    try:
        return cls(heads=heads, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r}: {exc}") from exc


def check_heads(heads: dict[str, int]) -> dict[str, int]:
    """Validate a ``task name -> output size`` mapping (shared by the deep families).

    Raises
    ------
    ParameterError
        Empty mapping, a non-string name, or a size below 1.
    """
    if not heads:
        raise ParameterError("check_heads: heads must name at least one task, e.g. {'emotion': 7}")
    out: dict[str, int] = {}
    for k, v in heads.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise ParameterError(f"check_heads: head name {k!r} must be a Python identifier, e.g. 'phq8'")
        if int(v) < 1:
            raise ParameterError(f"check_heads: head {k!r}: output size {v} must be >= 1 (1 = regression)")
        out[k] = int(v)
    return out


def make_heads(in_dim: int, heads: dict[str, int]) -> Any:
    """One ``nn.Linear(in_dim, n_out)`` per task, as an ``nn.ModuleDict``."""
    from torch import nn

    return nn.ModuleDict({k: nn.Linear(in_dim, n) for k, n in check_heads(heads).items()})
