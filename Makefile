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

.PHONY: train test bench bench-scaling venv clean reproduce best best-committee

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# The chapter's regularised network with the book's hyper-parameters, seeded,
# keeping the epoch with the best validation accuracy (the chapter's hold-out
# early stopping); the model and its metrics go to out/.
train: $(STAMP)
	mkdir -p out
	$(VENV)/bin/nndl train --seed 0 --early-stopping 10 \
		--save out/model.json --metrics-out out/metrics.json

# The best fully-connected network nndl knows how to train on a 2-core CPU in
# under 30 minutes (docs/results/best.md); its metrics and plot go to out/.
best: $(STAMP)
	mkdir -p out
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(VENV)/bin/nndl train \
		--preset best --save out/best-model.json --metrics-out out/best.json
	$(VENV)/bin/nndl plot out/best.json --out out/best.png
	$(PY) scripts/run_summary.py out/best.json

# A committee of five such networks (nndl.committee), averaging their output
# probabilities: each member's model and metrics in out/best-committee/member-K/,
# the committee's metrics in out/best-committee/committee.json.  Run again after
# an interruption, it trains only the members not yet finished.
best-committee: $(STAMP)
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(VENV)/bin/nndl train \
		--preset best-committee --out out/best-committee

test: $(STAMP)
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(PY) -m pytest -q

reproduce: $(STAMP)
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(VENV)/bin/nndl reproduce all --out docs/reproduction
	$(VENV)/bin/nndl report --out docs/reproduction

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

# Benchmarks (needs the 'bench' extra: scikit-learn, PyTorch CPU, threadpoolctl).
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q torch==2.13.0   # the CPU build this machine image provides
	$(PY) -m pip install -q -e '.[bench,plots]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(PY) -u benchmarks/bench.py
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(PY) -u benchmarks/time_to_98.py

bench-scaling: $(BENCH_STAMP)
	$(if $(SHARED_MNIST),NNDL_DATA=$(abspath $(SHARED_MNIST))) $(PY) benchmarks/scaling.py --plot docs/scaling.png
