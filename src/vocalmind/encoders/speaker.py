"""A GE2E speaker encoder (Wan et al. 2018, as trained and released by Resemblyzer).

Three LSTM layers (40 mel bands -> 256 units), a linear layer and ReLU give a 256-d
embedding of each 1.6 s partial utterance; a recording's embedding is the L2-normalised
mean of its partials' (L2-normalised) embeddings. The weights are the ``pretrained.pt``
shipped inside the ``resemblyzer==0.1.4`` wheel (sha256-checked); the network and the
preprocessing are re-implemented here from the published recipe, so the package's own code
(which imports a removed scipy module) is never imported.

Besides the embedding, :meth:`GE2EEncoder.embed` returns the frame outputs of the second
LSTM layer, pooled (mean and std) by the feature set: less speaker-specific, more prosodic.

Examples
--------
>>> import numpy as np
>>> enc = GE2EEncoder()          # random weights
>>> emb, layer2 = enc.embed(np.random.default_rng(0).standard_normal(32000).astype("float32") * 0.1)
>>> emb.shape, layer2.shape[1]
((256,), 256)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from vocalmind.encoders.weights import packaged_weights, sha256_files
from vocalmind.errors import EncoderWeightsError, FeatureError

__all__ = ["GE2EEncoder", "load_speaker_encoder", "speaker_weight_file", "ge2e_preprocess", "ge2e_mel"]

SAMPLE_RATE = 16_000
N_MELS = 40
HOP = 160                 # 10 ms
PARTIAL_FRAMES = 160      # 1.6 s
RATE = 1.3                # partials per second
MIN_COVERAGE = 0.75       # a last partial shorter than this share of 1.6 s is dropped
TARGET_DBFS = -30.0       # volume normalisation target (raised only)
VAD_WINDOW = 480          # 30 ms
VAD_SMOOTH = 8            # windows in the moving average
VAD_MAX_SILENCE = 6       # windows of silence kept around speech


def ge2e_preprocess(y: np.ndarray) -> np.ndarray:
    """Raise the level to -30 dBFS (never lower it) and cut silences longer than ~0.2 s.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono 16 kHz signal

    Returns
    -------
    np.ndarray [shape=(m,), dtype=float32], ``m <= n``; the input itself if the detector
    finds no speech at all (the caller's quality checks decide what that means)
    """
    import webrtcvad
    from scipy.ndimage import binary_dilation

    y = np.asarray(y, dtype=np.float32)
    rms_db = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) + 1e-20)
    if rms_db < TARGET_DBFS:
        y = y * np.float32(10 ** ((TARGET_DBFS - rms_db) / 20))
    n = len(y) - len(y) % VAD_WINDOW
    if n < VAD_WINDOW:
        return y
    pcm = np.clip(np.round(y[:n] * 32767), -32768, 32767).astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    flags = np.array([vad.is_speech(pcm[2 * i: 2 * (i + VAD_WINDOW)], SAMPLE_RATE)
                      for i in range(0, n, VAD_WINDOW)], dtype=float)
    padded = np.concatenate([np.zeros((VAD_SMOOTH - 1) // 2), flags, np.zeros(VAD_SMOOTH // 2)])
    smooth = np.convolve(padded, np.ones(VAD_SMOOTH) / VAD_SMOOTH, mode="valid")
    mask = binary_dilation(np.round(smooth).astype(bool), np.ones(VAD_MAX_SILENCE + 1))
    if not mask.any():
        return y
    return y[:n][np.repeat(mask, VAD_WINDOW)]


def ge2e_mel(y: np.ndarray) -> np.ndarray:
    """40-band mel power spectrogram (not log) with 25 ms windows and 10 ms hops.

    Returns
    -------
    np.ndarray [shape=(n_frames, 40), dtype=float32]
    """
    import librosa

    return librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=SAMPLE_RATE,
                                          n_fft=400, hop_length=HOP,
                                          n_mels=N_MELS).astype(np.float32).T


def _partials(n_samples: int) -> tuple[list[slice], int]:
    """Mel-frame slices of the 1.6 s partials and the signal length they need (padded)."""
    step = int(np.round((SAMPLE_RATE / RATE) / HOP))
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    slices = [slice(s, s + PARTIAL_FRAMES) for s in starts]
    last_start = slices[-1].start * HOP
    coverage = (n_samples - last_start) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices, slices[-1].stop * HOP


class GE2EEncoder(nn.Module):
    """The GE2E network: LSTM(40 -> 256, 3 layers) -> linear(256) -> ReLU.

    Parameters
    ----------
    name : what the weights are called (recorded in run folders)
    weights_sha256 : digest of the weight file, or None for random weights
    """

    def __init__(self, *, name: str = "ge2e", weights_sha256: str | None = None) -> None:
        super().__init__()
        # three one-layer LSTMs rather than one stacked LSTM, so layer 2's outputs are at hand
        self.layers = nn.ModuleList(
            [nn.LSTM(N_MELS if k == 0 else 256, 256, batch_first=True) for k in range(3)])
        self.linear = nn.Linear(256, 256)
        self.name = name
        self.weights_sha256 = weights_sha256
        self.eval()

    def forward(self, mels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings and second-layer frame outputs of a batch of partials.

        Parameters
        ----------
        mels : torch.Tensor [shape=(batch, frames, 40)]

        Returns
        -------
        (embeddings [shape=(batch, 256)], L2-normalised;
         layer2 [shape=(batch, frames, 256)], outputs of the second LSTM layer)
        """
        h = mels
        outs = []
        for layer in self.layers:
            h, _ = layer(h)
            outs.append(h)
        emb = torch.relu(self.linear(outs[2][:, -1]))
        return emb / (emb.norm(dim=1, keepdim=True) + 1e-12), outs[1]

    @torch.no_grad()
    def embed(self, y: np.ndarray, *, preprocess: bool = True,
              max_batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Speaker embedding of one recording and its second-layer frames.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)], mono 16 kHz signal
        preprocess : apply :func:`ge2e_preprocess` first (the standard recipe)
        max_batch : partials per forward pass (bounds memory on long recordings)

        Returns
        -------
        (embedding [shape=(256,)], layer2 [shape=(n_frames_total, 256)]) as float32
        """
        if preprocess:
            y = ge2e_preprocess(y)
        if len(y) < HOP * 2:
            raise FeatureError(f"speaker: need at least 20 ms of signal, got {len(y)} samples")
        slices, needed = _partials(len(y))
        if needed > len(y):
            y = np.pad(y, (0, needed - len(y)))
        mel = torch.from_numpy(ge2e_mel(y))
        embs, frames = [], []
        for b in range(0, len(slices), max_batch):
            batch = torch.stack([mel[s] for s in slices[b: b + max_batch]])
            e, l2 = self(batch)
            embs.append(e)
            frames.append(l2.reshape(-1, 256))
        mean = torch.cat(embs).mean(0)
        return ((mean / (mean.norm() + 1e-12)).numpy().astype(np.float32),
                torch.cat(frames).numpy().astype(np.float32))


_LOADED: dict[str, GE2EEncoder] = {}


def speaker_weight_file(source: str | Path = "ge2e") -> Path:
    """The checkpoint ``source`` names (packaged weights verified by sha256).

    Raises
    ------
    EncoderWeightsError
        Package not installed, altered, or no file at the path.
    """
    if str(source) == "ge2e":
        parts, _ = packaged_weights("ge2e")
        return parts[0]
    path = Path(source).expanduser()
    if not path.is_file():
        raise EncoderWeightsError(f"no speaker-encoder checkpoint at {str(path)!r}; give "
                                  "'ge2e' (the resemblyzer==0.1.4 package) or a .pt file")
    return path


def load_speaker_encoder(source: str | Path = "ge2e") -> GE2EEncoder:
    """Load the GE2E encoder from the installed ``resemblyzer`` wheel or a ``.pt`` file.

    Parameters
    ----------
    source : ``"ge2e"`` (the packaged weights, sha256-checked) or a path to a checkpoint
        holding the same state dict (optionally under ``"model_state"``)

    Raises
    ------
    EncoderWeightsError
        Missing package or file, unreadable checkpoint, or weights of another shape.
    """
    path = speaker_weight_file(source)
    sha = sha256_files([path])
    if sha not in _LOADED:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
            raise EncoderWeightsError(f"{path}: not a readable checkpoint ({e})") from None
        state = ckpt.get("model_state", ckpt) if isinstance(ckpt, dict) else None
        model = GE2EEncoder(name="ge2e" if str(source) == "ge2e" else path.stem,
                            weights_sha256=sha)
        try:
            # the released checkpoint holds one stacked LSTM: lstm.weight_ih_l1 -> layers.1...
            state = {(f"layers.{k[-1]}.{k[5:-1]}0" if k.startswith("lstm.") else k): v
                     for k, v in state.items() if k.startswith(("lstm.", "linear."))}
            model.load_state_dict(state, strict=True)
        except (AttributeError, RuntimeError) as e:
            raise EncoderWeightsError(f"{path}: not GE2E speaker-encoder weights ({e})") from None
        model.requires_grad_(False)
        _LOADED[sha] = model
    return _LOADED[sha]
