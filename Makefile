PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench bench-full clean browser hot

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The hot path's modules compiled by mypyc into build/hot (core/compiled.py); nothing to do when fresh.
hot: $(STAMP)
	$(BIN)/python tools/build_hot.py

run: $(STAMP)
	@$(BIN)/python tools/build_hot.py || echo "the hot path runs interpreted: its compiled build failed (above)"
	$(BIN)/copier run $(if $(CONFIG),--config $(CONFIG),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check core

typecheck: $(STAMP)
	$(BIN)/mypy core connectors ingest api copier logviewer tools

# The log viewer's browser tests drive Debian's Chromium (no browser download).
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium could not be installed: the browser tests will skip (and fail under CI)"

# The whole suite on the compiled hot path, then the hot path's own tests on its interpreted source.
test: lint typecheck browser hot
	COPIER_EXPECT_COMPILED=1 $(BIN)/python -m pytest
	COPIER_COMPILED=0 $(BIN)/python -m pytest tests/core tests/connectors tests/ingest tests/benchmarks

bench: hot
	$(BIN)/python -m pytest benchmarks --benchmark-only -p no:randomly -q -o python_files='bench_*.py' \
		--benchmark-json=benchmarks/results/micro.json
	$(BIN)/python -m benchmarks.e2e --quick
	$(BIN)/python -m benchmarks.webhook_latency --signals 1000
	$(BIN)/python -m benchmarks.cold_path

bench-full: hot
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.e2e --repeat 3 --peer

clean:
	rm -rf $(VENV) build *.egg-info
