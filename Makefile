# Three commands do all set-up: `make demo` (offline, no keys), `make run Q="..."` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo run test lint format clean mutants

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/deepresearch demo $(if $(Q),"$(Q)")

run: $(STAMP)
	@test -n "$(Q)" || { echo 'usage: make run Q="your question"'; exit 2; }
	$(VENV)/bin/deepresearch ask "$(Q)"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest -q

# Mutation testing of the guard modules ([tool.mutmut] in pyproject.toml; docs/testing.md).
# A benchmark, not a gate: it is not part of `make test` or CI. Survivors: mutmut results.
mutants: $(STAMP)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 > mutants.log 2>&1 || { tail -20 mutants.log; exit 1; }
	$(VENV)/bin/python -m tests.benchmarks.mutants

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info
