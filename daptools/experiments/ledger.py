"""The ledger of a table run: ``rows.jsonl``, one JSON line per finished (clip, prior) row.

One concern: reading the rows back (a torn last line, from a run killed mid-write, is ignored)
and cutting such a line before appending, so that a resumed run starts clean. The runner
(:mod:`daptools.experiments.runner`) appends; the report reads. Taught in notebooks 07-10.
"""
from __future__ import annotations

import json
from pathlib import Path


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
