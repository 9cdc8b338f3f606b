import math

import numpy as np
import pytest
import torch

import daptools as dap
from daptools import metrics as M


@pytest.fixture
def tone():
    t = np.arange(16000) / 16000
    return np.sin(2 * np.pi * 220 * t) * np.hanning(16000)


def test_snr_analytic(tone):
    # error = 0.1 * signal -> SNR = 10 log10(1 / 0.01) = 20 dB
    assert M.snr(tone, 0.9 * tone) == pytest.approx(20.0, abs=1e-6)
    assert M.snr(tone, tone) > 100
    noise = np.random.default_rng(0).normal(size=tone.size)
    noise *= np.sqrt(np.sum(tone ** 2) / np.sum(noise ** 2) / 10)  # noise energy = signal energy / 10
    assert M.snr(tone, tone + noise) == pytest.approx(10.0, abs=1e-6)


def test_psnr_is_peak_based(tone):
    err = np.full_like(tone, 0.01)
    assert M.psnr(tone, tone + err) == pytest.approx(10 * math.log10(np.max(np.abs(tone)) ** 2 / 1e-4), abs=1e-6)
    assert M.psnr(tone, tone + err, peak=1.0) == pytest.approx(40.0, abs=1e-6)


def test_si_sdr_ignores_gain_but_snr_does_not(tone):
    assert M.si_sdr(tone, 0.5 * tone) > 100
    assert M.snr(tone, 0.5 * tone) == pytest.approx(6.0206, abs=1e-3)


def test_spectral_snr_and_envelope(tone):
    assert M.spectral_snr(tone, tone) > 100
    # magnitudes scale with the gain: |S| - 0.9|S| = 0.1|S| -> 20 dB
    assert M.spectral_snr(tone, 0.9 * tone) == pytest.approx(20.0, abs=1e-3)
    # a sign flip keeps every magnitude: spectral SNR cannot see it, waveform SNR can
    assert M.spectral_snr(tone, -tone) > 100 and M.snr(tone, -tone) < -5
    assert M.envelope_distance(tone, tone) == pytest.approx(0.0, abs=1e-12)
    assert M.envelope_distance(tone, -tone) == pytest.approx(0.0, abs=1e-9)
    assert M.envelope_distance(tone, 0.5 * tone) > 0.05


def test_pesq_identical_and_degraded(speech):
    x = speech.numpy()
    clean = M.pesq(x, x)
    noisy = M.pesq(x, x + 0.1 * np.random.default_rng(0).normal(size=x.size).astype(np.float32))
    assert clean > 4.0 and noisy < clean - 1.0


def test_sdr_sir_with_permutation(tone):
    rng = np.random.default_rng(1)
    other = rng.normal(size=tone.size) * 0.3
    refs = np.stack([tone, other])
    est = np.stack([other + 0.01 * rng.normal(size=tone.size), tone + 0.01 * tone])  # swapped order
    res = M.sdr_sir(refs, est)
    assert list(res["perm"]) == [1, 0]
    assert np.all(res["sdr"] > 20)
    assert M.best_permutation(refs, est) == (1, 0)


def test_metric_inputs_checked(tone):
    with pytest.raises(dap.DapError, match="same shape"):
        M.snr(tone, tone[:-1])
    with pytest.raises(dap.DapError, match="NaN"):
        M.snr(tone, np.full_like(tone, np.nan))
    with pytest.raises(dap.DapError, match="all zeros"):
        M.sdr_sir(np.zeros((2, 100)), np.ones((2, 100)))


def test_torch_and_numpy_agree(tone):
    t = torch.tensor(tone, dtype=torch.float32)
    assert M.snr(t, 0.9 * t) == pytest.approx(M.snr(tone, 0.9 * tone), abs=1e-4)


def test_silent_estimate_scores_very_low_instead_of_crashing(tone):
    other = np.random.default_rng(2).normal(size=tone.size) * 0.3
    refs = np.stack([tone, other])
    res = M.sdr_sir(refs, np.stack([tone + other, np.zeros_like(tone)]))
    assert np.all(np.isfinite(res["sdr"])) and res["sdr"].min() < -10 < res["sdr"].max()
