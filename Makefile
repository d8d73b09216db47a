# The two commands of the README:
#   make book   builds the HTML book into _build/html, executing every chapter
#               (or taking it from the execution cache that make test filled)
#   make test   runs the unit tests and executes every chapter (tests/test_chapters.py)
# Both create (once) and reuse the virtual environment in .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# the ipywidgets embedding scripts, fetched once with npm (see _ext/local_widgets.py)
WIDGETS = $(VENV)/share/anotutor/widgets/embed-amd.js

.PHONY: book test browser venv bench clean sync weights nbval lint

venv: $(STAMP)

# uv resolves the torch/torchvision pair from PyPI (it reads no local wheel
# folders), which imports together on a CPU-only machine. --compile-bytecode
# writes the .pyc files at install time: where PYTHONDONTWRITEBYTECODE is set
# (as on the build machine) every process would otherwise compile torch's
# sources again on import (14 s against 7 s to import the chapters' packages;
# chapter 4 ran in 137 s without, 97 s with).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e ".[book,test]"
	touch $(STAMP)

# without npm this only prints a note: widget pages then load their scripts from a CDN
$(WIDGETS): $(STAMP) _ext/local_widgets.py
	-$(BIN)/python _ext/local_widgets.py fetch

# _ext/exec_cache.py: a chapter executed by make test (same code, same package state) is not run again
book: $(STAMP) $(WIDGETS)
	$(BIN)/python _ext/exec_cache.py guard
	$(BIN)/jupyter-book build . -W -n --keep-going

test: $(STAMP)
	$(BIN)/python -m pytest -q tests -p no:cacheprovider

# the package's lint, format check and type check (ruff and mypy; their settings in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check anotutor
	$(BIN)/ruff format --check anotutor
	$(BIN)/mypy

# the chapters cell by cell with nbval (a report per cell; executes them again, outside the cache)
nbval: $(STAMP)
	$(BIN)/python -m pytest -q book --nbval-lax --nbval-current-env -p no:cacheprovider

# after `make book`: every page of _build/html in headless Chromium, screenshots to screenshots/
browser: $(STAMP)
	$(BIN)/python -m pytest -q -m browser tests/test_browser.py -p no:cacheprovider

# run alone (nothing else on the machine): every chapter's time and memory, every method on
# three textures x three seeds (about 70 min), PatchCore/PaDiM variants and speed (about 10 min),
# every method on the ELPV solar cells (mono and poly in two one-thread processes, about an hour),
# anotutor compare on a 480-image folder, the MNIST
# contamination check from the shipped checkpoints (about 1 min), the built
# pages' sizes (benchmarks/pages.py, after make book)
bench: $(STAMP)
	$(BIN)/python benchmarks/methods.py
	$(BIN)/python benchmarks/feature_memory.py
	$(BIN)/python benchmarks/patchcore_ablation.py patchcore_ablation
	$(BIN)/python benchmarks/patchcore_ablation.py patchcore_backbones
	$(BIN)/python benchmarks/patchcore_speed.py
	$(BIN)/python benchmarks/elpv.py --kinds mono --threads 1 --part .elpv-mono.json & \
	$(BIN)/python benchmarks/elpv.py --kinds poly --threads 1 --part .elpv-poly.json; wait
	$(BIN)/python benchmarks/elpv.py --join .elpv-mono.json .elpv-poly.json && rm .elpv-mono.json .elpv-poly.json
	$(BIN)/python benchmarks/compare_folder.py
	$(BIN)/python benchmarks/contamination.py
	$(BIN)/python benchmarks/equal_time.py
	$(BIN)/python benchmarks/tau_rules.py
	$(BIN)/python benchmarks/chapters.py
	@if [ -d _build/html ]; then $(BIN)/python benchmarks/pages.py; \
	else echo "page sizes: build the book first (make book), then python benchmarks/pages.py"; fi

# retrain the checkpoints that ship with the book (anotutor/pretrained.py; about 20 min on 2 cores)
weights: $(STAMP)
	$(BIN)/python -m anotutor.pretrained

# after editing a chapter's .md: refresh its paired .ipynb (kept without outputs)
sync: $(STAMP)
	$(BIN)/jupytext --sync book/*.md

clean:
	rm -rf _build
