# Two commands on a fresh machine with only Python:
#   make demo   build the embedded sample into ./stepinst and load it with `datasets`
#   make test   run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch must be installed before anything that depends on torch,
# otherwise pip resolves the newest CUDA build (several GB).
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?= -n 2

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
	$(BIN)/stepinst build --sample --out stepinst
	$(BIN)/python -c "from datasets import load_dataset; ds = load_dataset('stepinst', 'steps_ordered'); print(ds); row = ds['test'][0]; print(row['prompt'] + row['completion'])"
	$(BIN)/stepinst stats stepinst

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) stepinst *.egg-info
