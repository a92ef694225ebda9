# httpboot-harness: `make test` and `make demo` each work on a fresh Debian 12 machine (as root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
TEST_JOBS ?= 2
BENCH_RUNS ?= 3
BENCH_ARGS ?=
MUTATE_JOBS ?= $(shell nproc)
ROOTLESS_USER ?= httpboot-ci
ROOTLESS_ARGS ?= tests/e2e/test_boot_matrix.py -m core -n 2

.PHONY: setup system-packages test unit e2e demo bench bench-load lint mutate clean rootless-setup test-rootless

setup: system-packages $(STAMP)
	@$(BIN)/python -m httpboot_harness.arch

system-packages:
	@tools/install-system-packages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -c 'import httpboot_harness, pyte, pyroute2, qemu.qmp, virt.firmware, dpkt'
	@touch $@

# The suite two tests at a time (each boot is mostly one busy core under TCG), then the tests
# that need the machine's harness runs to themselves, then (as root) the default matrix as an
# unprivileged user; a user who is not root ran everything rootless already. Exit 5
# (this selection holds no test of that part) is not a failure.
test: setup rootless-setup
	$(BIN)/pytest -n $(TEST_JOBS) -m "not exclusive" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/pytest -p no:xdist -m exclusive $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@if [ "$$(id -u)" -eq 0 ]; then ROOTLESS_USER=$(ROOTLESS_USER) tools/rootless-test $(ROOTLESS_ARGS); fi

# Rootless labs (as root): an unprivileged user, /dev/net/tun at Debian's 0666, a Python it can
# run; then the default matrix as that user, each lab in a user namespace it owns. A user who is
# not root is the unprivileged user already: rootless-setup leaves the machine alone then.
rootless-setup: setup
	@if [ "$$(id -u)" -eq 0 ]; then tools/rootless-setup $(ROOTLESS_USER) >/dev/null; fi

test-rootless: setup
	ROOTLESS_USER=$(ROOTLESS_USER) tools/rootless-test $(ROOTLESS_ARGS) $(PYTEST_ARGS)

unit: setup
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

e2e: setup
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

demo: setup
	$(BIN)/httpboot-harness matrix --artifacts httpboot-artifacts --json httpboot-artifacts/report.json

bench: setup
	$(BIN)/python benchmarks/bench_matrix.py --runs $(BENCH_RUNS) --output bench-results/bench.json $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_parallel.py --runs $(BENCH_RUNS) --output bench-results/parallel.json

# Misjudged cases under two busy loops, on each firmware build Debian ships (a figure, not a test).
bench-load: setup
	benchmarks/misjudged_under_load.sh $(BENCH_RUNS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Mutation testing of the judge: mutmut mutates httpboot_harness/phases.py and evidence.py (see
# [tool.mutmut] in pyproject.toml) in a copy under mutants/ and runs tests/unit against each
# mutant; the survivors are listed at the end (`.venv/bin/mutmut show NAME` shows one).
mutate: setup
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTATE_JOBS)
	$(BIN)/mutmut results

clean:
	rm -rf httpboot-artifacts bench-results mutants .pytest_cache .mypy_cache .ruff_cache

# Soak (issue 12): the default matrix SOAK_RUNS times with --jobs 2; misjudged, error and
# leftover counts per run and in total, written to soak-results/soak.json (0 of each is the goal).
SOAK_RUNS ?= 30
.PHONY: soak
soak: setup
	$(BIN)/python benchmarks/soak.py --runs $(SOAK_RUNS) --output soak-results/soak.json
