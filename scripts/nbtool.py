"""Small notebook tools for authors of notebooks/ (no jupytext needed).

    python scripts/nbtool.py strip notebooks/*.ipynb          # remove outputs and execution counts
    python scripts/nbtool.py to-py notebooks/04_plain_unet.ipynb > /tmp/04.py
    python scripts/nbtool.py from-py /tmp/04.py notebooks/04_plain_unet.ipynb

The text form is the "percent" format: a line ``# %%`` starts a code cell, ``# %% [markdown]``
a markdown cell whose lines carry a leading ``# ``, and ``# %% tags=["parameters"]`` tags
a cell. Notebooks are stored without outputs (tests/test_notebooks.py checks it).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def strip(nb) -> bool:
    """Remove outputs, execution counts and papermill metadata in place; True if anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
            cell.outputs, cell.execution_count = [], None
        for key in ("papermill", "execution"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    for key in ("papermill",):
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    return changed


def to_py(nb) -> str:
    """A notebook as percent-format text."""
    parts = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        tag = f" tags={json.dumps(tags)}" if tags else ""
        if cell.cell_type == "markdown":
            body = "\n".join(("# " + line) if line else "#" for line in cell.source.splitlines())
            parts.append(f"# %% [markdown]{tag}\n{body}")
        else:
            parts.append(f"# %%{tag}\n{cell.source}")
    return "\n\n".join(parts) + "\n"


def from_py(text: str):
    """Percent-format text -> a notebook without outputs (python3 kernel)."""
    cells, kind, tags, lines = [], None, [], []

    def flush():
        if kind is None:
            return
        src = "\n".join(lines).strip("\n")
        if kind == "markdown":
            src = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in src.splitlines())
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            cell = nbformat.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            flush()
            kind = "markdown" if m.group("md") else "code"
            tags = json.loads(m.group("tags")) if m.group("tags") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("strip", help="remove outputs in place")
    s.add_argument("notebooks", nargs="+", type=Path)
    t = sub.add_parser("to-py", help="print a notebook as percent-format text")
    t.add_argument("notebook", type=Path)
    f = sub.add_parser("from-py", help="write a notebook from percent-format text")
    f.add_argument("source", type=Path)
    f.add_argument("notebook", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "strip":
        for path in args.notebooks:
            nb = nbformat.read(path, as_version=4)
            if strip(nb):
                nbformat.write(nb, path)
                print(f"stripped {path}")
    elif args.cmd == "to-py":
        sys.stdout.write(to_py(nbformat.read(args.notebook, as_version=4)))
    else:
        nb = from_py(args.source.read_text())
        nbformat.validate(nb)
        nbformat.write(nb, args.notebook)
        print(f"wrote {args.notebook} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
