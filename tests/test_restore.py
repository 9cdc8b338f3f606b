"""Restoring a file from Python (:func:`daptools.restore_file`), without the command line.

Tiny U-Nets and two iterations, as in test_cli.py: these tests check the driver, not the
restoration quality.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import daptools as dap
from daptools import DapError, restore
from daptools.restore import Interrupted, restore_file

SR = dap.SAMPLE_RATE
TINY = dict(prior="plain", channels=(4, 4, 8), iterations=2, device="cpu", quiet=True)


def tone(seconds: float = 1.5, rate: int = SR) -> np.ndarray:
    """A 440 Hz tone with white noise, peak below full scale."""
    t = np.arange(int(seconds * rate)) / rate
    noise = 0.05 * np.random.default_rng(0).standard_normal(t.size)
    return (0.5 * np.sin(2 * np.pi * 440 * t) + noise).astype(np.float32)


@pytest.fixture
def noisy(tmp_path):
    path = tmp_path / "noisy.wav"
    sf.write(str(path), tone(), SR, subtype="FLOAT")
    return path


def test_restore_file_writes_the_output_and_says_what_it_did(tmp_path, noisy):
    out = tmp_path / "restored.wav"
    done = dap.restore_file("denoise", noisy, out, segment=1.0, **TINY)
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (SR, 1, sf.info(str(noisy)).frames)
    assert done.outputs == [out] and done.duration == pytest.approx(1.5)
    assert done.segments == 2 and done.fitted == 2  # 1 s segments of 1.5 s, one at a time on the CPU
    assert len(done.iterations) == 2 and all(1 <= n <= 2 for n in done.iterations)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.wav", "restored.wav"]  # work folder removed


def test_inpaint_takes_gaps_as_pairs_and_keeps_the_rest(tmp_path):
    wav = tone(rate=22050)
    wav[int(0.6 * 22050):int(0.7 * 22050)] = 0
    src = tmp_path / "drop.wav"
    sf.write(str(src), wav, 22050, subtype="FLOAT")
    out = tmp_path / "filled.wav"
    done = restore_file("inpaint", src, [out], gaps=[(0.6, 0.7)], **TINY)
    assert done.gaps == [(0.6, 0.7)] and done.fitted == 1
    after, rate = sf.read(str(out), dtype="float32")
    assert rate == 22050 and after.shape == wav.shape
    keep = np.r_[0:int(0.589 * rate), int(0.711 * rate):wav.size]  # the splice ramps reach 10 ms beyond the gap
    assert np.array_equal(after[keep], wav[keep])
    assert np.abs(after[int(0.6 * rate):int(0.7 * rate)]).max() > 1e-4  # filled


@pytest.mark.parametrize("hop", [128, 256])
def test_inpaint_builds_its_gap_mask_at_the_runs_hop(tmp_path, hop):
    # the mask was built at the default hop (64) whatever --hop or the preset said: the fast preset failed
    wav = tone()
    wav[int(0.6 * SR):int(0.7 * SR)] = 0
    src = tmp_path / "drop.wav"
    sf.write(str(src), wav, SR, subtype="FLOAT")
    done = restore_file("inpaint", src, [tmp_path / "filled.wav"], gaps=[(0.6, 0.7)], hop=hop, **TINY)
    assert done.fitted == 1
    after = sf.read(str(tmp_path / "filled.wav"), dtype="float32")[0]
    assert np.abs(after[int(0.6 * SR):int(0.7 * SR)]).max() > 1e-4


def test_an_existing_output_is_refused_without_force(tmp_path, noisy):
    out = tmp_path / "out.wav"
    sf.write(str(out), np.zeros(100, np.float32), SR)
    before = out.read_bytes()
    with pytest.raises(DapError, match="already exists; pass --force"):
        restore_file("denoise", noisy, out, **TINY)
    assert out.read_bytes() == before
    restore_file("denoise", noisy, out, force=True, **TINY)
    assert sf.info(str(out)).frames == sf.info(str(noisy)).frames


@pytest.mark.parametrize("command,outputs,options,message", [
    ("denoize", ["out.wav"], {}, "unknown command 'denoize'; choose one of denoise, inpaint, separate"),
    ("separate", ["out.wav"], {}, "separate writes 2 output file(s), got 1"),
    ("denoise", ["out.wav"], {"gaps": [(0.1, 0.2)]}, "denoise takes no gaps"),
    ("denoise", ["out.wav"], {"iterations": 0}, "--iterations must be at least 1, got 0"),
    ("denoise", ["out.wav"], {"prior": "unet9"}, "unknown prior 'unet9'"),
    ("inpaint", ["out.wav"], {"gaps": [(0.7, 0.6)]}, "--gaps: 0.7-0.6 ends before it starts"),
    ("inpaint", ["out.wav"], {"gaps": "0.5-0.6,0.55-0.9"}, "overlap; merge them"),
])
def test_a_bad_argument_is_a_clear_error_before_any_work(tmp_path, noisy, command, outputs, options, message):
    with pytest.raises(DapError) as err:
        restore_file(command, noisy, [tmp_path / o for o in outputs], **{**TINY, **options})
    assert message in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.wav"]  # nothing written


class StopAfter:
    """Stands in for a task: runs it for ``limit`` segments, then Ctrl-C."""

    def __init__(self, task, limit: int):
        self.task, self.limit, self.fitted = task, limit, 0

    def __call__(self, wav, *args, **kwargs):
        if self.fitted + wav.shape[0] > self.limit:
            raise KeyboardInterrupt
        self.fitted += wav.shape[0]
        return self.task(wav, *args, **kwargs)


def test_an_interrupted_restoration_keeps_its_segments_and_resumes(tmp_path, noisy, monkeypatch):
    out = tmp_path / "out.wav"
    monkeypatch.setattr(restore, "denoise", StopAfter(dap.denoise, limit=1))
    with pytest.raises(Interrupted) as stop:
        restore_file("denoise", noisy, out, segment=1.0, **TINY)
    assert not out.exists() and stop.value.work.count() == 1
    monkeypatch.undo()
    done = restore_file("denoise", noisy, out, segment=1.0, resume=True, **TINY)
    assert done.fitted == 1 and out.exists() and not stop.value.work.path.exists()


def test_importing_daptools_does_not_import_the_driver():
    code = "import sys, daptools; assert 'daptools.restore' not in sys.modules; daptools.restore_file"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
