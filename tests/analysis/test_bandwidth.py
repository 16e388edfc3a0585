"""Which features read bands that 8 kHz recordings do not have."""

from vocalmind.analysis.bandwidth import band_limited_features, required_bandwidth_hz


def test_named_bands_against_the_nyquist_frequency():
    names = ["hammarbergIndexV_sma3nz_amean", "alphaRatioUV_sma3nz_amean",
             "slopeV0-500_sma3nz_amean", "slopeV500-1500_sma3nz_amean", "mfcc1_sma3_amean",
             "pcm_fftMag_fband1000-4000_sma_amean", "audSpec_Rfilt_sma[20]_amean",
             "F0semitoneFrom27.5Hz_sma3nz_amean", "jitterLocal_sma3nz_amean"]
    assert band_limited_features(names, 8000) == [
        "hammarbergIndexV_sma3nz_amean", "alphaRatioUV_sma3nz_amean", "mfcc1_sma3_amean",
        "audSpec_Rfilt_sma[20]_amean"]
    assert band_limited_features(names, 16000) == []
    assert "pcm_fftMag_fband1000-4000_sma_amean" in band_limited_features(names, 2000)
    assert required_bandwidth_hz("jitterLocal_sma3nz_amean") is None
