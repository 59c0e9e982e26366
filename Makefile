# Two entry points for people: `make run` and `make test`. Both create .venv and install on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench lint install default-model eval-default package

run: $(STAMP)
	$(BIN)/ffd-desktop

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# Rebuild resources/models/default from ../shared/data (resumable stages; times per stage in its MODEL_CARD.md).
default-model: $(STAMP)
	$(BIN)/python -m core.training.default_model --work build/default-model --out resources/models/default

# Re-measure the shipped default model on the held-out test faces and rewrite its model card.
eval-default: $(STAMP)
	$(BIN)/python -m core.training.default_model --eval-only --work build/default-model --out resources/models/default

# The one-folder desktop bundle (dist/ffd-desktop: ffd-desktop and ffd) and its smoke check; see packaging/README.md.
package: $(STAMP)
	$(BIN)/python -c "import PyInstaller" 2>/dev/null || $(BIN)/python -m pip install --quiet "pyinstaller>=6.10,<7"
	$(BIN)/python packaging/build.py

lint: $(STAMP)
	$(BIN)/ruff check .

install: $(STAMP)

$(STAMP): pyproject.toml setup.py core/__init__.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)
