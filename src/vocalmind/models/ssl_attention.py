"""Self-supervised encoder + segment CNN/attention pooling + LSTM/self-attention (document 003).

A recording (or all recordings of a subject) is cut into fixed segments (7 s in document
003). Each segment goes through a self-supervised speech encoder (wav2vec 2.0, HuBERT or
WavLM, via ``transformers.AutoModel``), whose layers are combined (last layer, sum, or a
learned softmax-weighted sum); a 1-D CNN (3 blocks of 80 filters) and a pooling layer
(attention, mean or max) turn the frames of a segment into one vector; an LSTM and a
self-attention layer read the sequence of segment vectors and give one prediction per
sequence.

The encoder is loaded **only** from a local folder (``from_pretrained(path,
local_files_only=True)``); nothing is downloaded. Freeze modes: ``"frozen"`` (encoder
not trained, run without gradients), ``"last"`` (only the last transformer layer is
fine-tuned), ``"all"`` (all transformer layers fine-tuned; the convolutional feature
encoder stays frozen, as in document 003).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from vocalmind.models import check_heads, make_heads
from vocalmind.models.cnn_lstm import AttentionPool

__all__ = ["SSLAttention", "load_ssl_encoder"]

LAYER_MODES = ("last", "sum", "weighted")
FREEZE_MODES = ("frozen", "last", "all")
POOLINGS = ("attention", "mean", "max")


def load_ssl_encoder(path: str | Path) -> nn.Module:
    """Load a wav2vec 2.0 / HuBERT / WavLM encoder from a local folder, never the network.

    Parameters
    ----------
    path : folder written by ``save_pretrained`` (``config.json`` + weights)

    Raises
    ------
    ValueError
        The folder is missing or holds no loadable model; the message says what to put there.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub id would otherwise stall ~26 s
    p = Path(path)
    if not (p / "config.json").is_file():
        raise ValueError(
            f"SSL encoder folder {str(p)!r} has no config.json; give a local folder written "
            "by save_pretrained (models are never downloaded)")
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load an SSL encoder from {str(p)!r}: {exc}") from exc


