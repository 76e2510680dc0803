# Entry points of the project. `make help` lists them.
SHELL := /bin/bash
PY    := .venv/bin/python
HOSTPY := .venv-host/bin/python
BOARD ?= zcu104
CHECKPOINT ?= model/checkpoints/default.pt

.PHONY: help setup test demo sim csim hls-check schedule bitstream notebook train train-full clean lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## create .venv (toolchain) and .venv-host (PYNQ-like host) from the pinned locks; idempotent
	@scripts/setup.sh

test: ## run the whole simulation-mode suite (toolchain env, the demo's build, host env + notebook)
	$(PY) -m pytest tests -n auto --dist worksteal --ignore=tests/host/board_image --ignore=tests/host/test_simulated_board.py --durations=20
	$(PY) -m host.demo
	$(HOSTPY) -m pytest tests/host --nbmake host/notebooks

demo: ## main job: build the default design, run held-out faces through the C-sim host, report
	$(PY) -m host.demo

sim: ## cycle-approximate simulation of the default design (python sim/run.py)
	$(PY) sim/run.py --plot build/sim-plots --json build/sim.json

csim: ## build and run the C++ testbenches of the HLS engines
	$(PY) -m hls.testbench --sanitize

hls-check: ## Vitis HLS csynth + cosim of one small instance per engine vs the cycle formulas (needs vitis_hls)
	$(PY) -m hls.vendor_check --out build/hls-check

schedule: ## count every node's loop iterations in the default build's C-sim and compare with the formulas
	$(PY) -m hls.lint
	$(PY) -m hls.schedule --design build/default --json build/default/reports/schedule.json

bitstream: ## flow + Vitis HLS + Vivado for BOARD (default zcu104) from CHECKPOINT
	@test -f $(CHECKPOINT) || { echo "make bitstream: no checkpoint $(CHECKPOINT); the trained default design has not landed (issue 4). Give one: make bitstream CHECKPOINT=path.pt" >&2; exit 2; }
	$(PY) -m flow bitstream --board $(BOARD) --checkpoint $(CHECKPOINT) --out build/bitstream-$(BOARD)

notebook: ## execute the PYNQ inference notebook in the host environment (simulation mode here)
	$(PY) -m host.demo > /dev/null
	$(HOSTPY) -m pytest --nbmake host/notebooks -q

train: ## reproduce the default design: float distillation from SFace on ORL s1-s30 (embedding, feature maps, relational 10), then 4-bit QAT distilled from that float parent, then its WCCN scoring backend (23-32 min measured on 2 cores)
	PY=$(PY) scripts/train_recipe.sh 0.25 runs/default 2
	mkdir -p model/checkpoints
	cp runs/default/final.pt model/checkpoints/.default.pt.tmp && mv model/checkpoints/.default.pt.tmp model/checkpoints/default.pt
	cp runs/default/metrics.jsonl model/checkpoints/default.metrics.jsonl

train-full: ## the same recipe at the seeds' width 1.25 into runs/full-float and runs/full (not installed as the default; a GPU is used when torch sees one; THREADS=N CPU threads)
	PY=$(PY) scripts/train_recipe.sh 1.25 runs/full $(or $(THREADS),2)

lock: ## re-resolve requirements/*.lock from requirements/resolve-*.txt (needs the registries)
	@scripts/lock.sh

clean: ## remove build outputs and caches (keeps the environments)
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -not -path './.venv*' -prune -exec rm -rf {} +
