"""dap.data: the committed tutorial set and the paper-dataset loaders.

The paper datasets are exercised end to end without the internet: tiny
archives in each dataset's real layout are served from a local HTTP server on
127.0.0.1, so the real pooch download, hash check, extraction and sampling run.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import http.server
import io
import re
import shutil
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import daptools as dap
from daptools import data
from daptools.audio import resample

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "data" / "tutorial"


# ------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A local static file server; yields (folder served, base URL)."""
    folder = tmp_path_factory.mktemp("served")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty download cache selected through DAPTOOLS_DATA."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("DAPTOOLS_DATA", str(folder))
    return folder


def tone(seconds: float, rate: int, freq: float, seed: int) -> np.ndarray:
    """A tone plus noise, different per file so windows can be told apart."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.05, t.size)
    return (0.5 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def wav_bytes(x: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# name: (archive, {member: (seconds, rate)}) in each dataset's published layout
LAYOUTS = {
    "ljspeech": ("LJSpeech-1.1.tar.bz2", {
        f"LJSpeech-1.1/wavs/LJ001-000{i}.wav": (3.0, 22050) for i in range(1, 5)}),
    "sc09": ("sc09.tar.gz", {
        "sc09/train/Zero_0a1b_nohash_0.wav": (1.0, 16000),
        "sc09/train/One_2c3d_nohash_0.wav": (0.8, 16000),
        "sc09/valid/Two_4e5f_nohash_1.wav": (1.0, 16000),
        "sc09/test/Nine_6a7b_nohash_0.wav": (1.0, 16000)}),
    "wavegan_drums": ("drums.tar.gz", {
        f"drums/train/{kind}.wav": (0.5, 44100) for kind in ("kick", "snare", "hat")}),
    "wavegan_piano": ("mancini_piano.tar.gz", {
        f"mancini_piano/piano/train/bach_{i}.wav": (6.0, 16000) for i in range(2)}),
    "demand_living": ("DLIVING_16k.zip", {f"DLIVING/ch0{i}.wav": (4.0, 16000) for i in (1, 2, 3)}),
    "demand_traffic": ("STRAFFIC_16k.zip", {f"STRAFFIC/ch0{i}.wav": (4.0, 16000) for i in (1, 2, 3)}),
}


def build_archive(name: str, folder: Path) -> Path:
    """Write the tiny archive of ``name`` into ``folder``."""
    archive, members = LAYOUTS[name]
    path = folder / archive
    blobs = {m: wav_bytes(tone(s, r, 200 + 37 * i, i), r) for i, (m, (s, r)) in enumerate(members.items())}
    if archive.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as zf:
            for member, blob in blobs.items():
                zf.writestr(member, blob)
    else:
        with tarfile.open(path, "w:bz2" if archive.endswith("bz2") else "w:gz") as tar:
            for member, blob in blobs.items():
                info = tarfile.TarInfo(member)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    return path


def build_tree(name: str, folder: Path) -> Path:
    """Write the extracted layout of ``name`` under ``folder``."""
    _, members = LAYOUTS[name]
    for i, (member, (s, r)) in enumerate(members.items()):
        (folder / member).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / member, tone(s, r, 200 + 37 * i, i), r, subtype="PCM_16")
    return folder


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def serve(name, server, monkeypatch, known_hash="auto", payload=None) -> Path:
    """Build and serve ``name``'s archive; point the registry at it.

    known_hash "auto": the real hash of the served archive where the registry
    has a published one, None where it has none (trust on first use).
    """
    folder, url = server
    archive = build_archive(name, folder)
    if payload is not None:
        archive.write_bytes(payload(archive.read_bytes()))
    ds = data.DATASETS[name]
    if known_hash == "auto":
        known_hash = sha256(archive) if ds.known_hash else None
    monkeypatch.setitem(data.DATASETS, name, dataclasses.replace(
        ds, url=url + ds.archive, known_hash=known_hash))
    return archive


def leftovers(cache: Path) -> list[str]:
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*")) if cache.exists() else []


def source_window(clip, base: Path, seconds: float) -> torch.Tensor:
    """Recompute a clip from its source file and offset: resample, pad, peak-normalise."""
    assert re.fullmatch(rf"{clip.category}/.+@\d+\.\d{{3}}s", clip.id)
    assert clip.id.startswith(f"{clip.category}/{clip.source.rsplit('.', 1)[0]}@")
    x, rate = sf.read(base / clip.source, dtype="float32")
    start = int(round(clip.offset * rate))
    wav = resample(torch.from_numpy(x[start:start + int(round(seconds * rate))]), rate, 16000)
    wav = torch.nn.functional.pad(wav, (0, max(0, int(seconds * 16000) - wav.numel())))
    return wav[: int(seconds * 16000)] / wav.abs().max()


# ------------------------------------------------- paper datasets, end to end
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_paper_dataset_downloads_checks_extracts_and_samples(name, server, cache, monkeypatch):
    serve(name, server, monkeypatch)
    ds = data.DATASETS[name]
    clips = data.load_clips(name, n=5, seed=3)
    assert len(clips) == 5
    base = cache / name / "files"
    for clip in clips:
        assert clip.audio.dtype == torch.float32 and clip.audio.ndim == 1
        assert clip.audio.numel() == int(ds.seconds * 16000)
        assert clip.audio.abs().max().item() == pytest.approx(1.0)
        assert clip.category == name and clip.licence == ds.licence
        torch.testing.assert_close(clip.audio, source_window(clip, base, ds.seconds), atol=1e-4, rtol=0)
    again = data.load_clips(name, n=5, seed=3)  # from the cache now
    assert [c.id for c in again] == [c.id for c in clips]
    assert all(torch.equal(a.audio, b.audio) for a, b in zip(again, clips))
    assert [c.id for c in data.load_clips(name, n=5, seed=4)] != [c.id for c in clips]
    if ds.known_hash is None:  # trust on first use: the hash is recorded for next time
        assert (cache / name / f"{ds.archive}.sha256").is_file()
    assert not [p for p in leftovers(cache) if ".partial" in p]


def test_ljspeech_clips_are_two_seconds_and_demand_group_takes_both(server, cache, monkeypatch):
    serve("ljspeech", server, monkeypatch)
    assert {c.seconds for c in data.load_clips("ljspeech", n=3)} == {2.0}
    serve("demand_living", server, monkeypatch)
    serve("demand_traffic", server, monkeypatch)
    clips = data.load_clips("demand", n=5, seed=0)
    assert [c.category for c in clips] == ["demand_living"] * 3 + ["demand_traffic"] * 2
    assert {c.seconds for c in clips} == {1.0}
    assert {c.seconds for c in data.load_clips("demand", n=2, duration=0.5)} == {0.5}


def test_registry_points_at_the_real_sources():
    ds = data.DATASETS
    assert ds["ljspeech"].url.endswith("LJSpeech-1.1.tar.bz2") and ds["ljspeech"].known_hash.startswith("sha256:")
    assert "1227121" in ds["demand_living"].url and ds["demand_traffic"].known_hash.startswith("md5:")
    assert {d.seconds for n, d in ds.items() if n != "ljspeech"} == {1.0} and ds["ljspeech"].seconds == 2.0
    assert data.datasets() == ["ljspeech", "sc09", "wavegan_drums", "wavegan_piano",
                               "demand_living", "demand_traffic", "demand"]


# ------------------------------------------------------------ offline failures
def test_truncated_download_fails_hash_and_leaves_nothing(server, cache, monkeypatch):
    full = build_archive("ljspeech", server[0])
    serve("ljspeech", server, monkeypatch, known_hash=sha256(full), payload=lambda b: b[: len(b) // 2])
    with pytest.raises(dap.DapError, match="hash check") as err:
        data.load_clips("ljspeech", n=2)
    assert "\n" not in str(err.value)
    assert leftovers(cache) == ["ljspeech"]  # the empty cache folder only


def test_recorded_hash_catches_a_changed_archive(server, cache, monkeypatch):
    serve("sc09", server, monkeypatch)
    data.fetch("sc09", progress=False)
    recorded = (cache / "sc09" / "sc09.tar.gz.sha256").read_text().split()[0]
    assert "sha256:" + recorded == sha256(cache / "sc09" / "sc09.tar.gz")
    # a later re-download that differs (e.g. truncated) is refused
    for p in (cache / "sc09" / "files", cache / "sc09" / "sc09.tar.gz"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    serve("sc09", server, monkeypatch, payload=lambda b: b[:-100])
    with pytest.raises(dap.DapError, match="hash check"):
        data.fetch("sc09", progress=False)
    assert not (cache / "sc09" / "files").exists()


def test_truncated_archive_without_published_hash_is_not_half_extracted(server, cache, monkeypatch):
    serve("wavegan_drums", server, monkeypatch, payload=lambda b: b[: len(b) // 2])
    with pytest.raises(dap.DapError, match="corrupt or truncated"):
        data.load_clips("wavegan_drums", n=2)
    assert leftovers(cache) == ["wavegan_drums"]  # no partial folder, archive removed, no hash recorded


def test_unreachable_dataset_names_the_folder_and_the_command(cache, monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: the connection is refused at once
    ds = data.DATASETS["ljspeech"]
    monkeypatch.setitem(data.DATASETS, "ljspeech",
                        dataclasses.replace(ds, url=f"http://127.0.0.1:{port}/{ds.archive}"))
    with pytest.raises(dap.DapError) as err:
        data.load_clips("ljspeech", n=1)
    message = str(err.value)
    assert "\n" not in message and "could not be reached" in message
    assert "python -m daptools.data fetch ljspeech" in message and str(cache / "ljspeech") in message
    with pytest.raises(dap.DapError, match="download=False"):
        data.load_clips("sc09", n=1, download=False)


def test_root_with_extracted_files_needs_no_download(tmp_path, cache):
    tree = build_tree("sc09", tmp_path / "mine")
    clips = data.load_clips("sc09", n=6, root=tree, download=False)
    assert len(clips) == 6 and all(c.audio.numel() == 16000 for c in clips)
    assert {c.id.split("@")[0] for c in clips} == {
        "sc09/sc09/train/Zero_0a1b_nohash_0", "sc09/sc09/train/One_2c3d_nohash_0",
        "sc09/sc09/valid/Two_4e5f_nohash_1", "sc09/sc09/test/Nine_6a7b_nohash_0"}
    for clip in clips:
        torch.testing.assert_close(clip.audio, source_window(clip, tree, 1.0), atol=1e-4, rtol=0)
    assert leftovers(cache) == []
    with pytest.raises(dap.DapError, match="no ljspeech files"):
        data.load_clips("ljspeech", root=tree, download=False)


def test_root_with_the_archive_is_checked_and_left_untouched(tmp_path, cache, monkeypatch):
    mine = tmp_path / "downloads"
    mine.mkdir()
    archive = build_archive("demand_living", mine)
    before = archive.read_bytes()
    ds = data.DATASETS["demand_living"]
    monkeypatch.setitem(data.DATASETS, "demand_living", dataclasses.replace(ds, known_hash=sha256(archive)))
    clips = data.load_clips("demand_living", n=3, root=mine, download=False)
    assert len(clips) == 3 and (cache / "demand_living" / "files" / "DLIVING").is_dir()
    assert sorted(p.name for p in mine.iterdir()) == ["DLIVING_16k.zip"] and archive.read_bytes() == before
    archive.write_bytes(before[:-10])  # now corrupt, with the published hash still expected
    shutil.rmtree(cache / "demand_living")
    with pytest.raises(dap.DapError, match="fails its md5 check|fails its sha256 check"):
        data.load_clips("demand_living", n=1, root=mine, download=False)


def test_archive_with_unsafe_paths_is_refused(tmp_path, cache, monkeypatch):
    mine = tmp_path / "downloads"
    mine.mkdir()
    with zipfile.ZipFile(mine / "STRAFFIC_16k.zip", "w") as zf:
        zf.writestr("../escape.wav", b"x")
    ds = data.DATASETS["demand_traffic"]
    monkeypatch.setitem(data.DATASETS, "demand_traffic", dataclasses.replace(ds, known_hash=None))
    with pytest.raises(dap.DapError, match="unsafe path"):
        data.fetch("demand_traffic", root=mine, download=False)
    assert not (tmp_path / "escape.wav").exists() and not (cache / "demand_traffic" / "files").exists()


def test_command_line_fetch_and_list(server, cache, monkeypatch, capsys):
    serve("wavegan_piano", server, monkeypatch)
    empty = cache.parent / "empty"
    empty.mkdir()
    assert data.main(["fetch", "wavegan_piano", "--root", str(empty)]) == 0  # not there: downloaded
    assert list(empty.iterdir()) == []
    assert str(cache / "wavegan_piano" / "files") in capsys.readouterr().out
    assert data.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "wavegan_piano" in out and "extracted" in out and "speech" in out
    monkeypatch.setitem(data.DATASETS, "sc09", dataclasses.replace(
        data.DATASETS["sc09"], url="http://127.0.0.1:1/sc09.tar.gz"))
    assert data.main(["fetch", "sc09"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: sc09 is not available") and "\n" not in err


# ------------------------------------------------------------- tutorial set
def manifest_rows():
    with open(TUTORIAL / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_manifest_matches_the_files():
    rows = manifest_rows()
    on_disk = sorted(p.relative_to(TUTORIAL).as_posix() for p in TUTORIAL.rglob("*.flac"))
    assert sorted(r["file"] for r in rows) == on_disk
    for r in rows:
        assert hashlib.sha256((TUTORIAL / r["file"]).read_bytes()).hexdigest() == r["sha256"], r["file"]
        assert r["id"] == r["file"].rsplit(".", 1)[0] and r["category"] == r["file"].split("/")[0]
        assert r["licence"] and r["source_package"] and r["source_path"] and r["processing"]
        assert "GPL" not in r["licence"]
    assert sum(p.stat().st_size for p in TUTORIAL.rglob("*") if p.is_file()) < 10e6


def test_every_clip_is_16k_mono_the_stated_length_and_not_silent():
    for r in manifest_rows():
        info = sf.info(TUTORIAL / r["file"])
        assert (info.samplerate, info.channels) == (16000, 1), r["file"]
        assert info.frames == int(float(r["seconds"]) * 16000)
        x, _ = sf.read(TUTORIAL / r["file"])
        active = np.mean(np.abs(x) > 0.01)  # share of samples above -40 dBFS
        assert np.abs(x).max() > 0.5 and active > 0.05, r["file"]


def test_attribution_credits_every_source_package():
    text = (REPO / "data" / "ATTRIBUTION.md").read_text()
    for package in {r["source_package"] for r in manifest_rows()}:
        assert package in text, package


def test_load_clips_for_each_category():
    expected_seconds = {"speech": 2, "digits": 1, "piano": 2, "drums": 1, "noise": 2}
    assert data.categories() == list(expected_seconds)
    for name, seconds in expected_seconds.items():
        clips = data.load_clips(name)  # n=50 > available: all of them, none invented
        assert len(clips) == sum(r["category"] == name for r in manifest_rows()) >= 5
        for clip in clips:
            assert clip.category == name and clip.id.startswith(f"{name}/")
            assert clip.audio.dtype == torch.float32 and clip.audio.numel() == seconds * 16000
            assert clip.audio.abs().max().item() == pytest.approx(1.0)


def test_tutorial_draws_and_durations():
    every = [c.id for c in data.load_clips("digits")]
    some = [c.id for c in data.load_clips("digits", n=3, seed=1)]
    assert len(some) == 3 and set(some) < set(every)
    assert some == [c.id for c in data.load_clips("digits", n=3, seed=1)]
    assert some != [c.id for c in data.load_clips("digits", n=3, seed=2)]
    full = data.load_clip("speech", 0)
    cut = data.load_clip("speech", 0, duration=0.5)
    padded = data.load_clip("speech", 0, duration=3.0)
    assert cut.audio.numel() == 8000 and padded.audio.numel() == 48000
    assert torch.all(padded.audio[32000:] == 0)
    torch.testing.assert_close(padded.audio[:32000], full.audio)
    torch.testing.assert_close(cut.audio, full.audio[:8000] / full.audio[:8000].abs().max())


@pytest.mark.parametrize("call, message", [
    (lambda: data.load_clips("librispeech"), "unknown clip set"),
    (lambda: data.load_clips("speech", n=0), "n must be a positive integer"),
    (lambda: data.load_clips("speech", duration=-1), "duration must be a positive"),
    (lambda: data.load_clips("speech", seed=0.5), "seed must be an integer"),
    (lambda: data.load_clip("digits", 10), "choose index 0..9"),
    (lambda: data.load_clips("speech", root="/nonexistent"), "tutorial manifest not found"),
    (lambda: data.fetch("demand"), "the group 'demand' is"),
])
def test_bad_requests_raise_one_line(call, message):
    with pytest.raises(dap.DapError, match=message) as err:
        call()
    assert "\n" not in str(err.value)
