# Entry points of the project. `make help` lists them.
SHELL := /bin/bash
PY    := .venv/bin/python
HOSTPY := .venv-host/bin/python
BOARD ?= zcu104
CHECKPOINT ?= model/checkpoints/default.pt

.PHONY: help setup test demo sim csim bitstream notebook train clean lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## create .venv (toolchain) and .venv-host (PYNQ-like host) from the pinned locks; idempotent
	@scripts/setup.sh

test: ## run the whole simulation-mode suite (toolchain env, then host env)
	$(PY) -m pytest tests --ignore=tests/host/board_image
	$(HOSTPY) -m pytest tests/host

demo: ## main job on the default design in simulation mode
	@scripts/not_yet.sh demo "the host package and the default trained design" 8

sim: ## cycle-approximate simulation of the default design (python sim/run.py)
	$(PY) sim/run.py --plot build/sim-plots --json build/sim.json

csim: ## build and run the C++ testbenches of the HLS engines
	$(PY) -m hls.testbench --sanitize

bitstream: ## flow + Vitis HLS + Vivado for BOARD (default zcu104) from CHECKPOINT
	@test -f $(CHECKPOINT) || { echo "make bitstream: no checkpoint $(CHECKPOINT); the trained default design has not landed (issue 4). Give one: make bitstream CHECKPOINT=path.pt" >&2; exit 2; }
	$(PY) -m flow bitstream --board $(BOARD) --checkpoint $(CHECKPOINT) --out build/default

notebook: ## execute the PYNQ inference notebook (simulation mode without a board)
	@scripts/not_yet.sh notebook "the inference notebook" 8

train: ## quantization-aware training of the default design
	@scripts/not_yet.sh train "the training CLI" 4

lock: ## re-resolve requirements/*.lock from requirements/resolve-*.txt (needs the registries)
	@scripts/lock.sh

clean: ## remove build outputs and caches (keeps the environments)
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -not -path './.venv*' -prune -exec rm -rf {} +
