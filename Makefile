# Two commands a new user needs: `make reproduce` (main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup reproduce digits test lint bench wheel-smoke clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so the package's `torch>=2.1` installs nothing more.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/coordconv reproduce --quick --out reports/quick

digits: $(STAMP)
	$(BIN)/coordconv digits --quick --jobs 2 --out reports/digits

test: $(STAMP)
	$(BIN)/python -m pytest tests src README.md

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

# Build the wheel, install it into a fresh venv with only torch, and smoke-test it there.
wheel-smoke: $(STAMP)
	rm -rf dist .venv-wheel
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	$(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/python -m pip install --quiet torch==2.13.0
	.venv-wheel/bin/python -m pip install --quiet dist/torch_coordconv-*.whl
	cd .ci && ../.venv-wheel/bin/python smoke_wheel.py

bench: $(STAMP)
	$(BIN)/python benchmarks/layer_overhead.py

clean:
	rm -rf $(VENV) .venv-wheel dist reports/quick
