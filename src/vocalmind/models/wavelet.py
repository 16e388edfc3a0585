"""Learnable wavelet packet network on raw 16 kHz waveforms (seed document 001).

Pipeline for a waveform ``(batch, n_samples)`` of any length:

1. gain normalisation (divide by the clip's standard deviation) so thresholds and
   kernels do not depend on the recording level;
2. a learnable wavelet packet transform (:class:`LearnableWPT`): at each level every node
   is split by a learnable low-pass kernel ``h`` and the high-pass kernel derived from it
   by the quadrature-mirror relation ``g[n] = (-1)^n h[L-1-n]``, each followed by
   down-sampling by 2; ``depth`` levels give ``2 ** depth`` bands (natural, not
   frequency, order);
3. learnable asymmetric hard thresholding of the band coefficients
   (:class:`AsymmetricThreshold`, soft-sigmoid gates with separate positive and negative
   thresholds and a learnable sharpness) -- the denoising step;
4. per band a dilated 1-D CNN with spatial attention (one gate per time step), then a
   BiGRU with temporal attention pooling (separate weights per band; the CNNs of all
   bands run as one grouped convolution);
5. learnable band weighting (softmax over bands), a 1x1 convolution across the band
   vectors and global average pooling -> embedding -> one head per task.

The CNN pools time by ``prod(pools)`` (64 by default), so a BiGRU sees about 31 steps per
second at depth 3; this keeps inference far faster than real time on 2 CPU cores.

``frontend="energy"`` keeps steps 1-3 and replaces 4-5 by the time-domain filterbank recipe
of learnable front ends (Zeghidour et al. 2018, "Learning filterbanks from raw speech";
LEAF 2021): each band's squared coefficients are averaged over ``hop_ms`` frames and
log-compressed, each band's log energy is standardised over the clip's non-padded frames
(instance normalisation with a learnable gain and offset per band, as document 001's code
normalises its CNN activations per clip), then one dilated 1-D CNN over all bands, a
spatial attention gate per step, one BiGRU and temporal attention pooling. The bands meet
in the first convolution instead of only in the final average, and the recurrent net runs
at the frame rate (62.5 steps per second at a 16 ms hop) instead of on every band.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vocalmind.errors import InputError, ModelError, ParameterError
from vocalmind.models import check_heads, make_heads
from vocalmind.models.cnn_lstm import AttentionPool

__all__ = ["LearnableWPT", "AsymmetricThreshold", "WaveletNet", "DB4"]

#: Daubechies-4 decomposition low-pass filter (8 taps): the initial kernel of every level.
DB4 = (-0.010597401784997278, 0.032883011666982945, 0.030841381835986965,
       -0.18703481171888114, -0.02798376941698385, 0.6308807679295904,
       0.7148465705525415, 0.23037781330885523)


def qmf_highpass(h: torch.Tensor) -> torch.Tensor:
    """High-pass kernel from a low-pass one: ``g[n] = (-1)^n h[L-1-n]``.

    Examples
    --------
    >>> qmf_highpass(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor([ 4., -3.,  2., -1.])
    """
    sign = torch.ones_like(h)
    sign[1::2] = -1.0
    return torch.flip(h, dims=[0]) * sign


def _dilated_cnn(cin: int, cout: int, dilations: tuple[int, ...], pools: tuple[int, ...],
                 groups: int = 1) -> nn.Sequential:
    """Dilated 1-D CNN: per layer conv (kernel 3, 'same' padding) - BN - ReLU - max-pool.

    ``(batch, cin, T)`` -> ``(batch, cout, ceil(T / prod(pools)))``; ``groups`` > 1 keeps
    channel groups apart (one CNN per wavelet band).

    Examples
    --------
    >>> _dilated_cnn(8, 16, (1, 2), (2, 4))(torch.randn(2, 8, 100)).shape
    torch.Size([2, 16, 13])
    """
    layers: list[nn.Module] = []
    for d, p in zip(dilations, pools, strict=True):
        layers += [nn.Conv1d(cin, cout, 3, padding=d, dilation=d, groups=groups, bias=False),
                   nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]
        if p > 1:
            layers.append(nn.MaxPool1d(p, ceil_mode=True))
        cin = cout
    return nn.Sequential(*layers)


class LearnableWPT(nn.Module):
    """Learnable wavelet packet transform: ``depth`` levels, one low-pass kernel per level.

    Parameters
    ----------
    depth : number of levels (``2 ** depth`` output bands)
    kernel_size : taps of the low-pass kernel (8 = Daubechies-4 initialisation; other
        sizes start from a random kernel)
    learnable : whether the kernels are trained

    Examples
    --------
    >>> wpt = LearnableWPT(depth=3)
    >>> wpt(torch.randn(2, 1, 16000)).shape
    torch.Size([2, 8, 2000])
    """

    def __init__(self, depth: int = 3, kernel_size: int = 8, learnable: bool = True) -> None:
        super().__init__()
        if not 1 <= depth <= 6:
            raise ParameterError(f"LearnableWPT: depth={depth}: use 1 to 6 levels")
        if kernel_size < 2 or kernel_size % 2:
            raise ParameterError(f"LearnableWPT: kernel_size={kernel_size} must be even and >= 2")
        init = (torch.tensor(DB4) if kernel_size == 8
                else torch.randn(kernel_size) / math.sqrt(kernel_size))
        self.kernels = nn.ParameterList(
            [nn.Parameter(init.clone(), requires_grad=learnable) for _ in range(depth)])
        self.depth = depth
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [shape=(batch, 1, n)] -> bands [shape=(batch, 2**depth, ceil(n / 2**depth))]."""
        pad = (self.kernel_size // 2 - 1, self.kernel_size // 2)
        for h in self.kernels:
            c = x.shape[1]
            pair = torch.stack([h, qmf_highpass(h)])  # (2, L): low then high
            w = pair.repeat(c, 1).unsqueeze(1)  # (2c, 1, L), node i -> channels 2i, 2i+1
            x = F.conv1d(F.pad(x, pad), w, stride=2, groups=c)
        return x


class AsymmetricThreshold(nn.Module):
    """Learnable asymmetric (soft-gated) hard thresholding, one set per channel.

    ``y = x * (sigmoid(a (x - t_pos)) + sigmoid(-a (x + t_neg)))``: values between
    ``-t_neg`` and ``t_pos`` are driven to 0, larger ones pass. Thresholds and sharpness
    ``a`` are kept positive through softplus.

    Examples
    --------
    >>> th = AsymmetricThreshold(4, init=0.5, sharpness=50.0)
    >>> y = th(torch.tensor([[[0.1], [2.0], [-0.1], [-2.0]]]))
    >>> [round(v, 2) for v in y.flatten().tolist()]
    [0.0, 2.0, -0.0, -2.0]
    """

    def __init__(self, channels: int, *, init: float = 0.05, sharpness: float = 10.0) -> None:
        super().__init__()
        inv = math.log(math.expm1(init))  # softplus^-1
        self.raw_pos = nn.Parameter(torch.full((1, channels, 1), inv))
        self.raw_neg = nn.Parameter(torch.full((1, channels, 1), inv))
        self.raw_sharp = nn.Parameter(torch.full((1, channels, 1), math.log(math.expm1(sharpness))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [shape=(batch, channels, n)] -> same shape."""
        tp, tn = F.softplus(self.raw_pos), F.softplus(self.raw_neg)
        a = F.softplus(self.raw_sharp)
        return x * (torch.sigmoid(a * (x - tp)) + torch.sigmoid(-a * (x + tn)))


class WaveletNet(nn.Module):
    """Learnable WPT + per-band dilated CNN/spatial attention + BiGRU/temporal attention.

    Parameters
    ----------
    heads : task name -> output size (classes, or 1 for regression)
    depth : wavelet packet levels (``2 ** depth`` bands)
    kernel_size : wavelet kernel taps (8 = Daubechies-4 start)
    filters : CNN channels per band
    dilations : dilation of each CNN layer (kernel 3, 'same' padding)
    pools : max-pooling factor after each CNN layer (same length as ``dilations``)
    gru_hidden : hidden size of each GRU direction
    embedding_dim : channels of the final 1x1 convolution (the embedding size)
    dropout : dropout before the heads
    threshold_init : initial positive/negative thresholds (in units of the clip's std)
    shared_rnn : one BiGRU and one temporal attention shared by all bands (the bands run
        as one batch), instead of separate weights per band. The band CNNs, spatial
        attention and band weighting stay per band. Several times faster on CPU, where
        ``2 ** depth`` small recurrent loops cost far more than one batched loop.
    frontend : ``"coefficients"`` (the CNN reads the band coefficients, steps 4-5 above) or
        ``"energy"`` (log band energies per ``hop_ms`` frame, standardised per clip, then one
        CNN over all bands with ``filters`` channels; ``shared_rnn`` does not apply)
    hop_ms : frame hop of the energy front end in ms (rounded to whole band samples)

    Examples
    --------
    >>> m = WaveletNet(heads={"emotion": 7}).eval()
    >>> m(torch.randn(2, 16000))["emotion"].shape
    torch.Size([2, 7])
    >>> m(torch.randn(1, 3000))["emotion"].shape  # any length, also very short
    torch.Size([1, 7])
    >>> m.embed(torch.randn(2, 24000)).shape
    torch.Size([2, 64])
    >>> WaveletNet(heads={"e": 2}, shared_rnn=True).eval()(torch.randn(2, 8000))["e"].shape
    torch.Size([2, 2])
    >>> e = WaveletNet(heads={"e": 4}, frontend="energy", depth=5, filters=32,
    ...                pools=(1, 2, 2)).eval()
    >>> e.log_energy(torch.randn(2, 1, 16000))[0].shape  # 32 bands, 16 ms frames
    torch.Size([2, 32, 63])
    >>> e(torch.randn(3, 48000))["e"].shape
    torch.Size([3, 4])
    """

    def __init__(self, *, heads: dict[str, int], depth: int = 3, kernel_size: int = 8,
                 filters: int = 16, dilations: tuple[int, ...] = (1, 2, 4),
                 pools: tuple[int, ...] = (4, 4, 4), gru_hidden: int = 32,
                 embedding_dim: int = 64, dropout: float = 0.2,
                 threshold_init: float = 0.05, shared_rnn: bool = False,
                 frontend: str = "coefficients", hop_ms: float = 16.0) -> None:
        super().__init__()
        if len(dilations) != len(pools) or not dilations:
            raise ParameterError(f"WaveletNet: dilations {dilations} and pools {pools} need the same length")
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"WaveletNet: dropout={dropout} must be in [0, 1)")
        if frontend not in ("coefficients", "energy"):
            raise ParameterError(f"WaveletNet: frontend={frontend!r}: use 'coefficients' or "
                                 "'energy'")
        nb = 2**depth
        self.n_bands = nb
        self.frontend = frontend
        self.wpt = LearnableWPT(depth, kernel_size)
        self.threshold = AsymmetricThreshold(nb, init=threshold_init)
        self.filters = filters
        self.embedding_dim = embedding_dim
        self.dropout = nn.Dropout(dropout)
        if frontend == "energy":
            if not 0 < hop_ms <= 1000:
                raise ParameterError(f"WaveletNet: hop_ms={hop_ms} must be in (0, 1000]")
            self.hop = max(1, round(hop_ms / 1000.0 * 16000 / nb))  # in band samples
            self._build_energy_trunk(nb, filters, dilations, pools, gru_hidden, embedding_dim)
            self.min_samples = nb * self.hop * math.prod(pools)
            self.heads = make_heads(embedding_dim, check_heads(heads))
            return
        self.cnn = _dilated_cnn(nb, nb * filters, dilations, pools, groups=nb)
        # spatial attention: one sigmoid gate per band and time step
        self.spatial = nn.Conv1d(nb * filters, nb, 1, groups=nb)
        n_rnn = 1 if shared_rnn else nb
        self.shared_rnn = shared_rnn
        self.grus = nn.ModuleList(
            [nn.GRU(filters, gru_hidden, batch_first=True, bidirectional=True)
             for _ in range(n_rnn)])
        self.temporal = nn.ModuleList([AttentionPool(2 * gru_hidden, 32) for _ in range(n_rnn)])
        self.band_logits = nn.Parameter(torch.zeros(nb))
        self.mix = nn.Conv1d(2 * gru_hidden, embedding_dim, 1)
        self.min_samples = nb * math.prod(pools)
        self.heads = make_heads(embedding_dim, check_heads(heads))

    def _build_energy_trunk(self, nb: int, filters: int, dilations: tuple[int, ...],
                            pools: tuple[int, ...], gru_hidden: int, embedding_dim: int) -> None:
        """Layers of ``frontend="energy"``: per-band gain/offset, CNN over all bands,
        spatial gate, BiGRU, temporal attention, embedding projection."""
        self.band_gain = nn.Parameter(torch.ones(1, nb, 1))
        self.band_offset = nn.Parameter(torch.zeros(1, nb, 1))
        self.cnn = _dilated_cnn(nb, filters, dilations, pools)
        self.pools = tuple(pools)
        self.spatial = nn.Conv1d(filters, 1, 1)
        self.grus = nn.ModuleList([nn.GRU(filters, gru_hidden, batch_first=True,
                                          bidirectional=True)])
        self.temporal = nn.ModuleList([AttentionPool(2 * gru_hidden, 32)])
        self.mix = nn.Linear(2 * gru_hidden, embedding_dim)

    def log_energy(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised log band energies of a gain-normalised waveform.

        Parameters
        ----------
        x : Tensor [shape=(batch, 1, n_samples)], 16 kHz, zero-padded at the end

        Returns
        -------
        energy : Tensor [shape=(batch, 2 ** depth, frames)], one frame per ``hop_ms``;
            each band has mean 0 and standard deviation 1 over the clip's valid frames
            (before the learnable per-band gain and offset), padded frames are 0
        valid : BoolTensor [shape=(batch, frames)], frames that hold any non-zero sample
        """
        bands = self.threshold(self.wpt(x))  # (B, nb, n / nb)
        e = torch.log(F.avg_pool1d(bands * bands, self.hop, ceil_mode=True) + 1e-5)
        span = self.n_bands * self.hop  # input samples per frame
        valid = F.max_pool1d(x.abs(), span, ceil_mode=True)[:, 0, :e.shape[2]] > 0
        valid = valid | ~valid.any(dim=1, keepdim=True)  # an all-zero clip: every frame
        w = valid.unsqueeze(1).to(e.dtype)
        n = w.sum(dim=2, keepdim=True).clamp_min(1.0)
        mean = (e * w).sum(dim=2, keepdim=True) / n
        var = (((e - mean) * w) ** 2).sum(dim=2, keepdim=True) / n
        e = (e - mean) / torch.sqrt(var + 1e-5) * w  # padded frames at the mean
        return e * self.band_gain + self.band_offset * w, valid

    def _embed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``frontend="energy"``: waveform ``(B, 1, n)`` -> embedding ``(B, embedding_dim)``."""
        e, valid = self.log_energy(x)
        h = self.cnn(e)  # (B, F, T)
        for p in self.pools:  # a pooled step is valid when any frame under it is
            if p > 1:
                valid = F.max_pool1d(valid.float().unsqueeze(1), p, ceil_mode=True)[:, 0] > 0
        valid = valid[:, :h.shape[2]]
        h = h * torch.sigmoid(self.spatial(h))
        out, _ = self.grus[0](h.transpose(1, 2))
        v = self.temporal[0](out, valid)
        return self.dropout(torch.relu(self.mix(v)))

    def band_weights(self) -> torch.Tensor:
        """Softmax weights of the bands ``(2 ** depth,)`` (sum to 1); the coefficient front
        end's (the energy front end weighs bands by its per-band gain and first convolution)."""
        if self.frontend == "energy":
            raise ModelError("WaveletNet: frontend='energy' has no band weights; its bands "
                             "are weighed by band_gain and the first convolution")
        return torch.softmax(self.band_logits, dim=0)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation.

        Parameters
        ----------
        x : Tensor [shape=(batch, n_samples)] or (batch, 1, n_samples)
            16 kHz waveform; shorter than ``min_samples`` is zero-padded at the end.

        Returns
        -------
        Tensor [shape=(batch, embedding_dim)]
        """
        if x.ndim == 2:
            x = x.unsqueeze(1)
        if x.ndim != 3 or x.shape[1] != 1:
            raise InputError(f"WaveletNet expects (batch, n_samples); got {tuple(x.shape)}")
        if x.shape[2] < self.min_samples:
            x = F.pad(x, (0, self.min_samples - x.shape[2]))
        x = x / (x.std(dim=2, keepdim=True) + 1e-5)
        if self.frontend == "energy":
            return self._embed_energy(x)
        bands = self.threshold(self.wpt(x))  # (B, nb, n / nb)
        h = self.cnn(bands)  # (B, nb*F, T)
        h = h * torch.sigmoid(self.spatial(h)).repeat_interleave(self.filters, dim=1)
        b, _, t = h.shape
        h = h.view(b, self.n_bands, self.filters, t).transpose(2, 3)  # (B, nb, T, F)
        if self.shared_rnn:  # all bands as one batch (B * nb, T, F)
            out, _ = self.grus[0](h.reshape(b * self.n_bands, t, self.filters))
            v = self.temporal[0](out).view(b, self.n_bands, -1).transpose(1, 2)
        else:
            vecs = []
            for i, (gru, att) in enumerate(zip(self.grus, self.temporal, strict=True)):
                out, _ = gru(h[:, i])
                vecs.append(att(out))
            v = torch.stack(vecs, dim=2)
        v = v * self.band_weights()  # (B, 2H, nb)
        z = torch.relu(self.mix(v)).mean(dim=2)  # global average pooling over bands
        return self.dropout(z)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs per head, each ``(batch, n_out)``."""
        z = self.embed(x)
        return {k: h(z) for k, h in self.heads.items()}
