"""Open a built book page in headless Chromium: check its figures and audio players, take a screenshot.

    python scripts/check_book.py                                   # book/_build/html, notebook 01
    python scripts/check_book.py --html book/_build/html-smoke --page notebooks/04_plain_unet.html \
        --anchor 3-listen-and-look --out /tmp/page.png

Checks, on the page as Chromium rendered it (``--dump-dom``): at least one figure (<img>) and one audio
player (<audio>); every figure's file exists and every player carries its WAV (a data: address, so the
page plays offline). Then it takes a screenshot (``--screenshot``) at ``--anchor`` for a person to look at.
Chromium comes from the Debian package (``apt-get install chromium``); set ``--chromium`` otherwise.
Exits 1 when a check fails, 2 when no Chromium is found.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium(given: str | None = None) -> str | None:
    """The Chromium executable: ``given``, else the first of chromium, chromium-browser, google-chrome on PATH."""
    if given:
        return given
    return next((shutil.which(c) for c in CANDIDATES if shutil.which(c)), None)


def _chromium(binary: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:  # a fresh profile: no state between runs
        return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                               "--allow-file-access-from-files", f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)


def rendered_dom(binary: str, url: str) -> str:
    """The page's DOM after Chromium loaded it (scripts run)."""
    return _chromium(binary, "--virtual-time-budget=5000", "--dump-dom", url).stdout


def check_dom(dom: str, page: Path) -> dict:
    """Figures and players in a rendered page: counts, and the figures whose file is missing."""
    images = re.findall(r'<img[^>]*\bsrc="([^"]+)"', dom)
    players = re.findall(r"<audio[^>]*>", dom)
    missing = [src for src in images if not src.startswith(("data:", "http")) and
               not (page.parent / src.split("#")[0].split("?")[0]).exists()]
    silent = [p for p in players if 'src="data:audio/wav;base64,' not in p]
    return {"images": len(images), "players": len(players), "missing_images": missing, "players_without_audio": silent}


# Headless Chromium draws a blank page when asked to screenshot at a #fragment, so the screenshot is taken of a
# copy of the page (beside it, so its relative links work) whose content before the anchor's section is removed.
_FROM_ANCHOR = """<script>window.addEventListener("load", function () {
  var node = document.getElementById(%s);
  for (; node && node !== document.body && !node.classList.contains("body"); node = node.parentElement) {
    while (node.previousElementSibling) node.previousElementSibling.remove();
  }
});</script></body>"""


def screenshot(binary: str, page: Path, out: Path, anchor: str | None = None, size: str = "1300,1600") -> Path:
    """A PNG of the page as Chromium draws it, starting at the section with id ``anchor`` (None: the top)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    target = page
    if anchor:
        target = page.with_name(f"_check_book_{page.name}")
        target.write_text(page.read_text().replace("</body>", _FROM_ANCHOR % json.dumps(anchor), 1))
    try:
        _chromium(binary, "--virtual-time-budget=5000", f"--window-size={size}", f"--screenshot={out}", target.as_uri())
    finally:
        if target != page:
            target.unlink()
    if not out.exists():
        raise SystemExit(f"Chromium wrote no screenshot to {out}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--html", type=Path, default=ROOT / "book" / "_build" / "html", help="the built book")
    parser.add_argument("--page", default="notebooks/01_orientation.html", help="the page, relative to --html")
    parser.add_argument("--anchor", default="the-tutorial-data", help="section to scroll to (its id)")
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "_build" / "screenshot.png")
    parser.add_argument("--size", default="1300,1600", help="window width,height in pixels")
    parser.add_argument("--chromium", help="the browser executable (default: found on PATH)")
    args = parser.parse_args(argv)
    binary = find_chromium(args.chromium)
    if binary is None:
        print("no Chromium found: apt-get install chromium (Debian), or pass --chromium PATH", file=sys.stderr)
        return 2
    page = (args.html / args.page).resolve()
    if not page.exists():
        print(f"{page}: not built (python scripts/build_book.py smoke)", file=sys.stderr)
        return 1
    url = page.as_uri()
    found = check_dom(rendered_dom(binary, url), page)
    print(f"{args.page}: {found['images']} figures, {found['players']} audio players")
    shot = screenshot(binary, page, args.out, args.anchor, args.size)
    print(f"screenshot: {shot}")
    failed = []
    if not found["images"] or not found["players"]:
        failed.append("the page shows no figure or no audio player")
    if found["missing_images"]:
        failed.append(f"figures not found: {found['missing_images']}")
    if found["players_without_audio"]:
        failed.append(f"{len(found['players_without_audio'])} players carry no audio")
    for line in failed:
        print("FAILED:", line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
