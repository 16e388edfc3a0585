"""CNN-LSTM on 5 s log-mel segments (seed document 000, DepAnxSpeechNet).

A segment is a ``40 mels x 500 frames`` log-mel (10 ms hop at 16 kHz). A 1-D residual CNN
runs over time with the mel bands as channels, a bidirectional LSTM reads the (pooled)
frame sequence and an additive attention pools it into one vector, which feeds one linear
head per task. With several heads the trunk is shared (multi-task); heads can be swapped
for transfer learning (:mod:`vocalmind.training.transfer`).

With ``input: whisper`` (a data setting, :mod:`vocalmind.training.data`) a segment is
instead ``dim x (segment_s / 20 ms)`` frozen Whisper encoder states and ``n_mels`` is set
to the encoder width (512 for Whisper base); nothing else in the network changes.

This is our own design after reading the authors' public code: their ResCNN blocks use
1x1 convolutions and their attention is unused in the final model; here the residual
blocks use kernel 3 along time and the attention pooling is active.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vocalmind.errors import InputError, ParameterError
from vocalmind.models import check_heads, make_heads

__all__ = ["AttentionPool", "ResBlock1d", "CNNLSTM"]


class AttentionPool(nn.Module):
    """Additive attention pooling over time: ``sum_t softmax(w^T tanh(W h_t)) h_t``.

    Parameters
    ----------
    dim : feature size of each step
    hidden : size of the attention projection

    Examples
    --------
    >>> p = AttentionPool(8)
    >>> p(torch.randn(2, 5, 8)).shape
    torch.Size([2, 8])
    >>> mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    >>> p(torch.randn(2, 5, 8), mask).shape
    torch.Size([2, 8])
    """

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def weights(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention weights ``(batch, steps)`` summing to 1 over valid steps."""
        s = self.score(torch.tanh(self.proj(h))).squeeze(-1)
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        return torch.softmax(s, dim=-1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``h`` [shape=(batch, steps, dim)] (mask: (batch, steps), True = valid)."""
        return torch.bmm(self.weights(h, mask).unsqueeze(1), h).squeeze(1)


class ResBlock1d(nn.Module):
    """BN-ReLU-conv-BN-ReLU-conv with an identity skip (pre-activation residual block).

    Examples
    --------
    >>> ResBlock1d(16)(torch.randn(2, 16, 50)).shape
    torch.Size([2, 16, 50])
    """

    def __init__(self, channels: int, kernel_size: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.body = nn.Sequential(
            nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding=pad, bias=False),
            nn.BatchNorm1d(channels), nn.ReLU(), nn.Dropout(dropout),
            nn.Conv1d(channels, channels, kernel_size, padding=pad, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [shape=(batch, channels, T)] -> same shape."""
        return x + self.body(x)


class CNNLSTM(nn.Module):
    """Residual 1-D CNN -> BiLSTM -> attention pooling -> one head per task.

    Parameters
    ----------
    heads : task name -> output size (classes, or 1 for regression)
    n_mels : mel bands of a segment (40 in document 000)
    channels : channels of the residual CNN
    n_res_blocks : number of residual blocks
    pool : time pooling factor after the CNN (shortens the LSTM's sequence)
    lstm_hidden : hidden size of each LSTM direction
    lstm_layers : stacked LSTM layers
    dropout : dropout inside the CNN, between LSTM layers and before the heads

    Examples
    --------
    >>> m = CNNLSTM(heads={"phq8_band": 5, "gad7_band": 4}).eval()
    >>> out = m(torch.randn(2, 40, 500))
    >>> out["phq8_band"].shape, out["gad7_band"].shape
    (torch.Size([2, 5]), torch.Size([2, 4]))
    >>> m.embed(torch.randn(2, 40, 500)).shape
    torch.Size([2, 128])
    """

    def __init__(self, *, heads: dict[str, int], n_mels: int = 40, channels: int = 64,
                 n_res_blocks: int = 3, pool: int = 4, lstm_hidden: int = 64,
                 lstm_layers: int = 1, dropout: float = 0.2) -> None:
        super().__init__()
        if n_res_blocks < 1 or channels < 1 or pool < 1 or lstm_hidden < 1:
            raise ParameterError(
                "CNNLSTM: n_res_blocks, channels, pool and lstm_hidden must be >= 1; got "
                f"{n_res_blocks}, {channels}, {pool}, {lstm_hidden}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"CNNLSTM: dropout={dropout} must be in [0, 1)")
        self.n_mels = n_mels
        self.pool_factor = pool
        self.stem = nn.Conv1d(n_mels, channels, 3, padding=1)
        self.cnn = nn.Sequential(*[ResBlock1d(channels, 3, dropout) for _ in range(n_res_blocks)],
                                 nn.BatchNorm1d(channels), nn.ReLU())
        self.lstm = nn.LSTM(channels, lstm_hidden, num_layers=lstm_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if lstm_layers > 1 else 0.0)
        self.attention = AttentionPool(2 * lstm_hidden)
        self.dropout = nn.Dropout(dropout)
        self.embedding_dim = 2 * lstm_hidden
        self.heads = make_heads(self.embedding_dim, check_heads(heads))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation.

        Parameters
        ----------
        x : Tensor [shape=(batch, n_mels, frames)]
            Normalised log-mel segment (frames >= ``pool``; 500 in document 000).

        Returns
        -------
        Tensor [shape=(batch, 2 * lstm_hidden)]
        """
        if x.ndim == 4 and x.shape[1] == 1:
            x = x.squeeze(1)
        if x.ndim != 3 or x.shape[1] != self.n_mels:
            raise InputError(f"CNNLSTM expects (batch, {self.n_mels}, frames); "
                             f"got {tuple(x.shape)}")
        if x.shape[2] < self.pool_factor:
            x = F.pad(x, (0, self.pool_factor - x.shape[2]), value=-1.0)
        h = self.cnn(self.stem(x))
        if self.pool_factor > 1:
            h = F.max_pool1d(h, self.pool_factor)
        h, _ = self.lstm(h.transpose(1, 2))
        return self.dropout(self.attention(h))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs per head, each ``(batch, n_out)``."""
        z = self.embed(x)
        return {k: h(z) for k, h in self.heads.items()}
