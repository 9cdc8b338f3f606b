"""The daptools command line on real recordings: restoring, safety, and one-line errors.

Fits use tiny U-Nets (``--channels``) and a couple of iterations: these tests check
the command, not the restoration quality (the lead's measurements do that).
"""
from __future__ import annotations

import functools
import hashlib
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import daptools as dap
from daptools import cli, fileio, restore

SR = dap.SAMPLE_RATE
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--prior", "plain", "--channels", "4,4,8", "--iterations", "2", "--device", "cpu"]
INPAINT_HOP = dap.get_preset(restore.DEFAULT_PRESET["inpaint"]).hop  # the hop of `daptools inpaint` by default


@functools.lru_cache(maxsize=1)
def _speech_pool() -> torch.Tensor:
    """Real speech: the tutorial set's speech clips (LibriVox, CMU ARCTIC, CMU) end to end."""
    return torch.cat([c.audio for c in dap.data.load_clips("speech", n=50)])


def real_speech(seconds: float, start: float = 0.0) -> np.ndarray:
    """``seconds`` of real speech at 16 kHz, peak 0.9 (so PCM files hold it unclipped)."""
    pool = _speech_pool()
    a, n = int(start * SR), int(seconds * SR)
    wav = pool.repeat((a + n) // pool.numel() + 1)[a:a + n]
    return (0.9 * dap.peak_normalize(wav)).numpy()


def write(path: Path, wav: np.ndarray, rate: int = SR, subtype: str | None = None) -> Path:
    sf.write(str(path), wav, rate, subtype=subtype)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(capsys, *argv) -> tuple[int, str]:
    """Run the command in this process; returns (exit status, stderr)."""
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's --help / errors
        rc = exc.code
    return rc, capsys.readouterr().err


@pytest.fixture
def speech(tmp_path) -> Path:
    return write(tmp_path / "speech.wav", real_speech(2.5), subtype="PCM_16")


# ---------------------------------------------------------------------------- help and entry point


def test_help_says_what_goes_in_and_what_comes_out(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["denoise", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "16 kHz" in text and "writes the same channels at the same rate" in text
    for option in ("--mono", "--prior", "--iterations", "--preset", "--device", "--seed", "--quiet", "--precision",
                   "--segment", "--overlap", "--batch", "--force", "--resume", "--work-dir", "--overload", "--seeds"):
        assert option in text


def test_no_command_is_a_one_line_error_and_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("denoise", "inpaint", "separate", "paper", "bench"))
    rc, err = run(capsys)
    assert rc == 2 and err.count("\n") == 1 and "choose a command" in err


# ---------------------------------------------------------------------------- restoring


def test_denoise_any_rate_and_channels_writes_them_back_at_the_input_rate(tmp_path, capsys):
    noisy = real_speech(2.6) + 0.05 * np.random.default_rng(0).standard_normal(int(2.6 * SR))
    up = dap.resample(torch.from_numpy(noisy).float(), SR, 44100).numpy()
    src = write(tmp_path / "noisy.flac", np.stack([up, 0.5 * up], 1), 44100)
    out = tmp_path / "restored.flac"
    rc, err = run(capsys, "denoise", src, "-o", out, *TINY, "--segment", "1", "--overlap", "0.25", "--batch", "3")
    assert rc == 0, err
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, sf.info(str(src)).frames)
    data, _ = sf.read(str(out))
    assert np.isfinite(data).all() and np.abs(data).max() > 0
    assert "44100 Hz, 2 channels -> 2 channels, each its own problem in one batch" in err
    assert "denoise 4 segments" in err and "(2.60 s, 2 channels, 44100 Hz)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.flac", "restored.flac"]
    rc, err = run(capsys, "denoise", src, "-o", tmp_path / "mono.flac", *TINY, "--segment", "1", "--mono")
    assert rc == 0, err
    assert sf.info(str(tmp_path / "mono.flac")).channels == 1 and "-> mono (--mono)" in err


def test_default_prior_runs(tmp_path, capsys):
    src = write(tmp_path / "short.wav", real_speech(0.6), subtype="FLOAT")
    rc, err = run(capsys, "denoise", src, "-o", tmp_path / "out.wav", "--channels", "4,4,8", "--iterations", "1",
                  "--device", "cpu")
    assert rc == 0, err
    assert "exp_dense, up to 1 iterations each, stopped blindly on cpu" in err


class FakeFits:
    """Stands in for a task: returns its input times ``gain`` (or fixed sources), records the batches."""

    def __init__(self, sources: int = 0, gain: float = 1.0):
        self.batches, self.sources, self.gain = [], sources, gain

    def __call__(self, wav, *args, callback=None, iterations=1, **options):
        self.batches.append(wav.shape[0])
        self.options = dict(options, iterations=iterations)
        for it in range(1, iterations + 1):
            callback({"iteration": it})
        wav = wav * self.gain
        out = wav if not self.sources else torch.stack([wav * 0.25, wav * 0.75], 1)
        return types.SimpleNamespace(output=out, decode=lambda o: o, batch_audio=lambda: out)


