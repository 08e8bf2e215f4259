# cnncourse: every target works from a fresh clone (it depends on the install stamp).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# GPU users override, e.g. make install TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pytest workers; notebook and autograde tests are the long ones
PYTEST_WORKERS ?= 2
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: install test bench lab clean release autograde demo sync

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned, then everything else constrained to that torch:
	# an unpinned torch would pull gigabytes of CUDA wheels.
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	echo "$(TORCH_SPEC)" > $(VENV)/torch-constraint.txt
	$(PY) -m pip install -q -c $(VENV)/torch-constraint.txt -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cnncourse)" > /dev/null
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=.

release: $(STAMP)
	$(PY) -m cnncourse.course release

autograde: $(STAMP)
	$(PY) -m cnncourse.course autograde

demo: $(STAMP)
	$(PY) -m cnncourse.course demo

# after editing a notebook or its text twin under src/: sync every pair (the newer file wins),
# normalize the notebooks (no outputs, stable cell ids), then regenerate the student release
sync: $(STAMP)
	$(PY) -m cnncourse.course sync
	$(PY) -m cnncourse.course release

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis autograded feedback gradebook.db grades.csv
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
