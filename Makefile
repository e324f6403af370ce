# Two commands on a fresh machine with only Python:
#   make demo   build the embedded sample into ./stepinst, load it with `datasets`, print how to load it
#   make test   run the whole test suite
# Both accept VENV=path (the virtual environment to create and use); CI runs the demo in a fresh one.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch must be installed before anything that depends on torch,
# otherwise pip resolves the newest CUDA build (several GB).
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?= -n 2
# The demo's build, and the absolute path users load it by: a bare "stepinst" only resolves to this
# folder from the clone's root; anywhere else `load_dataset` asks the Hub, then falls back to its cache.
DEMO_OUT ?= stepinst
DEMO_PATH := $(if $(filter /%,$(DEMO_OUT)),$(DEMO_OUT),$(CURDIR)/$(DEMO_OUT))

.PHONY: demo test install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(BIN)/stepinst build --sample --out "$(DEMO_PATH)"
	$(BIN)/python -c "import sys; from datasets import load_dataset; ds = load_dataset(sys.argv[1], 'steps_ordered'); print(ds); row = ds['test'][0]; print(row['prompt'] + row['completion'])" "$(DEMO_PATH)"
	$(BIN)/stepinst stats "$(DEMO_PATH)"
	@printf '\nLoad this build from any directory by its path:\n    from datasets import load_dataset\n    ds = load_dataset("%s", "steps_ordered")\n' "$(DEMO_PATH)"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) stepinst build *.egg-info
