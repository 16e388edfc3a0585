"""Model families: one registry naming every family, its kind, input kind, tasks, default
parameters and estimator factory.

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

__all__ = ["ModelFamily", "MODEL_FAMILIES", "DEEP_FAMILIES", "DATA_DEFAULTS", "list_models",
           "get_family", "build_model"]

#: The data settings each deep family takes in ``model.params``, with their defaults (anything
#: else in ``params`` goes to the network's constructor); :mod:`vocalmind.training.data`
#: applies them.
_PERTURB = {"speed_perturb": (), "pitch_perturb": (), "perturb_sample": False}
_RECIPE = {  # SpecAugment-style masks and once-only perturbation: all off by default
    "freq_masks": 0, "freq_mask_width": 8, "time_masks": 0, "time_mask_frac": 0.05,
    **_PERTURB}
_INPUT = {"input": "logmel", "whisper_model": "base", "whisper_layer": None}
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "melcnn": {"n_mels": 128, "n_fft": 1024, "hop_length": 256, "chunk_s": 30.0,
               "min_s": 0.5, "augment": True, "augment_p": 0.6, "speaker_norm": False,
               **_INPUT, **_RECIPE},
    "cnn_lstm": {"n_mels": 40, "n_fft": 400, "hop_length": 160, "segment_s": 5.0,
                 "augment": False, "augment_p": 0.6, "speaker_norm": False,
                 **_INPUT, **_RECIPE},
    "wavelet": {"segment_s": 4.0, **_PERTURB},
    "ssl_attention": {"segment_s": 7.0, "max_segments": 32, "sequence": "row"},
}

#: which ``model.*`` blocks of a config each kind of family uses
FAMILY_BLOCKS: dict[str, frozenset[str]] = {
    "classical": frozenset({"tune"}),
    "mlp": frozenset(),
    "deep": frozenset({"training", "pretrain", "search"}),
}


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
    kind : ``classical`` (a scikit-learn pipeline, tuned by ``model.tune``), ``mlp`` (a
        network whose architecture is searched inside the training fold) or ``deep`` (a
        torch family trained by :mod:`vocalmind.training.engine`)
    factory : ``"module:callable"`` that builds an unfitted estimator, called as
        ``factory(name, task, params=..., seed=..., run_dir=..., **training)``
    source : the seed document it follows
    description : one line
    """

    name: str
    input_kind: str
    tasks: tuple[str, ...]
    module: str
    kind: str
    factory: str
    source: str
    description: str

    @property
    def deep(self) -> bool:
        """True for torch families trained by :mod:`vocalmind.training.engine`."""
        return self.kind == "deep"

    @property
    def blocks(self) -> frozenset[str]:
        """The ``model.*`` config blocks this family uses (``tune``, ``training`` ...)."""
        return FAMILY_BLOCKS[self.kind]

    @property
    def task(self) -> str | None:
        """The one task of a single-task family (``svr`` -> ``regression``), else None."""
        single = [t for t in self.tasks if t != "multitask"]
        return single[0] if len(single) == 1 else None

    def _constructor(self) -> Any:
        if self.kind == "mlp":
            from vocalmind.models.mlp import MLPSearch

            return MLPSearch
        return model_class(self.name)

    def defaults(self) -> dict[str, Any]:
        """The family's default ``model.params``, read from its implementation (imports it).

        Classical families: the registry defaults of :data:`~vocalmind.models.classical.
        CLASSICAL_MODELS` (the estimator's own defaults for the rest); ``mlp``:
        :class:`~vocalmind.models.mlp.MLPSearch`'s constructor; deep families: the network
        constructor's keyword defaults and the data settings of
        :data:`DATA_DEFAULTS`.
        """
        import inspect

        if self.kind == "classical":
            from vocalmind.models.classical import CLASSICAL_MODELS

            return dict(CLASSICAL_MODELS[self.name][2])
        out = {p.name: p.default
               for p in inspect.signature(self._constructor()).parameters.values()
               if p.default is not p.empty and p.name not in ("heads", "task")}
        if self.deep:
            out.update(DATA_DEFAULTS.get(self.name, {}))
        return out

    def param_names(self) -> set[str]:
        """Every key ``model.params`` may hold for this family (imports it)."""
        import inspect

        if self.kind == "classical":
            from vocalmind.models.classical import CLASSICAL_MODELS

            return set(CLASSICAL_MODELS[self.name][1]().get_params())
        names = set(inspect.signature(self._constructor()).parameters) - {"self", "heads",
                                                                          "task"}
        if self.deep:
            names |= set(DATA_DEFAULTS.get(self.name, {}))
        return names

    def make_estimator(self, task: str, *, params: dict[str, Any] | None = None,
                       seed: int = 0, run_dir: Any = None, **training: Any) -> Any:
        """A fresh, unfitted estimator of this family for ``task``.

        Parameters
        ----------
        task : ``classification`` or ``regression``
        params : ``model.params`` of the config
        seed : random state
        run_dir : where a deep family writes its training records (None: nowhere)
        **training : ``model.training`` settings (deep families only)

        Raises
        ------
        ConfigError
            A task the family does not support, or training settings on a family without
            a training block.
        """
        if task not in self.tasks:
            raise ConfigError(f"model {self.name!r} does not do {task}; it does "
                              f"{', '.join(self.tasks)}")
        if training and "training" not in self.blocks:
            raise ConfigError(f"model {self.name!r} takes no model.training settings "
                              f"(got {sorted(training)})")
        module, _, attr = self.factory.partition(":")
        make = getattr(importlib.import_module(module), attr)
        return make(self.name, task, params=dict(params or {}), seed=seed, run_dir=run_dir,
                    **training)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        d["deep"] = self.deep
        return d