def test_segments_are_fitted_in_batches_and_joined_back_exactly(tmp_path, capsys, monkeypatch):
    fake = FakeFits()
    monkeypatch.setattr(restore, "denoise", fake)
    wav = real_speech(5.3)
    src = write(tmp_path / "long.wav", wav, subtype="FLOAT")
    out = tmp_path / "out.wav"
    rc, err = run(capsys, "denoise", src, "-o", out, *TINY, "--segment", "1", "--overlap", "0.2", "--batch", "2")
    assert rc == 0, err
    assert fake.batches == [2, 2, 2, 1]  # 7 segments of 1 s, 2 at a time
    restored, rate = sf.read(str(out), dtype="float32")
    assert rate == SR and np.abs(restored - wav).max() < 1e-6  # the segmenting itself loses nothing


@pytest.mark.parametrize("extra,expected", [
    ([], {k: v for k, v in dap.get_preset("fast").fit_options().items()
          if k in ("iterations", "precision", "lr", "prior_options", "hop")}),
    (["--preset", "paper"], {"iterations": 2000, "precision": "fp32"}),
    (["--preset", "paper", "--iterations", "7", "--precision", "bf16", "--seed", "3"],
     {"iterations": 7, "precision": "bf16", "seed": 3}),
    (["--channels", "8,16,32", "--prior", "exp"], {"prior": "exp", "prior_options": {"channels": (8, 16, 32)}}),
    (["--seeds", "3"], {"seeds": 3}),
    ([], {"seeds": None}),
    ([], {"hop": 256}),  # fast: a quarter of the paper's frames
    (["--preset", "lab"], {"hop": 64, "iterations": 300}),
    (["--hop", "64"], {"hop": 64, "prior_options": {"channels": (16, 32, 64)}}),
])
def test_presets_and_options_reach_the_fit(tmp_path, capsys, monkeypatch, speech, extra, expected):
    fake = FakeFits()
    monkeypatch.setattr(restore, "denoise", fake)
    rc, err = run(capsys, "denoise", speech, "-o", tmp_path / "out.wav", "--device", "cpu", "--quiet", *extra)
    assert rc == 0, err
    assert {k: fake.options.get(k) for k in expected} == expected
    assert fake.options["progress"] is False and fake.options["device"] == "cpu"


def test_seeds_fits_an_ensemble_per_segment(tmp_path, capsys):
    """--seeds 2: the average of the runs with --seed 0 and --seed 1 (all steps after the fit are linear)."""
    src = write(tmp_path / "speech.wav", real_speech(2.5), subtype="FLOAT")
    outs = {}
    for name, extra in {"s0": ["--seed", "0"], "s1": ["--seed", "1"], "both": ["--seeds", "2"]}.items():
        rc, err = run(capsys, "denoise", src, "-o", tmp_path / f"{name}.wav", *TINY, "--precision", "fp32",
                      "--quiet", *extra)
        assert rc == 0 and err == "", err
        outs[name] = sf.read(str(tmp_path / f"{name}.wav"), dtype="float32")[0]
    mean = (outs["s0"] + outs["s1"]) / 2
    assert np.abs(outs["both"] - mean).max() <= 1e-4 * np.abs(mean).max() + 1e-7
    assert np.abs(outs["s0"] - outs["s1"]).max() > 100 * np.abs(outs["both"] - mean).max()  # the seeds differ
    rc, err = run(capsys, "separate", src, "-o", tmp_path / "a.wav", tmp_path / "b.wav", *TINY, "--seeds", "2")
    assert rc == 2 and "unrecognized arguments: --seeds" in err  # not offered for separation


def test_separate_long_file_matches_sources_across_segments(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(restore, "separate", FakeFits(sources=2))
    wav = real_speech(3.2)
    src = write(tmp_path / "mix.wav", wav, subtype="FLOAT")
    outs = [tmp_path / "a.wav", tmp_path / "b.wav"]
    rc, err = run(capsys, "separate", src, "-o", *outs, *TINY, "--segment", "1")
    assert rc == 0, err
    assert "matched by correlation" in err
    a, b = (sf.read(str(p), dtype="float32")[0] for p in outs)
    assert np.abs(a - 0.25 * wav).max() < 1e-6 and np.abs(b - 0.75 * wav).max() < 1e-6


def test_separate_writes_two_sources(tmp_path, capsys):
    mix = 0.5 * (real_speech(1.5) + real_speech(1.5, start=5.0))
    src = write(tmp_path / "mix.wav", mix, subtype="PCM_16")
    outs = [tmp_path / "one.wav", tmp_path / "two.wav"]
    rc, err = run(capsys, "separate", src, "-o", *outs, *TINY, "--quiet")
    assert rc == 0 and err == ""
    a, b = (sf.read(str(p))[0] for p in outs)
    assert a.shape == b.shape == mix.shape
    assert not np.allclose(a, b)


def _with_gaps(gaps, seconds=2.5, rate=SR):
    wav = real_speech(seconds)
    if rate != SR:
        wav = dap.resample(torch.from_numpy(wav), SR, rate).numpy()
    for a, b in gaps:
        wav[int(a * rate):int(b * rate)] = 0
    return wav


def test_inpaint_given_gaps_keeps_the_rest_and_fills_the_gaps(tmp_path, capsys):
    gaps = [(0.6, 0.72), (1.5, 1.6)]
    src = write(tmp_path / "drop.wav", _with_gaps(gaps, rate=22050), 22050, subtype="FLOAT")
    out = tmp_path / "filled.wav"
    rc, err = run(capsys, "inpaint", src, "-o", out, *TINY, "--gaps", "0.6-0.72,1.5-1.6")
    assert rc == 0, err
    before, rate = sf.read(str(src), dtype="float32")
    after, _ = sf.read(str(out), dtype="float32")
    assert rate == 22050 and after.shape == before.shape
    observed = np.ones(len(before), bool)
    for a, b in gaps:  # the splice ramps reach 10 ms beyond each gap
        observed[int((a - 0.011) * rate):int((b + 0.011) * rate)] = False
        assert np.abs(after[int(a * rate):int(b * rate)]).max() > 1e-4  # filled
    assert np.array_equal(after[observed], before[observed])


class FakeInpaint:
    """Stands in for inpainting: records what it is asked to fit, "fills" with the input + 0.25."""

    def __init__(self):
        self.pieces, self.masks = [], []

    def __call__(self, wav, mask, *args, callback=None, iterations=1, **options):
        self.pieces.extend(wav)
        self.masks.extend(mask)
        callback({"iteration": iterations})
        return types.SimpleNamespace(output=wav + 0.25, decode=lambda o: o, batch_audio=lambda: wav + 0.25)


def _zero_runs(x: np.ndarray) -> np.ndarray:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (x == 0).astype(np.int8), [0]])))
    return edges.reshape(-1, 2)


