import pytest
import torch

import daptools as dap


def test_round_trip_is_exact_on_real_speech(speech):
    spec = dap.to_spectrogram(speech)
    assert spec.shape == (1, 2, 512, speech.numel() // 64 + 1)
    back = dap.to_waveform(spec, speech.numel())
    assert back.shape == speech.shape
    assert dap.metrics.snr(speech, back) > 100  # float32 precision, not ~20 dB as with mismatched FFTs


@pytest.mark.parametrize("length", [1, 63, 1021, 16001])
def test_round_trip_odd_lengths(length):
    wav = torch.randn(length + 1, generator=torch.Generator().manual_seed(length))
    back = dap.to_waveform(dap.to_spectrogram(wav), wav.numel())
    assert dap.metrics.snr(wav, back) > 100


def test_batched_spectrogram_matches_single():
    wavs = torch.randn(3, 4000, generator=torch.Generator().manual_seed(0))
    batch = dap.to_spectrogram(wavs)
    assert batch.shape[0] == 3
    assert torch.allclose(batch[1:2], dap.to_spectrogram(wavs[1]), atol=1e-5)
    assert dap.to_waveform(batch, 4000).shape == (3, 4000)


def test_channels_are_real_and_imaginary_parts():
    t = torch.arange(16000) / 16000
    wav = torch.cos(2 * torch.pi * 1000 * t)
    spec = dap.to_spectrogram(wav)
    stft = torch.stft(wav, 1022, 64, window=torch.hann_window(1022), pad_mode="constant", return_complex=True)
    assert torch.allclose(spec[0, 0], stft.real, atol=1e-4)
    assert torch.allclose(spec[0, 1], stft.imag, atol=1e-4)
    # the 1 kHz tone peaks at bin 1000 / (16000 / 1022) = 63.9
    assert int(dap.magnitude(spec)[0].mean(1).argmax()) == 64


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(0), "empty"),
    (torch.tensor([0.0, float("nan"), 1.0]), "NaN"),
    (torch.zeros(2, 3, 4), "mono"),
])
def test_bad_waveforms(bad, match):
    with pytest.raises(dap.DapError, match=match):
        dap.to_spectrogram(bad)


def test_bad_spectrograms():
    with pytest.raises(dap.DapError, match="real and imaginary"):
        dap.to_waveform(torch.zeros(1, 3, 512, 10), 640)
    with pytest.raises(dap.DapError, match="frequency bins"):
        dap.to_waveform(torch.zeros(1, 2, 100, 10), 640)
    with pytest.raises(dap.DapError, match="positive"):
        dap.to_waveform(torch.zeros(1, 2, 512, 10), 0)
