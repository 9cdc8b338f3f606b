import numpy as np
import pytest
import soundfile as sf
import torch

import daptools as dap


def test_save_load_round_trip(tmp_path, speech):
    path = dap.save_audio(tmp_path / "x.wav", speech, subtype="FLOAT")
    back = dap.load_audio(path)
    assert back.dtype == torch.float32 and back.shape == speech.shape
    assert torch.allclose(back, speech, atol=1e-7)


def test_load_downmixes_resamples_and_crops(tmp_path):
    t = np.arange(44100) / 44100
    left, right = np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "st.flac", np.stack([left, right], 1), 44100)
    wav = dap.load_audio(tmp_path / "st.flac", sr=16000, offset=0.25, duration=0.5)
    assert wav.shape == (8000,)
    assert float(wav.abs().max()) == pytest.approx(0.75, abs=0.02)  # mean of the channels
    spec = dap.magnitude(dap.to_spectrogram(wav))[0].mean(1)
    assert abs(int(spec.argmax()) - 440 / (16000 / 1022)) <= 1  # still a 440 Hz tone after resampling


@pytest.mark.parametrize("content, match", [(None, "no such file"), (b"", "empty"), (b"not audio at all", "could not be decoded")])
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(dap.DapError, match=match):
        dap.load_audio(path)


def test_offset_past_the_end(tmp_path, speech):
    dap.save_audio(tmp_path / "s.wav", speech)
    with pytest.raises(dap.DapError, match="nothing left after offset"):
        dap.load_audio(tmp_path / "s.wav", offset=10.0)


def test_save_refuses_missing_folder_and_nan(tmp_path, speech):
    with pytest.raises(dap.DapError, match="does not exist"):
        dap.save_audio(tmp_path / "nope" / "x.wav", speech)
    with pytest.raises(dap.DapError, match="NaN"):
        dap.save_audio(tmp_path / "x.wav", torch.tensor([0.0, float("nan")]))


def test_peak_normalize(speech):
    assert float(dap.peak_normalize(0.1 * speech).abs().max()) == pytest.approx(1.0)
    with pytest.raises(dap.DapError, match="silence"):
        dap.peak_normalize(torch.zeros(100))


def test_float_files_carry_no_timestamp(tmp_path, speech):
    """libsndfile's PEAK chunk holds the time of writing; without it the same samples give the same bytes
    (what lets a resumed command-line run write exactly the uninterrupted run's file)."""
    loud = np.asarray(speech, dtype=np.float32) * 1.5  # beyond full scale: kept as float samples
    dap.audio.write_samples(tmp_path / "a.wav", loud, 16000, subtype="FLOAT", format="WAV")
    sf.write(tmp_path / "b.wav", loud, 16000, subtype="FLOAT")
    assert b"PEAK" not in (tmp_path / "a.wav").read_bytes()
    assert b"PEAK" in (tmp_path / "b.wav").read_bytes()  # what soundfile.write alone does
    back, rate = sf.read(tmp_path / "a.wav", dtype="float32")
    assert rate == 16000 and np.array_equal(back, loud)


def test_a_damaged_mp3_gives_one_message_and_no_decoder_chatter(tmp_path, capfd):
    good = tmp_path / "good.mp3"
    sf.write(good, 0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(good.read_bytes()[:400] + np.random.default_rng(1).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    capfd.readouterr()
    with pytest.raises(dap.DapError, match="could not be decoded as audio .*damaged") as err:
        dap.load_audio(bad)
    assert "does not exist" not in str(err.value)   # libsndfile's words for a file it cannot decode
    assert capfd.readouterr().err == ""             # the decoder's own lines are held back
