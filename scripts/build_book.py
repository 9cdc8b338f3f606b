"""Build the daptools book: the notebooks executed, with README.md and docs/*.md, as an offline HTML site.

    python scripts/build_book.py build                    # make book: execute at lab settings (cached), build HTML
    python scripts/build_book.py smoke                    # execute every notebook with smoke=True, build from those
    python scripts/build_book.py build --executed DIR     # build from notebooks already executed into DIR
    python scripts/build_book.py sync                     # write book/conf.py's REPO_URL into README and notebooks

Sphinx + myst-nb (the ``book`` extra), configured in ``book/conf.py``. The sources are staged into
``book/_build/src`` (README.md, docs/, notebooks/ keep their relative layout, so their links resolve as on
GitHub); a link to a repository file that is not a page of the book (a script, a JSON file) becomes a
link to that file in the repository, and a link to a file that does not exist fails the build, as does
any Sphinx warning (``-W --keep-going``: a missing figure, a broken reference) or a notebook error.
The HTML is in ``book/_build/html``; with ``build`` (``nb_execution_mode = "cache"``) jupyter-cache
keeps the executed notebooks in ``book/_build/.jupyter_cache``, so an unchanged notebook is not run again
(the whole cache is emptied when the daptools package changed: :func:`invalidate_cache_if_package_changed`).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = BOOK / "_build"
DOCS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
INSTALL_MARK = "# Running on a hosted notebook service"
BADGE_MARK = "<!-- launch badges: written by scripts/build_book.py -->"
BADGE_IMAGES = {"https://colab.research.google.com/assets/colab-badge.svg": "colab.svg",
                "https://mybinder.org/badge_logo.svg": "binder.svg"}


def notebooks() -> list[Path]:
    """The numbered notebooks of the series, in reading order."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def repo_settings() -> tuple[str, str]:
    """(REPO_URL, BRANCH) as written once in book/conf.py (read without executing it)."""
    tree = ast.parse((BOOK / "conf.py").read_text())
    values = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name) and t.id in ("REPO_URL", "BRANCH")}
    return values["REPO_URL"].rstrip("/"), values["BRANCH"]


def launch_urls(name: str) -> dict:
    """The Colab and Binder addresses that open notebooks/``name`` of the repository."""
    url, branch = repo_settings()
    owner_repo = url.split("github.com/", 1)[1]
    return {"colab": f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/notebooks/{name}",
            "binder": f"https://mybinder.org/v2/gh/{owner_repo}/{branch}?labpath=notebooks%2F{name}"}


def install_cell_source() -> str:
    """The first code cell of every notebook: installs daptools on Colab or Binder, nothing elsewhere."""
    url, _ = repo_settings()
    return f'''{INSTALL_MARK} (Colab, Binder)? Then install daptools first.
# On your own machine (make lab, conda) this cell does nothing.
import importlib.util
import os
import subprocess
import sys

REPO_URL = "{url}"  # written from book/conf.py by scripts/build_book.py sync
hosted = "google.colab" in sys.modules or "BINDER_SERVICE_HOST" in os.environ
if hosted and importlib.util.find_spec("daptools") is None:
    # Binder starts in a checkout (notebooks/ is the working folder); Colab needs a clone
    root = os.path.abspath("..") if os.path.exists("../pyproject.toml") else "/content/daptools"
    if not os.path.exists(os.path.join(root, "pyproject.toml")):
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, root], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", root + "[notebooks]"], check=True)
    sys.path.insert(0, root)  # an editable install is seen by new kernels only
    os.chdir(os.path.join(root, "notebooks"))'''


def readme_badge_table() -> str:
    """The README's table of launch badges, one row per notebook."""
    rows = [BADGE_MARK, "", "| notebook | Colab | Binder |", "|---|---|---|"]
    for path in notebooks():
        urls = launch_urls(path.name)
        rows.append(f"| [{path.stem}](notebooks/{path.name}) "
                    f"| [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({urls['colab']}) "
                    f"| [![Binder](https://mybinder.org/badge_logo.svg)]({urls['binder']}) |")
    return "\n".join(rows) + "\n"


def out_of_sync() -> list[str]:
    """What `sync` would change: README's badge table and each notebook's install cell."""
    problems = []
    readme = (ROOT / "README.md").read_text()
    if readme_badge_table() not in readme:
        problems.append("README.md: the launch badge table differs from book/conf.py's REPO_URL")
    for path in notebooks():
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        if not code or code[0].source != install_cell_source():
            problems.append(f"{path.name}: the first code cell is not the hosted-install cell")
    return problems