def test_inpaint_finds_drop_outs_and_fills_one_across_a_segment_border(tmp_path, capsys, monkeypatch):
    fake = FakeInpaint()
    monkeypatch.setattr(restore, "inpaint", fake)
    # with 1 s segments and 0.25 s fades, the first fade would sit at 0.75-1.0 s, over this gap
    wav = _with_gaps([(0.9, 1.05)], seconds=3.0)
    wav[:400] = 0  # lead-in silence: not a drop-out
    src = write(tmp_path / "drop.wav", wav, subtype="FLOAT")
    out = tmp_path / "filled.wav"
    rc, err = run(capsys, "inpaint", src, "-o", out, *TINY, "--segment", "1")
    assert rc == 0, err
    assert "found 1 gap (leading/trailing silence left as is): 0.900-1.050 s" in err
    # one fitted segment holds the whole gap with at least one FFT window of context on each side
    gap_len = int(0.15 * SR)
    holders = [(p.numpy(), m) for p, m in zip(fake.pieces, fake.masks)
               if any(b - a == gap_len and a >= dap.N_FFT and b <= p.numel() - dap.N_FFT
                      for a, b in _zero_runs(p.numpy()))]
    assert len(holders) >= 1
    # the frames centred in the gap, at the hop the run's mask is built with
    assert abs(int((holders[0][1] == 0).sum()) - gap_len / INPAINT_HOP) < 1
    after, _ = sf.read(str(out), dtype="float32")
    assert np.array_equal(after[int(0.9 * SR):int(1.05 * SR)], np.full(gap_len, 0.25, np.float32))
    keep = np.r_[0:int(0.889 * SR), int(1.061 * SR):wav.size]
    assert np.array_equal(after[keep], wav[keep])


def test_a_gap_longer_than_a_segment_allows_says_which_segment_length_works(tmp_path, capsys):
    src = write(tmp_path / "drop.wav", _with_gaps([(1.0, 2.0)], seconds=4.0), subtype="PCM_16")
    rc, err = run(capsys, "inpaint", src, "-o", tmp_path / "o.wav", *TINY, "--segment", "1")
    assert rc == 2 and err.count("\n") == 1
    assert "do not fit inside 1 s segments" in err and "pass --segment 2 or more" in err
    assert not (tmp_path / "o.wav").exists()


# ---------------------------------------------------------------------------- safety


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "relative path"])
def test_never_writes_over_the_input(tmp_path, capsys, monkeypatch, speech, how):
    before = digest(speech)
    target = {"same path": speech, "symlink": tmp_path / "link.wav", "hard link": tmp_path / "hard.wav",
              "relative path": Path("speech.wav")}[how]
    if how == "symlink":
        target.symlink_to(speech)
    if how == "hard link":
        os.link(speech, target)
    monkeypatch.chdir(tmp_path)
    rc, err = run(capsys, "denoise", speech, "-o", target, *TINY, "--force")
    assert rc == 2 and "is the input file" in err and err.count("\n") == 1
    assert digest(speech) == before


def test_existing_output_needs_force(tmp_path, capsys, speech):
    out = write(tmp_path / "out.wav", real_speech(0.5), subtype="PCM_16")
    before = digest(out)
    rc, err = run(capsys, "denoise", speech, "-o", out, *TINY)
    assert rc == 2 and "already exists; pass --force" in err and digest(out) == before
    rc, err = run(capsys, "denoise", speech, "-o", out, *TINY, "--force", "--quiet")
    assert rc == 0 and digest(out) != before
    assert sf.info(str(out)).frames == sf.info(str(speech)).frames
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # a normal file's mode, not mkstemp's


