"""The ledger of a table run: ``rows.jsonl``, one JSON line per finished (clip, prior) row.

One concern: reading a run's record back (its settings in ``config.json``, :func:`read_config`; its rows,
where a torn last line, from a run killed mid-write, is ignored) and cutting such a line before
appending, so that a resumed run starts clean. The runner
(:mod:`daptools.experiments.runner`) appends; the report reads. Each sitting of the command (a run
or a resumption) also appends one line to ``sittings.jsonl``: when, how long, how many new rows,
where (executor, CPU), so the report can state a grid's wall time over all its sittings. Taught in notebooks 07-10.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def read_config(out: Path) -> dict:
    """What ``out/config.json`` records: ``{"config": the run's settings, "versions": packages and machine}``."""
    return json.loads((Path(out) / "config.json").read_text())


def read_rows(out: Path) -> list[dict]:
    """The rows recorded so far in ``out/rows.jsonl`` (a torn last line is ignored)."""
    path = Path(out) / "rows.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def drop_torn_line(path: Path) -> None:
    """Cut a half-written last line (a run killed mid-write) so appended rows start on their own line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[:data.rfind(b"\n") + 1])


def record_sitting(out: Path, started: float, new_rows: int, **where) -> dict:
    """Append one sitting of a run (started at ``started``, a ``time.time()``, ended now) to
    ``out/sittings.jsonl`` and return it."""
    ended = time.time()
    sitting = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
               "wall_seconds": round(ended - started, 1), "new_rows": int(new_rows), **where}
    with open(Path(out) / "sittings.jsonl", "a") as f:
        f.write(json.dumps(sitting) + "\n")
    return sitting


def read_sittings(out: Path) -> list[dict]:
    """The sittings recorded in ``out/sittings.jsonl`` (none for runs made before it existed)."""
    path = Path(out) / "sittings.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