def sync() -> list[str]:
    """Rewrite README's badge table and each notebook's install cell from book/conf.py; returns what changed."""
    changed = []
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    table = readme_badge_table()
    if table not in readme:
        pattern = re.compile(re.escape(BADGE_MARK) + r"\n\n(\|.*\|\n)+")
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no badge table (a line {BADGE_MARK!r} followed by the table)")
        readme_path.write_text(pattern.sub(lambda m: table, readme, count=1))
        changed.append("README.md")
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        if nb.cells[first].source.startswith(INSTALL_MARK):
            if nb.cells[first].source == install_cell_source():
                continue
            nb.cells[first].source = install_cell_source()
        else:
            nb.cells.insert(first, nbformat.v4.new_code_cell(install_cell_source()))
        nbformat.write(nb, path)
        changed.append(path.name)
    return changed


def _rewrite_links(text: str, where: Path, stage: Path, broken: list) -> str:
    """Relative links: kept when they point into the book, sent to the repository otherwise."""
    url, branch = repo_settings()

    def fix(m):
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return m.group(0)
        path, _, anchor = target.partition("#")
        resolved = (where.parent / path).resolve()
        try:
            rel = resolved.relative_to(ROOT).as_posix()
        except ValueError:
            broken.append(f"{where.relative_to(ROOT)}: {target} (outside the repository)")
            return m.group(0)
        if (stage / rel).exists():
            return m.group(0)
        if not resolved.exists():
            broken.append(f"{where.relative_to(ROOT)}: {target}")
            return m.group(0)
        kind = "tree" if resolved.is_dir() else "blob"
        return f"{m.group(1)}{url}/{kind}/{branch}/{rel}{'#' + anchor if anchor else ''}{m.group(3)}"

    return LINK.sub(fix, text)


def _with_badges(title_cell: str, name: str) -> str:
    """The notebook's first markdown cell with the launch badges under its title."""
    urls = launch_urls(name)
    badges = (f"[![Open in Colab](../_badges/colab.svg)]({urls['colab']}) "
              f"[![Launch Binder](../_badges/binder.svg)]({urls['binder']}) "
              "(run this notebook yourself; its first code cell installs daptools there)")
    title, _, rest = title_cell.partition("\n")
    return f"{title}\n\n{badges}\n{rest}"


def stage(executed: Path | None = None, dest: Path = BUILD / "src") -> Path:
    """Copy the book's sources into ``dest``: the pages, the notebooks (executed ones if given), images.

    Args:
        executed (Path | None): a folder of notebooks executed with smoke=True (same names); None:
            the notebooks as committed (without outputs), for myst-nb to execute.
        dest (Path): the staging folder (emptied first).

    Returns:
        Path: ``dest``.

    Raises:
        SystemExit: a relative link points to a file that does not exist.
    """
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "notebooks").mkdir(parents=True)
    shutil.copy(BOOK / "index.md", dest / "index.md")
    shutil.copytree(BOOK / "_badges", dest / "_badges")
    for rel in DOCS:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, dest / rel)
    for path in notebooks():
        shutil.copy(path, dest / "notebooks" / path.name)
    for image in [*(ROOT / "docs").rglob("*.png"), *(ROOT / "docs").rglob("*.svg")]:  # figures the pages show
        target = dest / image.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, target)
    broken = []
    for rel in DOCS:
        page = dest / rel
        text = _rewrite_links(page.read_text(), ROOT / rel, dest, broken)
        for remote, local in BADGE_IMAGES.items():  # the book is read offline: its badges are local pictures
            text = text.replace(remote, Path(os.path.relpath(dest / "_badges" / local, page.parent)).as_posix())
        page.write_text(text)
    for path in notebooks():
        source = (executed / path.name) if executed else path
        if not source.exists():
            raise SystemExit(f"{source}: not executed (run: python scripts/build_book.py smoke)")
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = _rewrite_links(cell.source, path, dest, broken)
        nb.cells[0].source = _with_badges(nb.cells[0].source, path.name)
        nbformat.write(nb, dest / "notebooks" / path.name)
    if broken:
        raise SystemExit("broken links:\n  " + "\n  ".join(broken))
    return dest