def test_an_interrupted_write_leaves_no_output(tmp_path, capsys, monkeypatch, speech):
    def broken_write(path, data, *args, **kwargs):
        Path(path).write_bytes(b"RIFF half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio, "write_samples", broken_write)
    rc, err = run(capsys, "denoise", speech, "-o", tmp_path / "out.wav", *TINY)
    assert rc == 130 and "no output was written" in err
    # no output and no temporary file; the work folder keeps both finished segments for --resume
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav.daptools-work", "speech.wav"]
    assert "2 finished segment(s) kept" in err


def test_ctrl_c_during_fitting_leaves_no_output(tmp_path, speech):
    out = tmp_path / "out.wav"
    args = ["denoise", speech, "-o", out, "--prior", "plain", "--channels", "4,4,8", "--iterations", "100000"]
    proc = subprocess.Popen([sys.executable, "-m", "daptools", *map(str, args)], cwd=ROOT, text=True,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        line = proc.stderr.readline()  # printed once the input is read, just before fitting
        assert "-> mono, 16 kHz" in line
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    # no segment was finished, so nothing is kept: the work folder is gone with the run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav"] and "kept" not in err, err


# ---------------------------------------------------------------------------- nothing clipped


@pytest.mark.parametrize("name,overload,subtype,peak,fragment", [
    ("out.wav", None, "FLOAT", 1.5, "written as 32-bit float samples (FLOAT instead of PCM_16)"),
    ("out.flac", None, "PCM_16", 0.99, "scaled by -3.61 dB to fit PCM_16"),
    ("out.ogg", None, "VORBIS", 0.99, "scaled by -3.61 dB to fit VORBIS"),
    ("out.wav", "scale", "PCM_16", 0.99, "scaled by -3.61 dB"),
    ("out.wav", "clip", "PCM_16", 1.0, "clipped to +-1 for PCM_16 (--overload clip)"),
])
def test_a_result_beyond_full_scale_is_never_clipped_silently(tmp_path, speech, name, overload, subtype, peak,
                                                               fragment):
    like = fileio.load_recording(speech)  # a PCM_16 WAV
    loud = (1.5 * dap.peak_normalize(torch.from_numpy(real_speech(1.0)))).numpy()
    warning = fileio.write_atomic(tmp_path / name, loud, SR, like, overload)
    assert "the result peaks at 1.500 (+3.52 dBFS), above full scale" in warning and fragment in warning
    back, _ = sf.read(str(tmp_path / name), dtype="float32")
    assert sf.info(str(tmp_path / name)).subtype == subtype
    if subtype == "VORBIS":  # lossy: the level, not the samples
        assert abs(np.abs(back).max() - peak) < 0.05
        return
    if subtype == "FLOAT":
        assert np.array_equal(back, loud)  # the true samples, peak 1.5
    elif overload != "clip":  # one gain for the whole result: the shape is kept
        assert abs(np.abs(back).max() - peak) <= 2 ** -15 and np.abs(back - loud * peak / 1.5).max() <= 2 ** -15
    else:
        assert np.abs(back).max() == 1.0 and np.abs(back - loud).max() > 0.4
    quiet = tmp_path / ("quiet" + Path(name).suffix)  # within full scale: written as it is, nothing said
    assert fileio.write_atomic(quiet, loud / 2, SR, like, overload) is None
    assert sf.info(str(quiet)).subtype == fileio.output_subtype(quiet, like)


def test_overload_float_needs_a_format_with_float_samples(tmp_path, capsys, speech):
    rc, err = run(capsys, "denoise", speech, "-o", tmp_path / "out.flac", *TINY, "--overload", "float")
    assert rc == 2 and err.count("\n") == 1
    assert "--overload float: FLAC files cannot hold float samples; write a .wav output, or pass --overload scale" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav"]  # refused before any fitting


@pytest.mark.parametrize("name,extra,subtype,peak,fragment", [
    ("out.wav", [], "FLOAT", 1.35, "FLOAT instead of PCM_16"),
    ("out.flac", [], "PCM_16", 0.99, "scaled by -2.69 dB"),
    ("out.wav", ["--overload", "clip"], "PCM_16", 1.0, "clipped"),
])
def test_a_loud_restoration_from_the_command_line(tmp_path, capsys, monkeypatch, speech, name, extra, subtype, peak,
                                                  fragment):
    monkeypatch.setattr(restore, "denoise", FakeFits(gain=1.5))  # the restoration: 1.5 x the input (peak 0.9)
    rc, err = run(capsys, "denoise", speech, "-o", tmp_path / name, *TINY, "--quiet", *extra)
    assert rc == 0 and err.count("\n") == 1 and err.startswith("daptools: warning: ") and fragment in err, err
    back, _ = sf.read(str(tmp_path / name), dtype="float32")
    assert sf.info(str(tmp_path / name)).subtype == subtype
    assert abs(np.abs(back).max() - peak) <= 2 ** -15 + 1e-6


def test_separated_sources_share_one_gain(tmp_path, capsys, monkeypatch, speech):
    monkeypatch.setattr(restore, "separate", FakeFits(sources=2, gain=2.0))  # sources 0.5 x and 1.5 x the input
    outs = [tmp_path / "a.flac", tmp_path / "b.flac"]
    rc, err = run(capsys, "separate", speech, "-o", *outs, *TINY, "--quiet")
    assert rc == 0 and err.count("scaled by -2.69 dB") == 2, err
    a, b = (sf.read(str(p), dtype="float32")[0] for p in outs)
    assert abs(np.abs(b).max() - 0.99) <= 2 ** -15 and abs(np.abs(a).max() - 0.33) <= 2 ** -15  # still 1 : 3


# ---------------------------------------------------------------------------- resuming an interrupted run

# real fits, small enough for seconds: 2.4 s of speech in 0.5 s segments (6 of them), fp32 so that the
# file's bytes follow from the settings alone
RESUMABLE = ["--prior", "plain", "--channels", "4,4,8", "--iterations", "3", "--select", "last", "--device", "cpu",
             "--precision", "fp32", "--segment", "0.5", "--overlap", "0.1"]
WORK = ".daptools-work"


class Segments:
    """Wraps a task: counts the segments it is asked to fit, and raises KeyboardInterrupt (what
    Ctrl-C raises) instead of fitting once ``limit`` segments are done (None: no limit)."""

    def __init__(self, task, limit=None):
        self.task, self.limit, self.fitted = task, limit, 0

    def __call__(self, wav, *args, **kwargs):
        if self.limit is not None and self.fitted + wav.shape[0] > self.limit:
            raise KeyboardInterrupt
        self.fitted += wav.shape[0]
        return self.task(wav, *args, **kwargs)


def _stored(work: Path) -> list[str]:
    return sorted(p.name for p in work.glob("segment-*.npy"))


@pytest.fixture
def long_speech(tmp_path) -> Path:
    return write(tmp_path / "long.wav", real_speech(2.4), subtype="PCM_16")


@pytest.mark.parametrize("batch,limit,lost", [(1, 2, None), (2, 4, "segment-00003.npy")])
def test_resume_after_ctrl_c_fits_only_the_missing_segments_and_writes_the_same_file(
        tmp_path, capsys, monkeypatch, long_speech, batch, limit, lost):
    argv = ["denoise", long_speech, *RESUMABLE, "--batch", batch]
    whole = Segments(dap.denoise)
    monkeypatch.setattr(restore, "denoise", whole)
    rc, err = run(capsys, *argv, "-o", tmp_path / "whole.wav")
    assert rc == 0 and whole.fitted == 6, err
    assert not (tmp_path / f"whole.wav{WORK}").exists()  # removed after success

    out, work = tmp_path / "out.wav", tmp_path / f"out.wav{WORK}"
    monkeypatch.setattr(restore, "denoise", Segments(dap.denoise, limit=limit))
    rc, err = run(capsys, *argv, "-o", out)
    assert rc == 130 and f"{limit} finished segment(s) kept in {work}" in err and "--resume" in err
    assert not out.exists() and len(_stored(work)) == limit
    kept = limit
    if lost:  # as if killed between the two saves of the second batch: that whole batch is fitted again
        (work / lost).unlink()
        kept = limit - batch
    resumed = Segments(dap.denoise)
    monkeypatch.setattr(restore, "denoise", resumed)
    rc, err = run(capsys, *argv, "-o", out, "--resume")
    assert rc == 0, err
    assert f"resuming from {work}: {kept} of 6 segments kept, fitting {6 - kept}" in err
    assert resumed.fitted == 6 - kept
    assert digest(out) == digest(tmp_path / "whole.wav")  # byte for byte the uninterrupted run's file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav", "out.wav", "whole.wav"]


def _daptools(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "daptools", *map(str, argv)], cwd=ROOT, text=True,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The long file restored in one go by the installed command: (input, output's sha256)."""
    folder = tmp_path_factory.mktemp("whole")
    src = write(folder / "long.wav", real_speech(2.4), subtype="PCM_16")
    proc = _daptools("denoise", src, "-o", folder / "whole.wav", *RESUMABLE, "--iterations", "10")
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return src, digest(folder / "whole.wav")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["kill -INT", "kill -9"])
def test_a_killed_run_resumes_to_the_uninterrupted_file(tmp_path, uninterrupted, sig):
    src, expected = uninterrupted
    out, work = tmp_path / "out.wav", tmp_path / f"out.wav{WORK}"
    argv = ["denoise", src, "-o", out, *RESUMABLE, "--iterations", "10"]
    proc = _daptools(*argv)
    try:
        while len(_stored(work)) < 2 and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(sig)
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
    assert not out.exists() and not list(tmp_path.glob(".out.wav.*"))  # no output, not even a partial one
    kept = len(_stored(work))
    assert 2 <= kept < 6
    proc = _daptools(*argv, "--resume")
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    assert f"resuming from {work}: {kept} of 6 segments kept, fitting {6 - kept}" in err
    assert digest(out) == expected and not work.exists()


def _interrupted_run(tmp_path, capsys, monkeypatch, command, src, *extra):
    """A run (with a stand-in task, on one thread) interrupted after its first segment; returns its argv."""
    monkeypatch.setattr(restore.torch, "get_num_threads", lambda: 1)
    argv = [command, src, "-o", tmp_path / "out.wav", *RESUMABLE, *extra]
    fake = FakeFits() if command == "denoise" else FakeInpaint()
    monkeypatch.setattr(restore, command, Segments(fake, limit=1))
    rc, err = run(capsys, *argv)
    assert rc == 130 and "1 finished segment(s) kept" in err, err
    return argv


@pytest.mark.parametrize("command,change,fragment", [
    ("denoise", ["--iterations", "4"], "--resume: the settings (iterations 3 -> 4) changed since the interrupted run"),
    ("denoise", ["--seed", "1"], "seed 0 -> 1"),
    ("denoise", ["--prior", "exp"], 'prior "plain" -> "exp"'),
    ("denoise", ["--channels", "4,4,4"], 'prior_options {"channels": [4, 4, 8]} -> {"channels": [4, 4, 4]}'),
    ("denoise", ["--precision", "bf16"], 'precision "fp32" -> "bf16"'),
    ("denoise", ["--select", "auto"], 'select "last" -> "auto"'),
    ("denoise", ["--segment", "0.6"], "segment 0.5 -> 0.6"),
    ("denoise", ["--batch", "2"], "batch 1 -> 2"),
    ("denoise", ["--seeds", "2"], "seeds null -> 2"),
    ("denoise", ["threads"], "cpu_threads 1 -> 2"),
    ("denoise", ["--preset", "smoke"], 'hop 256 -> 64; lr 0.003 -> 0.001; preset "fast" -> "smoke"'),
    ("denoise", ["--hop", "128"], "hop 256 -> 128"),
    ("denoise", ["input"], "--resume: the input file (its sha256 differs) changed since the interrupted run"),
    ("inpaint", ["--gaps", "0.6-0.72,1.6-1.7"], "gaps [[0.6, 0.7], [1.6, 1.7]] -> [[0.6, 0.72], [1.6, 1.7]]"),
])
def test_resume_refuses_another_input_or_other_settings(tmp_path, capsys, monkeypatch, long_speech, command,
                                                        change, fragment):
    extra = ["--gaps", "0.6-0.7,1.6-1.7"] if command == "inpaint" else []  # two segments to fit
    argv = _interrupted_run(tmp_path, capsys, monkeypatch, command, long_speech, *extra)
    work = tmp_path / f"out.wav{WORK}"
    before = {p.name: digest(p) for p in work.iterdir()}
    if change == ["input"]:
        write(long_speech, real_speech(2.4, start=3.0), subtype="PCM_16")
        change = []
    if change == ["threads"]:  # they change the rounding of the CPU kernels, so the bytes of the result
        monkeypatch.setattr(restore.torch, "get_num_threads", lambda: 2)
        change = []
    rc, err = run(capsys, *argv, *change, "--resume")
    assert rc == 2 and err.count("\n") == 1 and err.startswith("daptools: error: --resume: "), err
    assert fragment in err and "changed since the interrupted run" in err and "delete the folder" in err
    assert {p.name: digest(p) for p in work.iterdir()} == before  # the kept segments are untouched
    assert not (tmp_path / "out.wav").exists()


def test_an_existing_work_folder_needs_resume(tmp_path, capsys, monkeypatch, long_speech):
    argv = _interrupted_run(tmp_path, capsys, monkeypatch, "denoise", long_speech)
    rc, err = run(capsys, *argv)
    assert rc == 2 and err.count("\n") == 1
    assert "holds 1 finished segment of an interrupted run; pass --resume to continue it, or delete" in err
    assert _stored(tmp_path / f"out.wav{WORK}") == ["segment-00000.npy"]


def test_a_work_folder_without_finished_segments_starts_afresh(tmp_path, capsys, monkeypatch, long_speech):
    # a run stopped before its first segment finished leaves only its settings: nothing to keep, so the
    # next run (without --resume, even with other settings) starts from the first segment
    monkeypatch.setattr(restore.torch, "get_num_threads", lambda: 1)
    argv = ["denoise", long_speech, "-o", tmp_path / "out.wav", *RESUMABLE]
    monkeypatch.setattr(restore, "denoise", Segments(FakeFits(), limit=0))
    rc, err = run(capsys, *argv)
    work = tmp_path / f"out.wav{WORK}"
    assert rc == 130 and "kept" not in err and not work.exists(), err  # nothing to keep: the folder is gone
    work.mkdir()  # as a kill -9 would leave it: the settings only
    (work / "settings.json").write_text('{"seed": 0}')
    monkeypatch.setattr(restore, "denoise", FakeFits())
    rc, err = run(capsys, *argv, "--seed", "1")
    assert rc == 0, err
    assert (tmp_path / "out.wav").exists() and not work.exists()


def test_work_dir_option_and_a_folder_that_is_not_a_work_folder(tmp_path, capsys, monkeypatch, long_speech):
    monkeypatch.setattr(restore, "denoise", FakeFits())
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    rc, err = run(capsys, "denoise", long_speech, "-o", tmp_path / "out.wav", *RESUMABLE, "--work-dir", mine,
                  "--resume")
    assert rc == 2 and "is not a daptools work folder" in err and (mine / "notes.txt").read_text() == "keep me"
    rc, err = run(capsys, "denoise", long_speech, "-o", tmp_path / "out.wav", *RESUMABLE,
                  "--work-dir", tmp_path / "work", "--resume")
    assert rc == 0 and "nothing to resume" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav", "mine", "out.wav"]


def test_segments_are_stored_atomically(tmp_path, monkeypatch):
    from daptools import resume
    work = resume.WorkFolder.open(tmp_path / "w", {"input_sha256": "x"}, resume=False)
    work.save(0, np.ones(8))

    def killed(f, data, **kwargs):
        f.write(b"\x93NUMPY half")
        raise KeyboardInterrupt

    monkeypatch.setattr(resume.np, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        work.save(1, np.ones(8))
    monkeypatch.undo()
    (tmp_path / "w" / ".segment-00002.npy.abc.part").write_bytes(b"left by kill -9")
    (tmp_path / "w" / "segment-00003.npy").write_bytes(b"not a segment")  # damaged: fitted again
    assert list(work.load(range(4))) == [0]
    assert work.remove() is None and not (tmp_path / "w").exists()


# ---------------------------------------------------------------------------- bad input


def _file(name, make):
    def setup(tmp_path):
        path = tmp_path / name
        make(path)
        return path
    return setup


def _audio(name, wav, rate=SR, subtype="FLOAT"):
    return _file(name, lambda p: write(p, wav() if callable(wav) else wav, rate, subtype))


def _poisoned(value):
    def wav():
        x = real_speech(1.0)
        x[8000] = value
        return x
    return wav


SPEECH = _audio("speech.wav", lambda: real_speech(1.5))
BAD_INPUTS = {
    "missing file": (_file("missing.wav", lambda p: None), [], "no such file"),
    "empty file": (_file("empty.wav", lambda p: p.write_bytes(b"")), [], "is empty (0 bytes)"),
    "folder": (_file("folder.wav", lambda p: p.mkdir()), [], "is a folder"),
    "text file": (_file("notes.wav", lambda p: p.write_text("not audio\n" * 50)), [], "could not be decoded as audio"),
    "truncated header": (_file("cut.wav", lambda p: p.write_bytes(b"RIFF\x24\x08\x00\x00WAVEfmt ")), [],
                         "could not be decoded as audio"),
    "shorter than a frame": (_audio("tiny.wav", lambda: real_speech(0.03)), [], "shorter than one spectrogram frame"),
    "short at 8 kHz": (_audio("tiny8k.wav", lambda: real_speech(0.05)[::2], 8000), [],
                       "shorter than one spectrogram frame"),
    "digital silence": (_audio("silence.wav", np.zeros(SR, np.float32), subtype="PCM_16"), [],
                        "digital silence (all samples zero): nothing to restore"),
    "silent, not zero": (_audio("quiet.wav", np.full(SR, 1e-10, np.float32)), [], "is silent: its peak is -200 dBFS"),
    "NaN sample": (_audio("nan.wav", _poisoned(np.nan)), [], "NaN or infinite samples (first at 0.500 s)"),
    "infinite sample": (_audio("inf.wav", _poisoned(np.inf)), [], "NaN or infinite samples"),
    "unknown prior": (SPEECH, ["--prior", "unet9"], "unknown prior 'unet9'; choose one of"),
    "unknown device": (SPEECH, ["--device", "tpu"], "unknown device 'tpu'"),
    "unknown preset": (SPEECH, ["--preset", "fastest"], "invalid choice: 'fastest'"),
    "another hop": (SPEECH, ["--hop", "100"], "invalid choice: 100"),
    "zero iterations": (SPEECH, ["--iterations", "0"], "--iterations must be at least 1"),
    "iterations not a number": (SPEECH, ["--iterations", "many"], "invalid int value: 'many'"),
    "bad channels": (SPEECH, ["--channels", "8,16"], "give three positive widths"),
    "segment too short": (SPEECH, ["--segment", "0.01"], "--segment must be at least"),
    "overlap too long": (SPEECH, ["--overlap", "5"], "--overlap must be between 0 and half of --segment"),
    "zero batch": (SPEECH, ["--batch", "0"], "--batch must be at least 1"),
    "zero seeds": (SPEECH, ["--seeds", "0"], "--seeds must be at least 1"),
    "unknown output format": (SPEECH, ["-o", "{tmp}/out.xyz"], "cannot tell the audio format from '.xyz'"),
    "output folder missing": (SPEECH, ["-o", "{tmp}/nowhere/out.wav"], "output folder does not exist"),
    "output without extension": (SPEECH, ["-o", "{tmp}/out"], "cannot tell the audio format"),
    "output folder read-only": (SPEECH, ["-o", "/sys/out.wav"], "cannot write in this folder"),
}
# one hop of the default inpainting preset, in ms (fast: 256 samples = 16 ms): the shortest gap it can mask
INPAINT_HOP_MS = round(1000 * INPAINT_HOP / dap.SAMPLE_RATE)
INPAINT_INPUTS = {
    "gaps malformed": (["--gaps", "1.2"], "--gaps: cannot read '1.2'; write START-END in seconds"),
    "gaps not numbers": (["--gaps", "a-b"], "--gaps: cannot read 'a-b'"),
    "gap negative": (["--gaps=-0.5-1"], "--gaps: cannot read '-0.5-1'"),
    "gap reversed": (["--gaps", "1.3-1.2"], "ends before it starts"),
    "gap past the end": (["--gaps", "0.2-0.3,1.0-9.0"], "ends after the recording (1.500 s)"),
    "gaps overlapping": (["--gaps", "0.5-1.0,0.8-1.2"], "overlap; merge them"),
    "gap too short": (["--gaps", "0.5-0.502"], f"shorter than {INPAINT_HOP_MS} ms"),
    "no gaps found": ([], "no gaps found"),
    "min-gap too small": (["--min-gap", "1"], f"--min-gap must be at least {INPAINT_HOP_MS} ms"),
}


def _argv(tmp_path, setup, extra, command="denoise"):
    src = setup(tmp_path)
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    out = [] if "-o" in extra else ["-o", tmp_path / "out.wav"]
    return [command, src, *out, *TINY, *extra]


def _assert_one_line_error(rc, err, fragment, tmp_path, before):
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("daptools: error: "), err
    assert fragment in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, capsys, case):
    setup, extra, fragment = BAD_INPUTS[case]
    argv = _argv(tmp_path, setup, extra)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, err = run(capsys, *argv)
    _assert_one_line_error(rc, err, fragment, tmp_path, before)


@pytest.mark.parametrize("case", INPAINT_INPUTS)
def test_bad_gaps_give_one_line_and_write_nothing(tmp_path, capsys, case):
    extra, fragment = INPAINT_INPUTS[case]
    argv = _argv(tmp_path, SPEECH, extra, command="inpaint")
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, err = run(capsys, *argv)
    _assert_one_line_error(rc, err, fragment, tmp_path, before)


def test_output_that_is_a_folder(tmp_path, capsys, speech):
    (tmp_path / "out.wav").mkdir()
    rc, err = run(capsys, "denoise", speech, "-o", tmp_path / "out.wav", *TINY, "--force")
    assert rc == 2 and "is a folder; give an output file name" in err and err.count("\n") == 1


def test_separate_needs_two_distinct_outputs(tmp_path, capsys, speech):
    rc, err = run(capsys, "separate", speech, "-o", tmp_path / "a.wav", tmp_path / "a.wav", *TINY)
    assert rc == 2 and "is given twice" in err
    rc, err = run(capsys, "separate", speech, "-o", tmp_path / "a.wav", *TINY)
    assert rc == 2 and "expected 2 arguments" in err and err.count("\n") == 1


def test_unreadable_input(tmp_path, capsys, monkeypatch, speech):
    if os.geteuid() == 0:  # root reads regardless of permissions: make the check see what a user would
        real_access = os.access
        monkeypatch.setattr(fileio.os, "access", lambda p, mode: mode != os.R_OK and real_access(p, mode))
    speech.chmod(0)
    rc, err = run(capsys, "denoise", speech, "-o", tmp_path / "out.wav", *TINY)
    assert rc == 2 and err.count("\n") == 1 and "permission denied; make the file readable" in err
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes regardless of permissions (see the /sys case)")
def test_unwritable_folder(tmp_path, capsys, speech):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    rc, err = run(capsys, "denoise", speech, "-o", locked / "out.wav", *TINY)
    assert rc == 2 and "cannot write in this folder" in err and not any(locked.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu(tmp_path, capsys, speech):
    rc, err = run(capsys, "denoise", speech, "-o", tmp_path / "out.wav", "--device", "cuda")
    assert rc == 2 and "no CUDA GPU is available" in err


@pytest.mark.parametrize("argv,fragment", [
    (["denoise", "{missing}", "-o", "{out}"], "no such file"),
    (["inpaint", "{nan}", "-o", "{out}", "--gaps", "0.1-0.2"], "NaN or infinite samples"),
])
def test_errors_from_the_installed_command(tmp_path, argv, fragment):
    """``python -m daptools`` end to end: exit status 2, one line, no traceback, nothing written."""
    files = {"missing": tmp_path / "missing.wav", "out": tmp_path / "out.wav",
             "nan": _audio("nan.wav", _poisoned(np.nan))(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "daptools", *[a.format(**files) for a in argv]], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("daptools: error: ")
    assert fragment in proc.stderr
    assert not files["out"].exists()


# ---------------------------------------------------------------------------- paper and bench


@pytest.mark.parametrize("command,module", [("paper", "daptools.experiments"), ("bench", "daptools.bench")])
def test_paper_and_bench_pass_their_arguments_on(capsys, monkeypatch, command, module):
    seen = []
    monkeypatch.setitem(sys.modules, module, types.SimpleNamespace(main=lambda argv: seen.append(argv) or 3))
    assert cli.main([command, "--preset", "smoke", "--help"]) == 3
    assert seen == [["--preset", "smoke", "--help"]]


def test_a_missing_runner_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "daptools.bench", None)
    rc, err = run(capsys, "bench")
    assert rc == 2 and err == "daptools: error: 'daptools bench' is not available in this version " \
                              "(daptools.bench is missing)\n"
