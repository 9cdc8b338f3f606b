"""Sphinx + myst-nb configuration of the daptools book (``make book``; sources staged by scripts/build_book.py).

The book is built offline: Sphinx's own theme (alabaster), no CDN, no download at build time.
"""
import os

# The one place the repository's public address is written. It is a PLACEHOLDER until the project is
# published: set it to the real repository, then run `python scripts/build_book.py sync` to rewrite the
# launch badges of README.md and the install cell of every notebook (tests/test_book.py checks they agree).
REPO_URL = "https://github.com/daptools/daptools"
BRANCH = "main"

project = "daptools: deep audio priors, explained and reproduced"
author = "the daptools authors"
extensions = ["myst_nb"]
html_theme = "alabaster"
html_title = "daptools"
html_theme_options = {"page_width": "1200px", "sidebar_width": "230px", "fixed_sidebar": True}
html_sidebars = {"**": ["globaltoc.html", "searchbox.html"]}
html_static_path = ["_static"]
html_css_files = ["book.css"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute", "notebooks/results", "notebooks/results/**"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # the notebooks number their sections by hand ("## 1. ...")
html_context = {"repo_url": REPO_URL}

# How the notebooks are executed. make book: "cache" (jupyter-cache: a notebook whose code is unchanged is
# not executed again; the cache lives beside the HTML). The smoke build of the tests passes "off" and hands
# in notebooks already executed with smoke=True.
nb_execution_mode = os.environ.get("DAPTOOLS_BOOK_EXECUTE", "cache")
nb_execution_cache_path = os.environ.get("DAPTOOLS_BOOK_CACHE", os.path.join(os.path.dirname(__file__), "_build", ".jupyter_cache"))
nb_execution_timeout = 1800             # a lab notebook runs about 5 minutes on a 2-core CPU
nb_execution_raise_on_error = True      # a notebook error fails the build (no allow_errors)
nb_execution_allow_errors = False
nb_execution_show_tb = True
# notebooks not to execute (shown without outputs), comma-separated globs: only to try the cached build on a
# cheap notebook, e.g. DAPTOOLS_BOOK_SKIP='notebooks/0[124-9]_*,notebooks/10_*' executes 03 alone
nb_execution_excludepatterns = [p for p in os.environ.get("DAPTOOLS_BOOK_SKIP", "").split(",") if p]
nb_merge_streams = True
nb_output_stderr = "remove"             # progress bars and kernel warnings are not content
nb_mime_priority_overrides = [("html", "text/html", 0)]
# no widget JavaScript from a CDN: the book is read offline and without a kernel, where the explorer of notebook 06
# cannot fit anything; its output shows as text
nb_ipywidgets_js = {}
