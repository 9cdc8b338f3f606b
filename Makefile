# daptools: `make lab` sets everything up and opens the notebooks; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.daptools-installed

.PHONY: lab test test-fast test-bf16 setup clean-venv bench book book-smoke

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

test: $(STAMP)
	$(PY) -m pytest
	$(MAKE) test-bf16

# the cheap numeric tests once more with precision="auto" resolved to bf16, so that a change cannot break
# CPUs with native bf16 unseen on a CPU without it (there bf16 is emulated: slow, hence only these tests)
test-bf16: $(STAMP)
	DAPTOOLS_AUTO_PRECISION=bf16 $(PY) -m pytest -m numeric -q

test-fast: $(STAMP)
	$(PY) -m pytest -m "not notebook and not slow"

# the book: every notebook executed at its lab settings (cached by jupyter-cache: an unchanged notebook is not
# run again) with README and docs, as HTML in book/_build/html (the notebooks: 23 min on a 2-core Intel Xeon the first time)
book: $(STAMP)
	$(PY) scripts/build_book.py build

# the book from notebooks executed with smoke=True (minutes; what CI builds): book/_build/html-smoke
book-smoke: $(STAMP)
	$(PY) scripts/build_book.py smoke

bench: $(STAMP)
	$(PY) -m daptools.bench

clean-venv:
	rm -rf $(VENV)