def execute_smoke(out: Path, names: list[str] | None = None) -> Path:
    """Execute the notebooks with smoke=True through papermill (as tests/test_notebooks.py does) into ``out``."""
    import papermill as pm

    out.mkdir(parents=True, exist_ok=True)
    for path in notebooks():
        if names and path.name[:2] not in names:
            continue
        pm.execute_notebook(str(path), str(out / path.name), kernel_name="python3", cwd=str(ROOT / "notebooks"),
                            parameters={"smoke": True, "results_dir": str(out / "results")}, progress_bar=False)
    return out


def build(executed: Path | None = None, out: Path = BUILD / "html", src: Path = BUILD / "src") -> dict:
    """Stage and run sphinx-build (-W --keep-going); returns the time and the number of pages.

    Args:
        executed (Path | None): notebooks already executed (smoke); None: myst-nb executes the
            committed notebooks at their lab settings, cached by jupyter-cache.
        out (Path): the HTML folder.
        src (Path): the staging folder.

    Returns:
        dict: ``seconds`` (wall time), ``pages`` (HTML pages of documents), ``out``.

    Raises:
        subprocess.CalledProcessError: Sphinx failed (a warning, a notebook error).
    """
    start = time.time()
    stage(executed, src)
    if not executed:
        invalidate_cache_if_package_changed()
    env = dict(os.environ, DAPTOOLS_BOOK_EXECUTE="off" if executed else "cache",
               DAPTOOLS_BOOK_CACHE=str(BUILD / ".jupyter_cache"), PYTHONPATH=os.pathsep.join(
                   filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-c", str(BOOK), "-W", "--keep-going", "-q",
                    "-d", str(src.parent / "doctrees"), str(src), str(out)], check=True, env=env, cwd=ROOT)
    pages = [p for p in out.rglob("*.html") if p.name not in ("genindex.html", "search.html")
             and "_static" not in p.parts and "_sources" not in p.parts]
    return {"seconds": time.time() - start, "pages": len(pages), "out": out,
            "executed": {} if executed else execution_seconds()}


def package_digest() -> str:
    """A hash of the package's source (daptools/**/*.py): what a notebook's outputs depend on besides its code."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "daptools").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def invalidate_cache_if_package_changed(cache: Path = BUILD / ".jupyter_cache") -> bool:
    """jupyter-cache keys an executed notebook on its code cells only, so a change of the package (a preset's
    iterations, a model) would leave stale outputs in the book: empty the cache when the package's digest
    differs from the one it was filled with. Returns True where it was emptied."""
    stamp = cache.parent / "package_digest.txt"
    now = package_digest()
    stale = cache.exists() and (not stamp.exists() or stamp.read_text().strip() != now)
    if stale:
        print("  the daptools package changed since the cached notebooks ran: executing them again", flush=True)
        shutil.rmtree(cache)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(now + "\n")
    return stale


def execution_seconds(cache: Path = BUILD / ".jupyter_cache") -> dict:
    """Seconds each notebook took when jupyter-cache last executed it for the book (kernel start excluded), by name;
    ``scripts/time_notebooks.py --from-book`` records them in notebooks/timings.json."""
    if not cache.exists():
        return {}
    from jupyter_cache import get_cache

    found = {}
    for record in sorted(get_cache(str(cache)).list_cache_records(), key=lambda r: r.created):
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None:  # the newest record of a notebook wins
            found[Path(record.uri).name] = {"seconds": round(float(seconds), 1), "executed": record.created.isoformat()}
    return dict(sorted(found.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the book (lab execution, cached) or from --executed notebooks")
    b.add_argument("--executed", type=Path, help="a folder of notebooks already executed (e.g. with smoke=True)")
    b.add_argument("--out", type=Path, default=BUILD / "html")
    s = sub.add_parser("smoke", help="execute every notebook with smoke=True, then build the book from them")
    s.add_argument("--executed", type=Path, default=BUILD / "smoke", help="where the executed notebooks go")
    s.add_argument("--out", type=Path, default=BUILD / "html-smoke")
    sub.add_parser("sync", help="write book/conf.py's REPO_URL into README's badges and the notebooks' install cells")
    args = parser.parse_args(argv)
    if args.command == "sync":
        print("\n".join(sync()) or "already in sync")
        return
    if args.command == "smoke":
        execute_smoke(args.executed)
    info = build(args.executed, args.out)
    for name, run in info["executed"].items():
        print(f"  {name}: executed in {run['seconds']:.0f} s ({run['executed']})")
    print(f"{info['pages']} pages in {info['seconds']:.0f} s: {info['out'] / 'index.html'}")


if __name__ == "__main__":
    main()