_CLS = ("classification",)
_REG = ("regression",)
_ALL = ("classification", "regression", "multitask")
_CLASSICAL = "vocalmind.models.classical"
_CLASSICAL_FACTORY = f"{_CLASSICAL}:make_estimator"
_DEEP_FACTORY = "vocalmind.training.estimator:DeepEstimator"


def _classical(name: str, tasks: tuple[str, ...], description: str) -> ModelFamily:
    return ModelFamily(name, "features", tasks, _CLASSICAL, "classical", _CLASSICAL_FACTORY,
                       "-", description)


def _deep(name: str, input_kind: str, source: str, description: str) -> ModelFamily:
    return ModelFamily(name, input_kind, _ALL, f"vocalmind.models.{name}", "deep",
                       _DEEP_FACTORY, source, description)


MODEL_FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in [
        _classical("svm", _CLS, "linear support vector classifier on a feature table"),
        _classical("logreg", _CLS, "logistic regression on a feature table"),
        _classical("rf", _CLS, "random forest classifier on a feature table"),
        _classical("fusion", _CLS, "linear model over named feature blocks (e.g. Whisper "
                   "layers, speaker, ComParE): early or late fusion, blocks chosen in-fold"),
        _classical("svr", _REG, "support vector regression on a feature table"),
        _classical("ridge", _REG, "ridge regression on a feature table"),
        _classical("rf_regressor", _REG, "random forest regressor on a feature table"),
        ModelFamily("mlp", "features", ("classification", "regression"),
                    "vocalmind.models.mlp", "mlp", "vocalmind.models.mlp:make_estimator",
                    "002", "fully connected network on selected features, architecture "
                    "searched on subject-grouped inner folds"),
        _deep("melcnn", "logmel", "004",
              "3/4-block 2-D CNN on 128-mel log spectrograms, adaptive pooling or resize"),
        _deep("cnn_lstm", "logmel_segment", "000",
              "residual 1-D CNN + BiLSTM + attention on 40-mel 5 s segments"),
        _deep("wavelet", "waveform", "001",
              "learnable wavelet packets + dilated CNN/attention + BiGRU per band"),
        _deep("ssl_attention", "waveform_segments", "003",
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
DEEP_FAMILIES: tuple[str, ...] = tuple(f.name for f in MODEL_FAMILIES.values() if f.deep)


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
