"""The book (scripts/build_book.py, book/conf.py): its sources agree, its link check works, and it builds.

* the launch badges of README.md and every notebook's hosted-install cell carry book/conf.py's REPO_URL;
* the install cell does nothing locally and clones + installs on a hosted service (run here with the
  service faked);
* (markers ``book`` and ``notebook``) the book builds with Sphinx -W from the notebooks the notebook tests
  executed with smoke=True in this session (it executes any that are missing), and its pages show figures,
  players and launch badges, with nothing fetched from the internet.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_repo_url_is_written_once_and_synced():
    bb = _build_book()
    url, branch = bb.repo_settings()
    assert url.startswith("https://github.com/") and branch
    assert bb.out_of_sync() == [], "run: python scripts/build_book.py sync"
    readme = (ROOT / "README.md").read_text()
    for path in bb.notebooks():
        urls = bb.launch_urls(path.name)
        assert urls["colab"] in readme and urls["binder"] in readme, path.name


def _run_install_cell(monkeypatch, tmp_path, hosted: str | None):
    bb = _build_book()
    calls = []
    monkeypatch.chdir(tmp_path)  # no ../pyproject.toml here: a hosted run must clone
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(list(args)))
    monkeypatch.setattr("os.chdir", lambda path: calls.append(["chdir", path]))
    monkeypatch.setattr(sys, "path", list(sys.path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "daptools" else real_find_spec(name, *a))
    monkeypatch.delenv("BINDER_SERVICE_HOST", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    if hosted == "colab":
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    elif hosted == "binder":
        monkeypatch.setenv("BINDER_SERVICE_HOST", "10.0.0.1")
    exec(compile(bb.install_cell_source(), "install-cell", "exec"), {})
    return calls, bb.repo_settings()[0]


def test_install_cell_does_nothing_locally(monkeypatch, tmp_path):
    calls, _ = _run_install_cell(monkeypatch, tmp_path, None)
    assert calls == []


@pytest.mark.parametrize("service", ["colab", "binder"])
def test_install_cell_installs_on_a_hosted_service(monkeypatch, tmp_path, service):
    calls, url = _run_install_cell(monkeypatch, tmp_path, service)
    assert calls[0] == ["git", "clone", "--depth", "1", url, "/content/daptools"]
    assert calls[1][1:] == ["-m", "pip", "install", "-q", "-e", "/content/daptools[notebooks]"]
    assert calls[2] == ["chdir", "/content/daptools/notebooks"]


def test_links_are_checked_and_sent_to_the_repository(tmp_path):
    bb = _build_book()
    url, branch = bb.repo_settings()
    broken = []
    page = ROOT / "docs" / "glossary.md"
    text = "[a](stopping.md) [b](../daptools/presets.py#L1) [c](missing.md) [d](https://x.org) [e](#top)"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "stopping.md").write_text("")
    out = bb._rewrite_links(text, page, tmp_path, broken)
    assert "[a](stopping.md)" in out and "[d](https://x.org)" in out and "[e](#top)" in out
    assert f"[b]({url}/blob/{branch}/daptools/presets.py#L1)" in out
    assert broken == ["docs/glossary.md: missing.md"]


@pytest.mark.book
@pytest.mark.notebook
def test_book_builds_from_smoke_notebooks(smoke_notebooks, tmp_path):
    bb = _build_book()
    names = [p.name for p in bb.notebooks()]
    missing = smoke_notebooks.missing(names)
    if missing:  # run alone (pytest -m book): execute what the notebook tests did not
        bb.execute_smoke(smoke_notebooks.folder, [n[:2] for n in missing])
    info = bb.build(smoke_notebooks.folder, out=tmp_path / "html", src=tmp_path / "src")
    html = tmp_path / "html"
    pages = {p.relative_to(html).as_posix(): p.read_text() for p in html.rglob("*.html") if "_static" not in p.parts}
    expected = {"index.html", "README.html", "docs/glossary.html", *(f"notebooks/{Path(n).stem}.html" for n in names)}
    assert expected <= set(pages), sorted(expected - set(pages))
    assert info["pages"] == len(bb.DOCS) + len(names) + 1  # README, docs/*.md, the notebooks, the index
    for name in names:
        page = pages[f"notebooks/{Path(name).stem}.html"]
        assert bb.launch_urls(name)["colab"] in page and bb.launch_urls(name)["binder"] in page, name
        images = re.findall(r'<img[^>]+src="([^"]+)"', page)
        figures = [src for src in images if not re.search(r"(colab|binder)[^/]*\.svg$", src)]  # not the badges
        assert len(images) - len(figures) == 2 and figures, f"{name}: {len(figures)} figures, badges {images}"
        for src in figures:  # every figure the page shows was written next to it
            assert src.startswith("data:") or (html / "notebooks" / src).resolve().exists(), (name, src)
        assert "Solutions" in page and "glossary.html" in page, name
    players = {n: len(re.findall(r"<audio", p)) for n, p in pages.items() if n.startswith("notebooks/")}
    assert all(players[f"notebooks/{Path(n).stem}.html"] for n in names if n[:2] in ("01", "04", "07", "08", "09")), players
    for name, page in pages.items():  # offline: no script or stylesheet from the internet
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', page), name


def test_execution_seconds_reads_the_newest_cache_record(tmp_path):
    """`make book`'s lab times come from jupyter-cache's records: one per notebook, the newest winning."""
    import nbformat
    from jupyter_cache import get_cache

    bb = _build_book()
    assert bb.execution_seconds(tmp_path / "missing") == {}
    cache = get_cache(str(tmp_path / "cache"))
    for n, seconds in enumerate((12.34, 56.78)):  # two executions of the same notebook, the second newer
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = {n}", execution_count=1)])
        path = tmp_path / f"run{n}" / "04_plain_unet.ipynb"
        path.parent.mkdir()
        nbformat.write(nb, path)
        cache.cache_notebook_file(str(path), uri=str(path), data={"execution_seconds": seconds}, overwrite=True)
    found = bb.execution_seconds(tmp_path / "cache")
    assert list(found) == ["04_plain_unet.ipynb"]
    assert found["04_plain_unet.ipynb"]["seconds"] == 56.8


def test_a_change_of_the_package_empties_the_notebook_cache(tmp_path, monkeypatch):
    # jupyter-cache keys on a notebook's code cells only: a change of daptools (a preset's iteration count)
    # must not leave stale outputs in the book
    bb = _build_book()
    cache = tmp_path / ".jupyter_cache"
    cache.mkdir()
    (cache / "record").write_text("executed")
    assert bb.invalidate_cache_if_package_changed(cache)  # no stamp yet: filled by an unknown package
    assert not cache.exists()
    cache.mkdir()
    (cache / "record").write_text("executed")
    assert not bb.invalidate_cache_if_package_changed(cache) and (cache / "record").exists()  # same package
    monkeypatch.setattr(bb, "package_digest", lambda: "another package")
    assert bb.invalidate_cache_if_package_changed(cache) and not cache.exists()
    assert (tmp_path / "package_digest.txt").read_text().strip() == "another package"
