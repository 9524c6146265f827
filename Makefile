# gatecast: `make demo` runs the main job, `make test` runs the whole suite.
# Both create .venv if it is missing and install the package with the pinned CPU torch.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-kernels lint docs bench bench-peers clean install mutate

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The last line printed is the path of the demo's one-page report (open it in any browser).
demo: $(STAMP)
	@out=runs/demo-$$(date +%Y%m%d-%H%M%S) && $(VENV)/bin/gatecast demo --out $$out && \
		echo "$$PWD/$$out/report.html"

test: $(STAMP)
	$(PY) -m pytest -q

# The NumPy-engine, StreamSet and model tests again under older CPU kernels (OpenBLAS core type,
# NumPy SIMD, torch, numba): a test comparing two computation paths byte for byte fails here
# before it fails on a user's CPU (tests/other_kernels.py). CI runs it after `make test`.
test-kernels: $(STAMP)
	$(PY) tests/other_kernels.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

# The documentation site (mkdocs.yml) into site/, strict: a broken link, a page left out of the
# nav or an API docstring that does not render fails the build. CI runs it after `make test`
# (tests/test_docs.py runs every example on the pages).
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(PY) bench/train_speed.py

# gatecast against Darts, NeuralForecast and a bare torch loop (bench/peers.py; ~20 min, QUICK=1
# for ~5). The peers live in their own environment, .venv-bench, never in .venv.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): pyproject.toml constraints.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[bench]'
	touch $(BENCH_STAMP)

bench-peers: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BENCH_VENV)/bin/python bench/peers.py $(if $(QUICK),--quick)

# Mutation testing with mutmut ([tool.mutmut] in pyproject.toml): each small deliberate bug in
# the modules whose bugs would lie rather than crash (statistics, losses, walk-forward, splits,
# scalers, proxies, artifacts, stream state) must fail that module's tests (MUTATION_SCOPE in
# tests/conftest.py). Prints the score per module and every survivor; README "Test strength".
MUTATE_JOBS ?= 1
mutate: $(STAMP)
	rm -rf mutants
	# one OpenMP/MKL thread: mutmut forks a process per mutant, and a forked thread pool can hang
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS)
	$(PY) tests/mutation_report.py mutants

clean:
	rm -rf $(VENV) runs .pytest_cache mutants site
