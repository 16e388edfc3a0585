"""Self-supervised encoder + segment CNN/attention pooling + LSTM/self-attention (document 003).

A recording (or all recordings of a subject) is cut into fixed segments (7 s in document
003). Each segment goes through a self-supervised speech encoder (wav2vec 2.0, HuBERT or
WavLM, via ``transformers.AutoModel``), whose layers are combined (last layer, sum, or a
learned softmax-weighted sum); a 1-D CNN (3 blocks of 80 filters) and a pooling layer
(attention, mean or max) turn the frames of a segment into one vector; an LSTM and a
self-attention layer read the sequence of segment vectors and give one prediction per
sequence.

The encoder is wav2vec 2.0 / HuBERT / WavLM from a local folder (``from_pretrained(path,
local_files_only=True)``), or Whisper's encoder (:mod:`vocalmind.encoders.whisper`): the
installed weight packages by name (``encoder_path="whisper:base"``, ``"whisper:tiny.en"``) or
a Whisper CTranslate2 / transformers folder or OpenAI ``.pt`` file (``"whisper:<path>"``).
Nothing is downloaded.

With a frozen encoder, each distinct segment is encoded once and its hidden states kept
(in memory, float16, keyed by the segment's bytes): later epochs, trials and inner folds
train only the head, which makes the family trainable on two CPU cores. Freeze modes: ``"frozen"`` (encoder
not trained, run without gradients), ``"last"`` (only the last transformer layer is
fine-tuned), ``"all"`` (all transformer layers fine-tuned; the convolutional feature
encoder stays frozen, as in document 003).

Per-speaker normalisation (``speaker_norm=True``, frozen encoder only) is the deep analogue
of standardising features per speaker: each hidden dimension of each layer's frozen states
is standardised with that speaker's mean and standard deviation over all frames of all of
the speaker's segments (:meth:`SSLAttention.set_speakers`; padding at the end of a tail
segment is left out of the statistics). It reads no label, so test speakers are normalised
with statistics of their own unlabelled recordings, as the feature baseline's per-speaker
normalisation does at test time. A speaker with fewer than ``speaker_norm_min_segments``
segments is refused (:class:`~vocalmind.errors.SpeakerError`): the statistics of a few
utterances would mostly reflect what was said and how, not who said it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vocalmind.errors import EncoderWeightsError, InputError, ParameterError, SpeakerError
from vocalmind.models import check_heads, make_heads
from vocalmind.models.cnn_lstm import AttentionPool

__all__ = ["SSLAttention", "load_ssl_encoder", "WhisperBackbone"]

LAYER_MODES = ("last", "sum", "weighted")
FREEZE_MODES = ("frozen", "last", "all", "top<k>")
POOLINGS = ("attention", "mean", "max", "mean_std")


class _StateCache:
    """Hidden states of frozen encoders per segment, least recently used dropped first once
    ``max_bytes`` is held (float16; ~0.7 GB for EMO-DB through Whisper base's first 3
    blocks). Shared by every model in the process, so outer folds, inner folds and search
    trials encode each segment once."""

    def __init__(self, max_bytes: int = 3 << 30) -> None:
        from collections import OrderedDict

        self.max_bytes = max_bytes
        self._d: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple) -> torch.Tensor | None:
        v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
        return v

    def put(self, key: tuple, value: torch.Tensor) -> None:
        self._d[key] = value
        self._bytes += value.numel() * value.element_size()
        while self._bytes > self.max_bytes and len(self._d) > 1:
            _, old = self._d.popitem(last=False)
            self._bytes -= old.numel() * old.element_size()


_FROZEN_CACHE = _StateCache()


class WhisperBackbone(nn.Module):
    """Whisper's encoder behind the interface ``SSLAttention`` expects of an SSL encoder.

    Parameters
    ----------
    source : a packaged name (``"base"``, ``"tiny.en"``) or a Whisper folder / ``.pt`` file
    max_layer : deepest block used (None = all); hidden states 0..max_layer are returned
    trainable : keep a private, trainable copy (fine-tuning) instead of the shared frozen one

    Attributes
    ----------
    config : ``num_hidden_layers`` (= max_layer) and ``hidden_size``, like transformers'
    encoder.layers : the transformer blocks (for ``freeze="last"``)
    """

    def __init__(self, source: str, *, max_layer: int | None = None,
                 trainable: bool = False) -> None:
        super().__init__()
        import copy
        from types import SimpleNamespace

        from vocalmind.encoders.whisper import load_whisper_encoder

        shared = load_whisper_encoder(source)
        self.whisper = copy.deepcopy(shared) if trainable else shared
        n = self.whisper.n_layers if max_layer is None else int(max_layer)
        if not 1 <= n <= self.whisper.n_layers:
            raise ParameterError(f"WhisperBackbone: max_layer={max_layer}, but Whisper "
                                 f"{source!r} has blocks 1..{self.whisper.n_layers}")
        self.max_layer = n
        self.config = SimpleNamespace(num_hidden_layers=n, hidden_size=self.whisper.dim)
        self.encoder = SimpleNamespace(layers=self.whisper.encoder.layers[:n])

    def forward(self, seg: torch.Tensor, output_hidden_states: bool = True) -> object:
        """Segments ``(n, samples)`` at 16 kHz -> ``.hidden_states`` (max_layer + 1 tensors
        ``(n, frames, hidden)``, 20 ms frames) and ``.last_hidden_state``."""
        from types import SimpleNamespace

        from vocalmind.encoders.whisper import whisper_log_mel

        states = self.whisper(whisper_log_mel(seg, n_mels=self.whisper.n_mels),
                              up_to=self.max_layer)
        return SimpleNamespace(last_hidden_state=states[-1], hidden_states=tuple(states))


def _valid_frames(seg: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Which of ``n_frames`` encoder frames of each segment ``(n, samples)`` hold audio, not
    the zero padding at the end of a tail segment: ``(n, n_frames)`` bool (a frame counts
    when it starts before the last non-zero sample)."""
    n, samples = seg.shape
    nz = seg != 0
    last = torch.where(nz.any(dim=1), samples - nz.flip(1).float().argmax(dim=1), 0)
    valid_n = torch.clamp(torch.ceil(last.double() * n_frames / samples).long(), 1, n_frames)
    return torch.arange(n_frames)[None, :] < valid_n[:, None]


