# visionzoo developer commands. `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Tests run one pytest-xdist worker per core, each with a single torch thread.
WORKERS ?= 2

.PHONY: install test demo demo-cls bench wheel-check clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n $(WORKERS) --dist loadgroup -q tests

demo: install
	$(PY) tools/demo.py brats

demo-cls: install
	$(PY) tools/demo.py digits

bench: install
	$(PY) tools/benchmark.py vit_small_patch16_224 --compare timm --batch-size 8
	$(PY) tools/benchmark.py swin_tiny_patch4_window7_224 --compare timm --batch-size 8

# the wheel in a fresh venv outside the repository: visionzoo list, info and a one-epoch train (~3 min)
wheel-check: install
	.ci/wheel_check.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
