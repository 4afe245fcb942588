# Interval developer commands. Every target creates (or reuses) the virtual
# environment in .venv first; torch is installed on its own, pinned, BEFORE the
# project so pip takes the CPU build instead of pulling several GB of CUDA.
#
#   make demo    build the synthetic demo patient and run the demo
#   make test    run the whole test suite (headless)
#   make lint    ruff
#   make bench   run the benchmark scripts in tests/benchmarks/

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.interval-installed
DEMO_OUT ?= build/demo
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x "$(BIN)/python" ]; then \
		$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Interval needs Python 3.11 or newer"' && \
		$(PYTHON) -m venv "$(VENV)"; \
	fi
	"$(BIN)/python" -m pip install "torch==$(TORCH_VERSION)"
	"$(BIN)/python" -m pip install -e ".[test]"
	@touch "$(STAMP)"

demo: install
	QT_QPA_PLATFORM=offscreen "$(BIN)/interval" demo --out "$(DEMO_OUT)"

# pytest exit code 5 means "no tests collected": that is a failure here.
test: install
	@QT_QPA_PLATFORM=offscreen "$(BIN)/python" -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS); \
	rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

lint: install
	"$(BIN)/ruff" check app tests $(wildcard plugins)

bench: install
	@shopt -s nullglob; scripts=(tests/benchmarks/bench_*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmark scripts in tests/benchmarks/"; exit 0; fi; \
	failed=(); for f in "$${scripts[@]}"; do echo "== $$f"; "$(BIN)/python" "$$f" || failed+=("$$f"); done; \
	if [ $${#failed[@]} -gt 0 ]; then echo "make bench: missed targets or failed: $${failed[*]}" >&2; exit 1; fi

clean:
	rm -rf build dist .pytest_cache .ruff_cache