def _is_whisper(path: str | Path) -> bool:
    return str(path).startswith("whisper:")


def load_ssl_encoder(path: str | Path) -> nn.Module:
    """Load a wav2vec 2.0 / HuBERT / WavLM encoder from a local folder, never the network.

    Parameters
    ----------
    path : folder written by ``save_pretrained`` (``config.json`` + weights)

    Raises
    ------
    EncoderWeightsError
        The folder is missing or holds no loadable model; the message says what to put there.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub id would otherwise stall ~26 s
    p = Path(path)
    if not (p / "config.json").is_file():
        raise EncoderWeightsError(
            f"SSL encoder folder {str(p)!r} has no config.json; give a local folder written "
            "by save_pretrained (models are never downloaded)")
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise EncoderWeightsError(f"cannot load an SSL encoder from {str(p)!r}: {exc}") from exc


class SSLAttention(nn.Module):
    """SSL encoder -> per-segment 1-D CNN + pooling -> LSTM + self-attention -> heads.

    Parameters
    ----------
    heads : task name -> output size (classes, or 1 for regression)
    encoder_path : local folder of the pretrained encoder (see :func:`load_ssl_encoder`)
    layers : ``"last"``, ``"sum"`` or ``"weighted"`` (learned softmax weights over all
        hidden states)
    freeze : ``"frozen"``, ``"last"`` (= ``"top1"``), ``"top<k>"`` (the k top transformer
        blocks fine-tuned) or ``"all"``
    cnn_channels : filters of the conv blocks (80, 80, 80 in document 003); empty: no conv
        block, the (normalised) states are pooled directly
    kernel_size : kernel of the conv blocks
    pooling : ``"attention"``, ``"mean"``, ``"max"`` or ``"mean_std"`` (mean and standard
        deviation concatenated, the statistics a frozen-feature linear model uses) over the
        frames of a segment
    lstm_hidden : hidden size of the segment-level LSTM
    dropout : dropout in the conv blocks and before the heads
    normalize_input : zero-mean unit-variance per segment (default: True for wav2vec 2.0 and
        its kin, which expect it; False for Whisper)
    max_layer : Whisper only: deepest encoder block used (default all; the middle block
        carries most of the paralinguistic information)
    state_norm : batch-normalise each hidden dimension of the combined states before the
        CNN (default: True for Whisper, whose states carry large per-dimension offsets common
        to every input - without it the segment vectors collapse and the head learns
        nothing; False for wav2vec 2.0 and its kin, as before)
    speaker_norm : standardise each layer's frozen states per speaker (module doc); the
        speakers' statistics are given by :meth:`set_speakers` before training or
        prediction (the estimator does it from the rows' subjects)
    speaker_norm_min_segments : fewest segments a speaker needs for its statistics

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
                 dropout: float = 0.2, normalize_input: bool | None = None,
                 max_layer: int | None = None, state_norm: bool | None = None,
                 speaker_norm: bool = False, speaker_norm_min_segments: int = 10) -> None:
        super().__init__()
        if layers not in LAYER_MODES:
            raise ParameterError(f"SSLAttention: layers={layers!r}: choose one of {LAYER_MODES}")
        if freeze not in FREEZE_MODES[:3] and not (
                isinstance(freeze, str) and freeze.startswith("top") and freeze[3:].isdigit()
                and int(freeze[3:]) >= 1):
            raise ParameterError(f"SSLAttention: freeze={freeze!r}: choose one of {FREEZE_MODES} "
                                 "(e.g. top2: the two top blocks are fine-tuned)")
        if pooling not in POOLINGS:
            raise ParameterError(f"SSLAttention: pooling={pooling!r}: choose one of {POOLINGS}")
        if speaker_norm and freeze != "frozen":
            raise ParameterError(f"SSLAttention: speaker_norm needs freeze='frozen' (the "
                                 f"statistics are of the frozen states); got {freeze!r}")
        if int(speaker_norm_min_segments) < 1:
            raise ParameterError("SSLAttention: speaker_norm_min_segments must be >= 1; got "
                                 f"{speaker_norm_min_segments}")
        self.speaker_norm = bool(speaker_norm)
        self.speaker_norm_min_segments = int(speaker_norm_min_segments)
        # segment key -> speaker, speaker -> (mean, std) each (n_states, hidden); not weights:
        # recomputed from the audio at every fit and prediction, never saved
        self._segment_speaker: dict[bytes, str] = {}
        self._speaker_stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        whisper = _is_whisper(encoder_path)
        if whisper:
            self.encoder = WhisperBackbone(str(encoder_path)[len("whisper:"):],
                                           max_layer=max_layer, trainable=freeze != "frozen")
        else:
            if max_layer is not None:
                raise ParameterError("SSLAttention: max_layer applies to Whisper encoders only")
            self.encoder = load_ssl_encoder(encoder_path)
        self.layer_mode = layers
        self.freeze = freeze
        self.pooling = pooling
        # wav2vec 2.0 expects zero-mean unit-variance input; Whisper its raw level
        self.normalize_input = (not whisper) if normalize_input is None else normalize_input
        # frozen-encoder cache key: encoder weights + every setting that changes the states
        self._cache_tag = (str(encoder_path), getattr(self.encoder, "max_layer", None),
                           getattr(getattr(self.encoder, "whisper", None), "weights_sha256", None),
                           layers == "last", self.normalize_input)
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
        use_norm = whisper if state_norm is None else state_norm
        self.state_norm = nn.BatchNorm1d(hidden) if use_norm else None
        self.frame_pool = AttentionPool(cin, 64) if pooling == "attention" else None
        seg_dim = 2 * cin if pooling == "mean_std" else cin
        self.segment_dim = seg_dim
        self.lstm = nn.LSTM(seg_dim, lstm_hidden, batch_first=True)
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
        if self.freeze != "frozen" and isinstance(enc, WhisperBackbone):
            for p in enc.whisper.parameters():
                p.requires_grad = self.freeze == "all"
            for p in enc.whisper.encoder.conv1.parameters():
                p.requires_grad = False  # the convolutional front end stays as pretrained
            for p in enc.whisper.encoder.conv2.parameters():
                p.requires_grad = False
        top = 1 if self.freeze == "last" else (
            int(self.freeze[3:]) if self.freeze.startswith("top") else 0)
        if top:
            layers = getattr(getattr(enc, "encoder", None), "layers", None)
            if layers is None:
                raise ParameterError(f"SSLAttention: freeze={self.freeze!r} needs an encoder with "
                                     ".encoder.layers (wav2vec 2.0, HuBERT, WavLM, Whisper)")
            if top > len(layers):
                raise ParameterError(f"SSLAttention: freeze={self.freeze!r}, but the encoder has "
                                     f"{len(layers)} blocks")
            for layer in list(layers)[-top:]:
                for p in layer.parameters():
                    p.requires_grad = True

    def train(self, mode: bool = True) -> SSLAttention:
        """Set training mode; a frozen encoder always stays in eval mode (no dropout)."""
        super().train(mode)
        if self.freeze == "frozen":
            self.encoder.eval()
        return self

    def _states(self, seg: torch.Tensor) -> torch.Tensor:
        """Segments ``(n, samples)`` -> hidden states ``(L+1, n, frames, hidden)`` (or
        ``(1, ...)`` holding the last state only, in ``"last"`` mode)."""
        if self.normalize_input:
            seg = (seg - seg.mean(dim=1, keepdim=True)) / (seg.std(dim=1, keepdim=True) + 1e-5)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.freeze != "frozen"):
            out = self.encoder(seg, output_hidden_states=self.layer_mode != "last")
        if self.layer_mode == "last":
            return out.last_hidden_state.unsqueeze(0)
        return torch.stack(out.hidden_states, dim=0)

    def _segment_keys(self, seg: torch.Tensor) -> list[tuple]:
        """Cache key of each segment ``(n, samples)``: encoder settings + a digest of its bytes."""
        import hashlib

        return [(self._cache_tag, hashlib.blake2b(s.detach().cpu().numpy().tobytes(),
                                                  digest_size=16).digest()) for s in seg]

    def _frozen_states(self, seg: torch.Tensor, keys: list[tuple] | None = None
                       ) -> torch.Tensor:
        """:meth:`_states` through the process-wide segment cache (frozen encoder only)."""
        keys = self._segment_keys(seg) if keys is None else keys
        todo = [i for i, k in enumerate(keys) if _FROZEN_CACHE.get(k) is None]
        if todo:
            fresh = self._states(seg[todo]).to(torch.float16).cpu()
            for j, i in enumerate(todo):
                _FROZEN_CACHE.put(keys[i], fresh[:, j].clone())
        return torch.stack([_FROZEN_CACHE.get(k) for k in keys], dim=1).to(
            device=seg.device, dtype=torch.float32)

    def set_speakers(self, sequences: list[np.ndarray | torch.Tensor], speakers: list[str], *,
                     batch_size: int = 16, eps: float = 1e-3) -> None:
        """Compute each speaker's statistics of the frozen states (``speaker_norm``).

        Parameters
        ----------
        sequences : segment sequences ``(n_segments, samples)`` at 16 kHz, as the model reads
            them (one unit each); every segment of a speaker enters its statistics
        speakers : speaker of each sequence
        batch_size : segments encoded at once (states go to the shared cache)
        eps : floor of the standard deviation (a constant dimension stays finite)

        Speakers given again are recomputed; segments already registered keep working, so
        training and test speakers can be set by separate calls. No label is read.

        Raises
        ------
        SpeakerError
            A speaker with fewer than ``speaker_norm_min_segments`` segments.
        ParameterError
            The model was built without ``speaker_norm``.
        """
        if not self.speaker_norm:
            raise ParameterError("SSLAttention.set_speakers: the model was built without "
                                 "speaker_norm=True")
        if len(sequences) != len(speakers):
            raise InputError(f"SSLAttention.set_speakers: {len(sequences)} sequences but "
                             f"{len(speakers)} speakers")
        by_spk: dict[str, list[torch.Tensor]] = {}
        for a, spk in zip(sequences, speakers, strict=True):
            t = torch.as_tensor(np.asarray(a, dtype=np.float32))
            by_spk.setdefault(str(spk), []).extend(t.reshape(-1, t.shape[-1]))
        short = {k: len(v) for k, v in by_spk.items() if len(v) < self.speaker_norm_min_segments}
        if short:
            raise SpeakerError(
                f"ssl_attention speaker_norm: speaker(s) {short} have fewer than "
                f"{self.speaker_norm_min_segments} segments (speaker_norm_min_segments); give "
                "more recordings of each speaker, lower speaker_norm_min_segments, or train "
                "without speaker_norm")
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                for spk, segs in by_spk.items():
                    total = s1 = s2 = None
                    for i in range(0, len(segs), batch_size):
                        seg = torch.stack(segs[i:i + batch_size])
                        keys = self._segment_keys(seg)
                        h = self._frozen_states(seg, keys).double()  # (L, n, frames, hidden)
                        valid = _valid_frames(seg, h.shape[2])  # (n, frames)
                        w = valid.to(h.dtype)[None, :, :, None]
                        n = w.sum(dim=(1, 2))  # (1, 1)
                        a1, a2 = (w * h).sum(dim=(1, 2)), (w * h * h).sum(dim=(1, 2))
                        total = n if total is None else total + n
                        s1 = a1 if s1 is None else s1 + a1
                        s2 = a2 if s2 is None else s2 + a2
                        for k in keys:
                            self._segment_speaker[k[1]] = spk
                    mean = s1 / total
                    sd = (s2 / total - mean * mean).clamp_min(0).sqrt().clamp_min(eps)
                    self._speaker_stats[spk] = (mean.float(), sd.float())
        finally:
            self.train(was_training)

    def _speaker_normalise(self, states: torch.Tensor, keys: list[tuple]) -> torch.Tensor:
        """Frozen states ``(L, n, frames, hidden)`` standardised with each segment's speaker's
        statistics."""
        means, sds = [], []
        for k in keys:
            spk = self._segment_speaker.get(k[1])
            if spk is None:
                raise SpeakerError("ssl_attention speaker_norm: a segment of no known speaker; "
                                   "give every speaker's recordings to set_speakers first (the "
                                   "estimator does it from the rows' 'subject' column)")
            m, s = self._speaker_stats[spk]
            means.append(m)
            sds.append(s)
        mu = torch.stack(means, dim=1).to(states.device)[:, :, None, :]  # (L, n, 1, hidden)
        sd = torch.stack(sds, dim=1).to(states.device)[:, :, None, :]
        return (states - mu) / sd

    def _encode(self, seg: torch.Tensor) -> torch.Tensor:
        """Segments ``(n, samples)`` -> combined hidden states ``(n, frames, hidden)``."""
        if self.freeze != "frozen":
            states = self._states(seg)
        elif self.speaker_norm:
            keys = self._segment_keys(seg)
            states = self._speaker_normalise(self._frozen_states(seg, keys), keys)
        else:
            states = self._frozen_states(seg)
        if self.layer_mode == "last":
            return states[0]
        if self.layer_mode == "sum":
            return states.sum(dim=0)
        w = torch.softmax(self.layer_logits, dim=0).view(-1, 1, 1, 1)
        return (w * states).sum(dim=0)

    def layer_weights(self) -> torch.Tensor:
        """Softmax weights over the encoder's hidden states (``"weighted"`` mode)."""
        return torch.softmax(self.layer_logits.detach(), dim=0)

    def segment_vectors(self, seg: torch.Tensor) -> torch.Tensor:
        """Segments ``(n, samples)`` -> segment vectors ``(n, segment_dim)``: the last conv
        block's channels (the encoder's hidden size without conv blocks), twice that for
        ``"mean_std"`` pooling."""
        h = self._encode(seg).transpose(1, 2)  # (n, hidden, frames)
        if self.state_norm is not None:
            h = self.state_norm(h)
        h = self.cnn(h)  # (n, C, frames)
        if self.pooling == "mean":
            return h.mean(dim=2)
        if self.pooling == "mean_std":
            return torch.cat([h.mean(dim=2), h.std(dim=2, unbiased=False)], dim=1)
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
            raise InputError("SSLAttention: x must be (batch, segments, samples); got "
                             f"{tuple(x.shape)}")
        b, m, s = x.shape
        if mask is None:
            mask = torch.ones(b, m, dtype=torch.bool, device=x.device)
        if not bool(mask.any(dim=1).all()):
            raise InputError("SSLAttention: every sequence needs at least one real segment (mask all False)")
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

