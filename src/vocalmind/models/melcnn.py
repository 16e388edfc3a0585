"""Log-mel CNN (seed document 004): 3 or 4 conv blocks on 128-mel log spectrograms.

Two ways to handle clips of different length, chosen by ``input_mode``:

``"adaptive"``
    the feature map after the conv blocks is adaptively average-pooled to a fixed grid,
    so any number of frames ``T`` works unchanged (the document's best variant, 74 %).
``"resize"``
    the input is first brought to ``128 x 256``: shorter clips are padded at the end with
    ``pad_value`` (the silence level of the normalised spectrogram), longer ones are
    linearly interpolated along time; then the map is flattened (the document's second
    variant).

With ``input: whisper`` (a data setting, :mod:`vocalmind.training.data`) the "spectrogram"
is ``dim x positions`` of frozen Whisper encoder states at 20 ms, and ``n_mels`` is the
encoder width; per-speaker normalisation (``speaker_norm``) is then advisable, as their
scale is not that of a log-mel.

Input values are expected to be normalised log-mel: ``(dB + 40) / 40`` with dB relative to
the clip maximum and floored at -80 dB, so silence is -1 and the loudest bin 1
(:func:`vocalmind.training.data.normalise_db`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vocalmind.errors import InputError, ParameterError
from vocalmind.models import check_heads, make_heads

__all__ = ["MelCNN", "resize_logmel"]

RESIZE_SHAPE = (128, 256)  # (mels, frames) of the "resize" mode, as in document 004


def resize_logmel(x: torch.Tensor, *, frames: int = RESIZE_SHAPE[1],
                  n_mels: int = RESIZE_SHAPE[0], pad_value: float = -1.0) -> torch.Tensor:
    """Pad (T < frames) or interpolate (T > frames) a log-mel batch to ``(n_mels, frames)``.

    Parameters
    ----------
    x : Tensor [shape=(batch, 1, mels, T)]
    frames, n_mels : target size
    pad_value : value appended at the end of short clips (silence level)

    Returns
    -------
    Tensor [shape=(batch, 1, n_mels, frames)]

    Examples
    --------
    >>> resize_logmel(torch.zeros(2, 1, 128, 100)).shape
    torch.Size([2, 1, 128, 256])
    >>> resize_logmel(torch.zeros(2, 1, 128, 999)).shape
    torch.Size([2, 1, 128, 256])
    """
    if x.shape[2] != n_mels:
        x = F.interpolate(x, size=(n_mels, x.shape[3]), mode="bilinear", align_corners=False)
    t = x.shape[3]
    if t < frames:
        return F.pad(x, (0, frames - t), value=pad_value)
    if t > frames:
        return F.interpolate(x, size=(n_mels, frames), mode="bilinear", align_corners=False)
    return x


class MelCNN(nn.Module):
    """2-D CNN on log-mel spectrograms: ``n_blocks`` x (conv3x3-BN-ReLU-maxpool2-dropout).

    Parameters
    ----------
    heads : task name -> output size (classes, or 1 for regression)
    n_mels : mel bands of the input (128 in document 004)
    n_blocks : 3 or 4 conv blocks
    base_channels : channels of the first block; doubled at each block
    dropout : dropout after every block and before the heads (0.25 in document 004)
    input_mode : ``"adaptive"`` (any T) or ``"resize"`` (pad/interpolate to 128 x 256)
    pooled : ``(mels, frames)`` grid of the adaptive pooling
    embedding_dim : size of the penultimate dense layer
    pad_value : silence level used by the resize padding

    Examples
    --------
    >>> m = MelCNN(heads={"emotion": 5}).eval()
    >>> m(torch.randn(2, 1, 128, 173))["emotion"].shape
    torch.Size([2, 5])
    >>> m(torch.randn(1, 1, 128, 40))["emotion"].shape  # any length in adaptive mode
    torch.Size([1, 5])
    >>> r = MelCNN(heads={"phq8": 1}, n_blocks=4, input_mode="resize").eval()
    >>> r.embed(torch.randn(3, 1, 128, 500)).shape
    torch.Size([3, 128])
    """

    def __init__(self, *, heads: dict[str, int], n_mels: int = 128, n_blocks: int = 3,
                 base_channels: int = 16, dropout: float = 0.25,
                 input_mode: str = "adaptive", pooled: tuple[int, int] = (4, 4),
                 embedding_dim: int = 128, pad_value: float = -1.0) -> None:
        super().__init__()
        if n_blocks not in (3, 4):
            raise ParameterError(f"MelCNN: n_blocks={n_blocks}: document 004 uses 3 or 4 blocks")
        if input_mode not in ("adaptive", "resize"):
            raise ParameterError(f"MelCNN: input_mode={input_mode!r}: use 'adaptive' or 'resize'")
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"MelCNN: dropout={dropout} must be in [0, 1)")
        self.n_mels = n_mels
        self.input_mode = input_mode
        self.pad_value = pad_value
        self.min_frames = 2**n_blocks  # each block halves both axes
        chans = [1] + [base_channels * 2**i for i in range(n_blocks)]
        blocks: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            blocks += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Dropout(dropout)]
        self.features = nn.Sequential(*blocks)
        if input_mode == "adaptive":
            self.pool: nn.Module = nn.AdaptiveAvgPool2d(tuple(pooled))
            flat = chans[-1] * pooled[0] * pooled[1]
        else:
            self.pool = nn.Identity()
            flat = chans[-1] * (RESIZE_SHAPE[0] // 2**n_blocks) * (RESIZE_SHAPE[1] // 2**n_blocks)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(flat, embedding_dim),
                                   nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.embedding_dim = embedding_dim
        self.heads = make_heads(embedding_dim, check_heads(heads))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation.

        Parameters
        ----------
        x : Tensor [shape=(batch, 1, n_mels, T)]
            Normalised log-mel; T >= ``2 ** n_blocks`` in adaptive mode.

        Returns
        -------
        Tensor [shape=(batch, embedding_dim)]
        """
        if x.ndim == 3:  # (batch, mels, T): add the channel axis
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1:
            raise InputError(f"MelCNN expects (batch, 1, mels, T); got {tuple(x.shape)}")
        if self.input_mode == "resize":
            x = resize_logmel(x, pad_value=self.pad_value)
        else:
            if x.shape[2] != self.n_mels:
                raise InputError(f"MelCNN built for {self.n_mels} mels; got {x.shape[2]}")
            if x.shape[3] < self.min_frames:  # pad rather than fail deep in a pooling layer
                x = F.pad(x, (0, self.min_frames - x.shape[3]), value=self.pad_value)
        return self.dense(self.pool(self.features(x)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs per head, each ``(batch, n_out)``."""
        z = self.embed(x)
        return {k: h(z) for k, h in self.heads.items()}
