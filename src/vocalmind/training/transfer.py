"""Transfer learning: reuse a trained trunk, swap heads, freeze layers by name pattern.

Document 000 pre-trains a CNN-LSTM on PHQ-8 bands and fine-tunes it for GAD-7 bands
(67 -> 72 % accuracy). Here any deep family can do the same through
:class:`~vocalmind.training.estimator.DeepEstimator` (``init_from=``, ``freeze_layers=``)
or with these functions directly.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from vocalmind.errors import ConfigError, ModelError
from vocalmind.models import make_heads

__all__ = ["swap_heads", "set_trainable", "trunk_from"]


def swap_heads(model: nn.Module, heads: dict[str, int], *, keep_matching: bool = True
               ) -> nn.Module:
    """Replace the model's heads by new ones for ``heads`` (task -> output size).

    With ``keep_matching`` a new head whose name and size equal an old head keeps the
    old weights (e.g. the PHQ head when going from single- to multi-task).

    Examples
    --------
    >>> from vocalmind.models.cnn_lstm import CNNLSTM
    >>> m = swap_heads(CNNLSTM(heads={"phq8_band": 5}), {"gad7_band": 4})
    >>> list(m.heads), m.heads["gad7_band"].out_features
    (['gad7_band'], 4)
    """
    old = model.heads
    new = make_heads(model.embedding_dim, heads)
    if keep_matching:
        for k in new:
            if k in old and old[k].out_features == new[k].out_features:
                new[k] = old[k]
    model.heads = new
    return model


def set_trainable(model: nn.Module, patterns: Sequence[str], *, trainable: bool = False
                  ) -> list[str]:
    """Set ``requires_grad`` of the parameters whose name matches a glob pattern.

    Parameters
    ----------
    patterns : fnmatch patterns on ``model.named_parameters()`` names, e.g. ``"stem.*"``,
        ``"cnn.*"``, ``"lstm.*"``
    trainable : False freezes, True unfreezes

    Returns
    -------
    list of str
        The parameter names changed.

    Raises
    ------
    ConfigError
        A pattern matches no parameter (the message lists the top-level layer names).
    """
    names = [n for n, _ in model.named_parameters()]
    changed: list[str] = []
    for pat in patterns:
        hit = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hit:
            tops = sorted({n.split(".")[0] for n in names})
            raise ConfigError(f"freeze pattern {pat!r} matches no parameter; layer names "
                              f"start with: {', '.join(tops)} (use e.g. 'cnn.*')")
        changed += hit
    params = dict(model.named_parameters())
    for n in changed:
        params[n].requires_grad = trainable
    return changed


def trunk_from(source: Any, *, path: str | Path, family: str, heads: dict[str, int],
               freeze: Sequence[str] = ()) -> nn.Module:
    """The model of a loaded estimator with its heads swapped and layers frozen.

    Parameters
    ----------
    source : a fitted estimator loaded from ``path`` (``DeepEstimator.load``): has
        ``family`` and ``model_``; the caller loads it, so this module never imports the
        estimator (which imports this module)
    path : where ``source`` came from (named in errors)
    family : the family expected (a mismatch raises ModelError)
    heads : the new tasks (task -> output size)
    freeze : name patterns of layers to freeze (see :func:`set_trainable`)
    """
    if source.family != family:
        raise ModelError(f"{path}: trained as {source.family!r}, cannot initialise {family!r}")
    model = swap_heads(source.model_, heads)
    set_trainable(model, freeze, trainable=False)
    return model
