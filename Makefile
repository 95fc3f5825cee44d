# nndl: two commands from a fresh clone.
#   make train   set up .venv and train the chapter's regularised network on MNIST
#   make test    set up .venv and run the test suite
#   make reproduce  rerun every experiment of the chapter at full scale and write the report
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Development and CI use a local verified copy of the data when one sits beside
# the checkout; the product itself fetches and verifies MNIST on its own.
SHARED_MNIST := $(wildcard ../shared/data/mnist.pkl.gz)

.PHONY: train test bench venv clean reproduce

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

train: $(STAMP)
	$(VENV)/bin/nndl train

test: $(STAMP)
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(PY) -m pytest -q

reproduce: $(STAMP)
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(VENV)/bin/nndl reproduce all --out docs/reproduction
	$(VENV)/bin/nndl report --out docs/reproduction

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
