"""Deep model families: shapes, registry, wavelet maths, SSL encoder loading (offline)."""

from __future__ import annotations

import doctest
import importlib
import json

import pytest
import torch
from typer.testing import CliRunner

from vocalmind.errors import ConfigError, ModelError
from vocalmind.models import DEEP_FAMILIES, build_model, get_family, list_models
from vocalmind.models.wavelet import DB4, AsymmetricThreshold, LearnableWPT, qmf_highpass

torch.set_num_threads(1)


def test_registry_lists_all_families() -> None:
    names = [f.name for f in list_models()]
    for n in ("svm", "logreg", "rf", "svr", "ridge", "mlp", *DEEP_FAMILIES):
        assert n in names
    assert get_family("melcnn").input_kind == "logmel"
    assert get_family("svr").tasks == ("regression",)
    with pytest.raises(ConfigError, match="unknown model family"):
        get_family("resnet")


def test_cli_models_list_json() -> None:
    from vocalmind.cli.models import app

    res = CliRunner().invoke(app, ["list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} >= {"melcnn", "wavelet", "svm", "mlp"}
    assert CliRunner().invoke(app, ["list"]).exit_code == 0


@pytest.mark.parametrize("mod", ["vocalmind.models", "vocalmind.models.melcnn",
                                 "vocalmind.models.cnn_lstm", "vocalmind.models.wavelet"])
def test_shape_doctests(mod: str) -> None:
    res = doctest.testmod(importlib.import_module(mod), optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0


def test_build_model_rejects_bad_params() -> None:
    with pytest.raises(ConfigError, match="accepted"):
        build_model("melcnn", heads={"y": 2}, n_layers=3)
    with pytest.raises(ConfigError, match="3 or 4"):
        build_model("melcnn", heads={"y": 2}, n_blocks=5)
    with pytest.raises(ConfigError, match="heads"):
        build_model("cnn_lstm", heads={})


@pytest.mark.parametrize("mode", ["adaptive", "resize"])
@pytest.mark.parametrize("frames", [3, 100, 700])
def test_melcnn_any_length(mode: str, frames: int) -> None:
    m = build_model("melcnn", heads={"a": 3, "b": 1}, input_mode=mode, base_channels=4,
                    n_blocks=4).eval()
    out = m(torch.randn(2, 1, 128, frames))
    assert out["a"].shape == (2, 3) and out["b"].shape == (2, 1)


def test_melcnn_rejects_wrong_mels() -> None:
    m = build_model("melcnn", heads={"a": 2}, base_channels=4).eval()
    with pytest.raises(ValueError, match="128 mels"):
        m(torch.randn(1, 1, 40, 100))


def test_qmf_relation_and_wpt_energy() -> None:
    h = torch.tensor(DB4)
    g = qmf_highpass(h)
    for n in range(8):
        assert g[n] == pytest.approx((-1) ** n * h[7 - n])
    # Daubechies filters are orthonormal: low and high pass are orthogonal, unit norm
    assert float(h @ g) == pytest.approx(0.0, abs=1e-6)
    assert float(h @ h) == pytest.approx(1.0, abs=1e-5)
    # an orthogonal transform keeps the energy of a signal (up to edge effects)
    x = torch.randn(1, 1, 4096)
    c = LearnableWPT(depth=3)(x).detach()
    assert c.shape == (1, 8, 512)
    assert float((c**2).sum()) == pytest.approx(float((x**2).sum()), rel=0.02)


def test_threshold_is_asymmetric_and_learnable() -> None:
    th = AsymmetricThreshold(1, init=0.5, sharpness=100.0)
    with torch.no_grad():
        th.raw_neg.fill_(2.0)  # negative threshold about 2.13
    y = th(torch.tensor([[[0.3, 1.0, -1.0, -3.0]]])).detach()
    assert y[0, 0, 0].abs() < 1e-3 and y[0, 0, 1] == pytest.approx(1.0, abs=1e-3)
    assert y[0, 0, 2].abs() < 1e-3 and y[0, 0, 3] == pytest.approx(-3.0, abs=1e-3)


def test_wavelet_gradients_reach_kernels_and_band_weights() -> None:
    m = build_model("wavelet", heads={"y": 2}, filters=4, gru_hidden=8)
    out = m(torch.randn(2, 8000))["y"].sum()
    out.backward()
    for p in (m.wpt.kernels[0], m.threshold.raw_pos, m.band_logits):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0
    assert float(m.band_weights().detach().sum()) == pytest.approx(1.0)


def test_cnn_lstm_multitask_shapes() -> None:
    m = build_model("cnn_lstm", heads={"phq8_band": 5, "gad7_band": 4}, channels=8,
                    lstm_hidden=8).eval()
    out = m(torch.randn(3, 40, 500))
    assert out["phq8_band"].shape == (3, 5) and out["gad7_band"].shape == (3, 4)


# ------------------------------------------------------------------------------- SSL


@pytest.fixture(scope="module")
def tiny_encoder(tiny_wav2vec2: str) -> str:
    return tiny_wav2vec2


@pytest.mark.parametrize("layers", ["last", "sum", "weighted"])
@pytest.mark.parametrize("pooling", ["attention", "max"])
def test_ssl_attention_shapes(tiny_encoder: str, layers: str, pooling: str) -> None:
    m = build_model("ssl_attention", heads={"y": 2}, encoder_path=tiny_encoder, layers=layers,
                    pooling=pooling, cnn_channels=(16, 16, 16), lstm_hidden=8).eval()
    mask = torch.tensor([[True, True, False], [True, False, False]])
    x = torch.randn(2, 3, 4000)
    out = m(x, mask)["y"]
    assert out.shape == (2, 2)
    # padded segments do not change the prediction
    out2 = m(x[1:, :1], mask[1:, :1])["y"]
    assert torch.allclose(out[1:], out2, atol=1e-5)


def test_ssl_freeze_modes(tiny_encoder: str) -> None:
    def trainable(freeze: str) -> set[str]:
        m = build_model("ssl_attention", heads={"y": 2}, encoder_path=tiny_encoder,
                        freeze=freeze)
        return {n for n, p in m.named_parameters() if p.requires_grad and n.startswith("encoder.")}

    assert trainable("frozen") == set()
    last = trainable("last")
    assert last and all(n.startswith("encoder.encoder.layers.1.") for n in last)
    full = trainable("all")
    assert last < full and not any("feature_extractor" in n for n in full)


def test_ssl_missing_folder_is_clear(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no config.json"):
        build_model("ssl_attention", heads={"y": 2}, encoder_path=str(tmp_path / "nope"))


def test_wavelet_shared_rnn_is_one_recurrent_net_for_all_bands() -> None:
    torch.manual_seed(0)
    per_band = build_model("wavelet", heads={"y": 3}, filters=4, gru_hidden=8)
    shared = build_model("wavelet", heads={"y": 3}, filters=4, gru_hidden=8, shared_rnn=True)
    assert len(per_band.grus) == 8 and len(shared.grus) == 1
    assert sum(p.numel() for p in shared.parameters()) < sum(
        p.numel() for p in per_band.parameters())
    x = torch.randn(2, 8000)
    shared.eval()
    out = shared(x)["y"]
    assert out.shape == (2, 3)
    # each band is still pooled on its own: batching the bands equals looping over them
    with torch.no_grad():
        xs = x.unsqueeze(1) / (x.unsqueeze(1).std(dim=2, keepdim=True) + 1e-5)
        h = shared.cnn(shared.threshold(shared.wpt(xs)))
        h = h * torch.sigmoid(shared.spatial(h)).repeat_interleave(4, dim=1)
        h = h.view(2, 8, 4, -1).transpose(2, 3)
        loop = torch.stack([shared.temporal[0](shared.grus[0](h[:, i])[0]) for i in range(8)], 2)
        z = torch.relu(shared.mix(loop * shared.band_weights())).mean(dim=2)
        assert torch.allclose(shared.heads["y"](z), out, atol=1e-5)


def test_wavelet_energy_frontend_standardises_valid_frames_per_band() -> None:
    torch.manual_seed(0)
    m = build_model("wavelet", heads={"y": 3}, frontend="energy", depth=4, filters=8,
                    gru_hidden=8, pools=(1, 2, 2), hop_ms=16.0).eval()
    assert m.hop == 16  # 16 ms at 1 kHz band rate
    x = torch.zeros(2, 1, 16000)
    x[0] = torch.randn(16000)
    x[1, 0, :6000] = torch.randn(6000)  # the rest is end padding
    with torch.no_grad():
        e, valid = m.log_energy(x)
    assert e.shape == (2, 16, 63) and valid.shape == (2, 63)
    assert bool(valid[0].all())
    # frames of 256 input samples: the first 24 hold signal (6000 / 256 = 23.4)
    assert valid[1].tolist() == [True] * 24 + [False] * 39
    for b in range(2):
        v = e[b][:, valid[b]]
        assert torch.allclose(v.mean(dim=1), torch.zeros(16), atol=1e-4)
        assert torch.allclose(v.std(dim=1, unbiased=False), torch.ones(16), atol=1e-2)
    assert float(e[1][:, ~valid[1]].abs().max()) == 0.0  # padding sits at the mean
    # the level of the recording does not matter (gain normalisation, then log + standardise)
    with torch.no_grad():
        assert torch.allclose(m(x[:, 0])["y"], m(10 * x[:, 0])["y"], atol=1e-4)


def test_wavelet_energy_frontend_learns_kernels_and_handles_silence() -> None:
    m = build_model("wavelet", heads={"y": 2}, frontend="energy", depth=3, filters=4,
                    gru_hidden=4, pools=(1, 2, 2))
    m(torch.randn(2, 8000))["y"].sum().backward()
    for p in (m.wpt.kernels[0], m.threshold.raw_pos, m.band_gain, m.cnn[0].weight):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0
    m.eval()
    with torch.no_grad():  # an all-zero clip gives a finite output, not NaN
        assert torch.isfinite(m(torch.zeros(1, 4000))["y"]).all()
    with pytest.raises(ModelError, match="no band weights"):
        m.band_weights()
    with pytest.raises(ConfigError, match="frontend='mel'"):
        build_model("wavelet", heads={"y": 2}, frontend="mel")
