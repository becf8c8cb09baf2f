# medthreat developer entry points. Everything runs from the project virtualenv in .venv,
# which this Makefile creates; the only outside requirements are python3 (>= 3.11) and,
# for rendered diagrams, Graphviz (`make demo` installs it where it can).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,notebook

DEMO_MODEL ?= notebooks/models/ai_patient_monitoring.yaml
DEMO_OUT   ?= reports/demo

# Lint only the folders that exist yet, so a fresh checkout without benchmarks/ still lints.
LINT_PATHS := $(wildcard medthreat tests benchmarks)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help venv demo test lint bench bench-export bench-fuzz sbom clean

help:
	@echo "make demo   install into .venv, then validate and analyze the reference model into $(DEMO_OUT)/"
	@echo "make test   install into .venv, then ruff and the whole pytest suite"
	@echo "make lint   ruff check"
	@echo "make bench  engine scaling benchmark (against pytm)"
	@echo "make bench-export  full export (register, report, JSON, diagrams) at 1,000 and 3,000 components"
	@echo "make bench-fuzz  10,000 generated hostile inputs for every reader of user files"
	@echo "make sbom   the project's own CycloneDX SBOM in reports/sbom/, checked by medthreat"
	@echo "make clean  remove .venv, build artifacts and generated reports"

venv: $(VENV)/.installed

# The stamp is written only after a successful install, so a failed install is retried, and
# any change to pyproject.toml (dependencies, extras, entry points) reinstalls.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[$(EXTRAS)]'
	@touch $@

demo: venv
	@bash scripts/ensure_graphviz.sh
	$(BIN)/medthreat validate $(DEMO_MODEL)
	$(BIN)/medthreat analyze $(DEMO_MODEL) --out $(DEMO_OUT)
	@echo
	@echo "Demo outputs in $(DEMO_OUT)/:"
	@ls -1 $(DEMO_OUT) | sed 's/^/  /'

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)

# pytest runs even when ruff complains, so one run reports both; either failing fails the target.
# Then the notebooks: nbval re-executes each one in the venv's kernel and compares every output
# with the one stored in the notebook.
NBVAL := $(BIN)/python -m pytest -q --nbval --nbval-current-env -p no:cacheprovider notebooks/

test: venv
	@lint=0; tests=0; nb=0; \
	echo "$(BIN)/ruff check $(LINT_PATHS)"; \
	$(BIN)/ruff check $(LINT_PATHS) || lint=$$?; \
	echo "$(BIN)/python -m pytest -q"; \
	$(BIN)/python -m pytest -q || tests=$$?; \
	echo "$(NBVAL)"; \
	$(NBVAL) || nb=$$?; \
	if [ $$lint -ne 0 ]; then echo "make test: ruff check failed (exit $$lint)" >&2; fi; \
	if [ $$tests -ne 0 ]; then echo "make test: pytest failed (exit $$tests)" >&2; fi; \
	if [ $$nb -ne 0 ]; then echo "make test: notebooks (nbval) failed (exit $$nb)" >&2; fi; \
	if [ $$tests -ne 0 ]; then exit $$tests; fi; \
	if [ $$nb -ne 0 ]; then exit $$nb; fi; \
	exit $$lint

# pytm (in the dev extra) is the baseline both benchmarks compare against.
bench: venv
	$(BIN)/python benchmarks/engine_scale.py $(BENCH_ARGS)

bench-export: venv
	$(BIN)/python benchmarks/export_scale.py $(BENCH_ARGS)

sbom: venv
	bash scripts/sbom.sh

bench-fuzz: venv
	$(BIN)/python benchmarks/fuzz_readers.py --json reports/bench/fuzz.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	if [ -d reports ]; then find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +; fi
