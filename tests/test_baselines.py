"""The baselines beside the priors (daptools.baselines): each does what it claims on a signal where
the answer is known, RNNoise is aligned, and a missing extra is a one-line error."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import daptools as dap
from daptools import baselines as B
from daptools import metrics as M
from daptools.separation.baselines import nmf

SR = 16000


def _sine(seconds=1.0, f=440.0):
    t = torch.arange(int(seconds * SR)) / SR
    return 0.5 * torch.sin(2 * np.pi * f * t)


def test_wiener_removes_white_noise_from_a_low_tone():
    clean = _sine(f=200.0)
    noisy = dap.add_gaussian_noise(clean, 0.1, seed=0)
    assert M.snr(clean, B.wiener(noisy)) > M.snr(clean, noisy) + 3  # measured +6.8 dB
    with pytest.raises(dap.DapError, match="odd"):
        B.wiener(noisy, window=4)


def test_rnnoise_output_is_aligned_with_its_input():
    pytest.importorskip("pyrnnoise")  # the optional extra daptools[baselines]
    clean = dap.data.load_clips("speech", n=1, duration=1.0)[0].audio
    out = B.rnnoise(clean)
    assert out.shape == clean.shape
    c = np.correlate(out.numpy(), clean.numpy(), mode="full")
    assert abs(int(np.argmax(c)) - (clean.numel() - 1)) <= 1  # no lag left after the delay is removed
    assert M.snr(clean, out) > 5  # a clean input comes back close to itself


def test_spectral_gating_runs_both_ways():
    pytest.importorskip("noisereduce")
    noisy = dap.add_gaussian_noise(_sine(), 0.05, seed=1)
    for stationary in (True, False):
        out = B.spectral_gating(noisy, stationary=stationary)
        assert out.shape == noisy.shape and torch.isfinite(out).all()


def test_linear_fill_draws_the_line_and_keeps_the_rest():
    x = torch.linspace(-1, 1, SR)
    holed = x.clone()
    holed[4000:6000] = 0
    out = B.linear_fill(holed, [(4000 / SR, 6000 / SR)])
    assert torch.allclose(out, x, atol=1e-4)  # a line is filled exactly
    assert torch.equal(out[:4000], holed[:4000]) and torch.equal(out[6000:], holed[6000:])


def test_lpc_fill_continues_a_tone_across_its_gap():
    pytest.importorskip("librosa")
    clean = _sine(f=330.0) + 0.3 * _sine(f=660.0)
    holed = clean.clone()
    holed[5000:7000] = 0
    out = B.lpc_fill(holed, [(5000 / SR, 7000 / SR)])
    gap = slice(5000, 7000)
    assert M.snr(clean[gap], out[gap]) > 10  # sums of sinusoids are AR signals: measured 15.3 dB
    assert M.snr(clean[gap], B.linear_fill(holed, [(5000 / SR, 7000 / SR)])[gap]) < 1  # a line is not


def test_inpainting_baselines_refuse_no_gaps():
    with pytest.raises(dap.DapError, match="at least one gap"):
        B.linear_fill(_sine(), [])


def test_nmf_splits_a_tone_from_clicks():
    pytest.importorskip("librosa")
    tone = _sine(f=300.0)
    clicks = torch.zeros(SR)
    g = torch.Generator().manual_seed(0)
    for start in range(1000, SR - 800, 4000):
        clicks[start:start + 400] = torch.randn(400, generator=g) * torch.exp(-torch.arange(400) / 60.0)
    mixture = tone + clicks
    est = nmf(mixture)
    bss = M.sdr_sir(torch.stack([tone, clicks]), est)
    mix = M.sdr_sir(torch.stack([tone, clicks]), torch.stack([mixture, mixture]))
    assert all(bss["sdr"] > mix["sdr"] + 2)  # measured +2.9 (tone), +12.2 dB (clicks)


def test_a_missing_extra_is_a_one_line_error(monkeypatch):
    import importlib
    real = importlib.import_module

    def fake(name, *a, **k):
        if name in ("noisereduce", "pyrnnoise", "librosa"):
            raise ImportError(name)
        return real(name, *a, **k)
    monkeypatch.setattr(importlib, "import_module", fake)
    for call in (lambda: B.spectral_gating(_sine()), lambda: B.rnnoise(_sine()),
                 lambda: B.lpc_fill(_sine(), [(0.2, 0.3)]), lambda: nmf(_sine())):
        with pytest.raises(dap.DapError, match=r'pip install "daptools\[baselines\]"') as e:
            call()
        assert "\n" not in str(e.value)


def test_import_daptools_needs_no_baseline_package():
    code = ("import sys, daptools, daptools.baselines, daptools.experiments; "
            "print(sorted(m for m in ('noisereduce', 'pyrnnoise', 'librosa') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_baselines_are_rows_of_a_table_run(tmp_path):
    from daptools import experiments as E
    cfg = dict(table="table1", preset="smoke", datasets=("digits",), n_clips=2)
    E.run_table(E.RunConfig(**cfg, priors=("plain",)), tmp_path, progress=False)
    summary = E.run_table(E.RunConfig(**cfg, priors=("wiener",)), tmp_path, progress=False)  # widens the run
    rows = E.read_rows(tmp_path)
    assert sorted(r["prior"] for r in rows) == ["plain", "plain", "wiener", "wiener"]
    assert summary["config"]["priors"] == ["plain", "wiener"]
    w = [r for r in rows if r["prior"] == "wiener"]
    assert all(r["blind"]["snr"] > r["input"]["snr"] and "oracle" not in r and r["iterations"] == 0 for r in w)
    assert "baseline: Wiener filter" in E.format_summary(summary)
    with pytest.raises(dap.DapError, match="unknown prior"):
        E.RunConfig(table="table1", priors=("lpc",)).resolved()  # an inpainting baseline in a denoising table


def test_a_run_widens_to_another_dataset_with_the_same_problems(tmp_path):
    """A second dataset at the same settings joins the run (as more priors do), and its clips get the
    problems that a run of both datasets at once gives them; other settings are still refused."""
    from daptools import experiments as E
    cfg = dict(table="table2", preset="smoke", priors=("wiener",), n_clips=2)
    E.run_table(E.RunConfig(**cfg, datasets=("digits",)), tmp_path / "a", progress=False)
    summary = E.run_table(E.RunConfig(**cfg, datasets=("piano",)), tmp_path / "a", progress=False)
    assert summary["config"]["datasets"] == ["digits", "piano"]
    E.run_table(E.RunConfig(**cfg, datasets=("digits", "piano")), tmp_path / "b", progress=False)
    key = lambda r: (r["clip"], r["noise"], round(r["input_snr_db"], 9), round(r["blind"]["snr"], 9))  # noqa: E731
    assert sorted(map(key, E.read_rows(tmp_path / "a"))) == sorted(map(key, E.read_rows(tmp_path / "b")))
    assert len(E.read_rows(tmp_path / "a")) == 4
    with pytest.raises(dap.DapError, match="other settings"):
        E.run_table(E.RunConfig(**{**cfg, "n_clips": 3}, datasets=("speech",)), tmp_path / "a", progress=False)