class SSLAttention(nn.Module):
    """SSL encoder -> per-segment 1-D CNN + pooling -> LSTM + self-attention -> heads.

    Parameters
    ----------
    heads : task name -> output size (classes, or 1 for regression)
    encoder_path : local folder of the pretrained encoder (see :func:`load_ssl_encoder`)
    layers : ``"last"``, ``"sum"`` or ``"weighted"`` (learned softmax weights over all
        hidden states)
    freeze : ``"frozen"``, ``"last"`` or ``"all"``
    cnn_channels : filters of the 3 conv blocks (80, 80, 80 in document 003)
    kernel_size : kernel of the conv blocks
    pooling : ``"attention"``, ``"mean"`` or ``"max"`` over the frames of a segment
    lstm_hidden : hidden size of the segment-level LSTM
    dropout : dropout in the conv blocks and before the heads
    normalize_input : zero-mean unit-variance per segment (what wav2vec 2.0 expects)

    Examples
    --------
    >>> import tempfile
    >>> from transformers import Wav2Vec2Config, Wav2Vec2Model
    >>> cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...     intermediate_size=64, conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2),
    ...     num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    >>> folder = tempfile.mkdtemp()
    >>> Wav2Vec2Model(cfg).save_pretrained(folder)
    >>> m = SSLAttention(heads={"phq8_binary": 2}, encoder_path=folder, layers="weighted").eval()
    >>> x = torch.randn(2, 3, 4000)  # 2 subjects, up to 3 segments of 0.25 s
    >>> mask = torch.tensor([[True, True, True], [True, False, False]])
    >>> m(x, mask)["phq8_binary"].shape
    torch.Size([2, 2])
    """

    def __init__(self, *, heads: dict[str, int], encoder_path: str, layers: str = "weighted",
                 freeze: str = "frozen", cnn_channels: tuple[int, ...] = (80, 80, 80),
                 kernel_size: int = 3, pooling: str = "attention", lstm_hidden: int = 64,
                 dropout: float = 0.2, normalize_input: bool = True) -> None:
        super().__init__()
        if layers not in LAYER_MODES:
            raise ValueError(f"layers={layers!r}: choose one of {LAYER_MODES}")
        if freeze not in FREEZE_MODES:
            raise ValueError(f"freeze={freeze!r}: choose one of {FREEZE_MODES}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}: choose one of {POOLINGS}")
        self.encoder = load_ssl_encoder(encoder_path)
        self.layer_mode = layers
        self.freeze = freeze
        self.pooling = pooling
        self.normalize_input = normalize_input
        n_states = int(self.encoder.config.num_hidden_layers) + 1
        hidden = int(self.encoder.config.hidden_size)
        self.layer_logits = nn.Parameter(torch.zeros(n_states), requires_grad=layers == "weighted")
        self._apply_freeze()
        blocks: list[nn.Module] = []
        cin = hidden
        for c in cnn_channels:
            blocks += [nn.Conv1d(cin, c, kernel_size, padding=kernel_size // 2), nn.ReLU(),
                       nn.Dropout(dropout)]
            cin = c
        self.cnn = nn.Sequential(*blocks)
        self.frame_pool = AttentionPool(cin, 64) if pooling == "attention" else None
        self.lstm = nn.LSTM(cin, lstm_hidden, batch_first=True)
        self.q = nn.Linear(lstm_hidden, lstm_hidden)
        self.k = nn.Linear(lstm_hidden, lstm_hidden)
        self.v = nn.Linear(lstm_hidden, lstm_hidden)
        self.dropout = nn.Dropout(dropout)
        self.embedding_dim = lstm_hidden
        self.heads = make_heads(lstm_hidden, check_heads(heads))

    def _apply_freeze(self) -> None:
        enc = self.encoder
        for p in enc.parameters():
            p.requires_grad = self.freeze == "all"
        if self.freeze == "all" and hasattr(enc, "freeze_feature_encoder"):
            enc.freeze_feature_encoder()  # the conv front end stays as pretrained
        if self.freeze == "last":
            layers = getattr(getattr(enc, "encoder", None), "layers", None)
            if layers is None:
                raise ValueError("freeze='last' needs an encoder with .encoder.layers "
                                 "(wav2vec 2.0, HuBERT, WavLM)")
            for p in layers[-1].parameters():
                p.requires_grad = True

    def train(self, mode: bool = True) -> SSLAttention:
        """Set training mode; a frozen encoder always stays in eval mode (no dropout)."""
        super().train(mode)
        if self.freeze == "frozen":
            self.encoder.eval()
        return self

    def _encode(self, seg: torch.Tensor) -> torch.Tensor:
        """Segments ``(n, samples)`` -> combined hidden states ``(n, frames, hidden)``."""
        if self.normalize_input:
            seg = (seg - seg.mean(dim=1, keepdim=True)) / (seg.std(dim=1, keepdim=True) + 1e-5)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.freeze != "frozen"):
            out = self.encoder(seg, output_hidden_states=self.layer_mode != "last")
        if self.layer_mode == "last":
            return out.last_hidden_state
        states = torch.stack(out.hidden_states, dim=0)  # (L+1, n, frames, hidden)
        if self.layer_mode == "sum":
            return states.sum(dim=0)
        w = torch.softmax(self.layer_logits, dim=0).view(-1, 1, 1, 1)
        return (w * states).sum(dim=0)

    def layer_weights(self) -> torch.Tensor:
        """Softmax weights over the encoder's hidden states (``"weighted"`` mode)."""
        return torch.softmax(self.layer_logits.detach(), dim=0)

    def segment_vectors(self, seg: torch.Tensor) -> torch.Tensor:
        """Segments ``(n, samples)`` -> segment vectors ``(n, cnn_channels[-1])``."""
        h = self.cnn(self._encode(seg).transpose(1, 2))  # (n, C, frames)
        if self.pooling == "mean":
            return h.mean(dim=2)
        if self.pooling == "max":
            return h.amax(dim=2)
        assert self.frame_pool is not None
        return self.frame_pool(h.transpose(1, 2))

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Penultimate representation of each sequence.

        Parameters
        ----------
        x : Tensor [shape=(batch, n_segments, samples)]
            16 kHz segments; a 2-D input is one segment per sequence.
        mask : Tensor [shape=(batch, n_segments)], bool, optional
            True for real segments, False for padding (default: all real). Every
            sequence needs at least one real segment.

        Returns
        -------
        Tensor [shape=(batch, lstm_hidden)]
        """
        if x.ndim == 2:
            x = x.unsqueeze(1)
        if x.ndim != 3:
            raise ValueError(f"SSLAttention expects (batch, segments, samples); got {tuple(x.shape)}")
        b, m, s = x.shape
        if mask is None:
            mask = torch.ones(b, m, dtype=torch.bool, device=x.device)
        if not bool(mask.any(dim=1).all()):
            raise ValueError("every sequence needs at least one real segment (mask all False)")
        v = self.segment_vectors(x[mask])  # only real segments go through the encoder
        seq = x.new_zeros(b, m, v.shape[1])
        seq[mask] = v
        h, _ = self.lstm(seq)
        q, k, val = self.q(h), self.k(h), self.v(h)
        att = q @ k.transpose(1, 2) / math.sqrt(h.shape[2])
        att = att.masked_fill(~mask.unsqueeze(1), float("-inf"))
        h2 = torch.softmax(att, dim=-1) @ val  # (B, M, H)
        h2 = h2 * mask.unsqueeze(2)
        z = h2.sum(dim=1) / mask.sum(dim=1, keepdim=True)  # mean over real segments
        return self.dropout(z)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """Outputs per head, each ``(batch, n_out)``."""
        z = self.embed(x, mask)
        return {k: h(z) for k, h in self.heads.items()}

