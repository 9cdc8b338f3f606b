"""Resumable long runs: the work folder that keeps every finished segment.

Outside the notebook series (used by the command line and :mod:`daptools.restore`).

``daptools denoise|inpaint|separate`` fits a long recording segment by segment (see
:mod:`daptools.segments`). Each finished segment's restored samples go to a work folder
next to the output (``<output>.daptools-work/``, or ``--work-dir``), so a run that was
interrupted (Ctrl-C, ``kill -9``, a restart) and is started again with ``--resume`` fits
only the segments still missing, and writes the file an uninterrupted run writes, bit for
bit: a segment's fit depends only on its samples, the settings and the seed (each fit
seeds its own networks and z), and the missing segments are fitted in the batches they
would have had (a batch left half-saved is fitted again whole).

The folder holds ``settings.json``, a fingerprint of everything that affects the result
(the input's sha256, the settings, the daptools and torch versions, the CPU threads: they
change the rounding, hence the bytes), and one ``segment-NNNNN.npy``
per finished segment. Every file is written under a temporary name, flushed to disk and
renamed (:func:`daptools.fileio.replace_atomic`), so a kill leaves a whole segment or none.
A resumed run whose input or settings differ from the fingerprint is refused, as is a new
run over an existing work folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np

from ._checks import DapError
from .fileio import replace_atomic

SETTINGS = "settings.json"
SUFFIX = ".daptools-work"


def default_path(output) -> Path:
    """The work folder of a run writing ``output``: ``<output>.daptools-work`` beside it."""
    output = Path(output)
    return output.with_name(output.name + SUFFIX)


def file_sha256(path) -> str:
    """The sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save_npy(name: str, data: np.ndarray) -> None:
    with open(name, "wb") as f:
        np.save(f, data, allow_pickle=False)


def _differences(old: dict, new: dict) -> str | None:
    """What changed between two fingerprints, as one phrase (None: nothing)."""
    settings = [f"{key} {json.dumps(old.get(key))} -> {json.dumps(new.get(key))}"
                for key in sorted(set(old) | set(new)) if key != "input_sha256" and old.get(key) != new.get(key)]
    what = [w for w, changed in (("the input file (its sha256 differs)", old.get("input_sha256") !=
                                  new.get("input_sha256")), ("the settings", bool(settings))) if changed]
    if not what:
        return None
    return " and ".join(what) + (f" ({'; '.join(settings)})" if settings else "")


class WorkFolder:
    """The finished segments of one run, on disk.

    Attributes:
        path (Path): the folder.
        fingerprint (dict): the run's input hash and settings (JSON values).
        resumed (bool): True when an earlier run's folder was opened with ``resume``.
    """

    def __init__(self, path, fingerprint: dict, resumed: bool = False):
        self.path, self.fingerprint, self.resumed = Path(path), fingerprint, resumed

    @classmethod
    def open(cls, path, fingerprint: dict, resume: bool) -> "WorkFolder":
        """Create the work folder of a new run, or reopen an interrupted run's with ``resume``.

        Args:
            path (str | Path): the folder (its parent must exist).
            fingerprint (dict): what the result depends on (JSON-serialisable).
            resume (bool): continue an existing folder (``--resume``); without an existing
                folder the run simply starts from the first segment.

        Returns:
            WorkFolder

        Raises:
            DapError: the folder exists without ``resume``, is not a daptools work folder, or
                holds a run with another input or other settings.
        """
        path = Path(path)
        fingerprint = json.loads(json.dumps(fingerprint))  # tuples -> lists, as read back from disk
        if path.exists() or path.is_symlink():
            return cls._reopen(path, fingerprint, resume)
        if not path.parent.is_dir():
            raise DapError(f"{path.parent}: the work folder's parent does not exist; create it or give "
                           "another --work-dir")
        path.mkdir()
        return cls._fresh(path, fingerprint)

    @classmethod
    def _fresh(cls, path: Path, fingerprint: dict) -> "WorkFolder":
        """A new run's folder (``path`` exists, with no finished segment): its settings written."""
        replace_atomic(path / SETTINGS, lambda tmp: Path(tmp).write_bytes(json.dumps(fingerprint, indent=1).encode()))
        return cls(path, fingerprint)

    @classmethod
    def _reopen(cls, path: Path, fingerprint: dict, resume: bool) -> "WorkFolder":
        try:
            old = json.loads((path / SETTINGS).read_text())
        except (OSError, ValueError):
            raise DapError(f"{path} exists and is not a daptools work folder (no readable {SETTINGS}); "
                           "move it away or give another --work-dir") from None
        done = len(list(path.glob("segment-*.npy")))
        if not done:  # a run that stopped before its first segment: nothing to keep, start afresh
            return cls._fresh(path, fingerprint)
        if not resume:
            raise DapError(f"{path} holds {done} finished segment{'s' if done > 1 else ''} of an interrupted run; "
                           "pass --resume to continue it, or delete the folder to start again")
        changed = _differences(old, fingerprint)
        if changed:
            raise DapError(f"--resume: {changed} changed since the interrupted run in {path}; run it again with "
                           "the input and settings it had, or delete the folder to start again")
        return cls(path, fingerprint, resumed=True)

    def _segment(self, k: int) -> Path:
        return self.path / f"segment-{k:05d}.npy"

    def load(self, items) -> dict:
        """The stored results of ``items`` (segment numbers) that are complete.

        Returns:
            dict[int, ndarray]: float32 samples per stored segment (a file that cannot be read
            counts as missing, and its segment is fitted again).
        """
        found = {}
        for k in items:
            with contextlib.suppress(OSError, ValueError):
                found[k] = np.load(self._segment(k), allow_pickle=False)
        return found

    def save(self, k: int, samples: np.ndarray) -> None:
        """Store one finished segment atomically (a kill leaves it whole or absent)."""
        data = np.ascontiguousarray(samples, dtype=np.float32)
        replace_atomic(self._segment(k), lambda tmp: _save_npy(tmp, data))

    def count(self) -> int:
        """Finished segments on disk."""
        return len(list(self.path.glob("segment-*.npy")))

    def remove(self) -> str | None:
        """Delete what this run wrote (never anything else), then the folder if it is empty.

        Returns:
            str | None: a warning when other files kept the folder from being removed.
        """
        for pattern in (SETTINGS, "segment-*.npy", f".{SETTINGS}.*.part", ".segment-*.npy.*.part"):
            for p in self.path.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        try:
            self.path.rmdir()
        except OSError:
            return f"{self.path} holds files daptools did not write; left it in place"
        return None
