# genq: one command to run it, one to test it.
#
#   make run    set up .venv and run genq (web + worker + webhook sender + embedded Redis) at http://127.0.0.1:8000
#   make test   set up .venv with the dev extras (and Debian's chromium, redis-server) and run the whole suite
#   make lint   ruff (lint, import order, format check) and mypy, as configured in pyproject.toml
#   make bench-gpu-prepare   the wheels the GPU device machine lacks, in .whl/, for ops/bench/gpu_suite.sh
#   make clean  remove .venv and the install stamps (keeps var/, the local data)
#   make reset  remove var/ (the local database, objects, models, embedded Redis, secret key)
#
# Installs are skipped when nothing changed: each step leaves a stamp file in the
# venv; the project's stamps depend on pyproject.toml, torch's on its pinned version.
# Variables: VENV (default .venv), PYTHON (python3.11, else python3), TORCH_VERSION, TORCH_INDEX_URL,
# PYTEST_ARGS (e.g. make test PYTEST_ARGS='-k api -x').

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
endif
VENV ?= .venv
# Installed before the project so that the project's `torch>=...` range installs
# nothing more. On this kind of machine pip takes the CPU wheel from local disk
# (find-links); an unpinned torch would pull a CUDA build of several GB.
TORCH_VERSION ?= 2.13.0
# Elsewhere, pick a torch build explicitly, e.g. TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=
PIP_FLAGS ?= --progress-bar off
CHROMIUM ?= /usr/bin/chromium
REDIS_SERVER ?= /usr/bin/redis-server

VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip
STAMP_BASE := $(VENV)/.genq-torch-$(TORCH_VERSION).stamp
STAMP_RUN := $(VENV)/.genq-run.stamp
STAMP_DEV := $(VENV)/.genq-dev.stamp

.PHONY: help run test lint bench-gpu-prepare clean reset venv venv-dev chromium redis-server

help:
	@echo "make run    set up $(VENV) and run genq at http://127.0.0.1:8000"
	@echo "make test   set up $(VENV) (+ dev extras, chromium, redis-server) and run the test suite"
	@echo "make lint   ruff check, ruff format --check and mypy"
	@echo "make bench-gpu-prepare   wheels for the GPU benchmark suite's device (.whl/)"
	@echo "make clean  remove $(VENV) and install stamps (keeps var/)"
	@echo "make reset  remove var/ (local database, objects, models, secret key)"

run: $(STAMP_RUN)
	exec $(VENV)/bin/genq up

test: $(STAMP_DEV) chromium redis-server
	$(VENV_PYTHON) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The device machine of the GPU benchmarks (ops/bench/gpu_suite.sh) has torch but not
# the rest of genq's dependencies, and no network: they travel as wheels.
bench-gpu-prepare: $(STAMP_RUN)
	$(VENV_PYTHON) -m ops.bench.gpu_prepare

venv: $(STAMP_RUN)
venv-dev: $(STAMP_DEV)

$(VENV_PYTHON):
	@if [ -z "$(PYTHON)" ]; then echo "error: neither python3.11 nor python3 found; set PYTHON=/path/to/python3.11" >&2; exit 1; fi
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: genq needs Python >= 3.11, $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

# pip itself and torch, first and pinned.
$(STAMP_BASE): $(VENV_PYTHON)
	$(PIP) install $(PIP_FLAGS) --upgrade pip
	$(PIP) install $(PIP_FLAGS) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) "torch==$(TORCH_VERSION)"
	$(VENV_PYTHON) -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda or "none")'
	touch $@

$(STAMP_RUN): $(STAMP_BASE) pyproject.toml
	$(PIP) install $(PIP_FLAGS) -e .
	touch $@

# torch-fidelity is the reference genq's FID network is tested against
# (tests/worker/test_inception.py). It goes to a folder of its own, off sys.path, and
# without its dependencies: they include torchvision, whose wheels need a CUDA build
# of torch, and torchmetrics imports torch-fidelity (and so torchvision) when installed.
TORCH_FIDELITY_VERSION := 0.4.0
TORCH_FIDELITY_DIR := $(VENV)/reference/torch-fidelity
STAMP_TORCH_FIDELITY := $(VENV)/.genq-torch-fidelity-$(TORCH_FIDELITY_VERSION).stamp

$(STAMP_DEV): $(STAMP_BASE) $(STAMP_TORCH_FIDELITY) pyproject.toml
	$(PIP) install $(PIP_FLAGS) -e '.[dev]'
	touch $(STAMP_RUN) $@

$(STAMP_TORCH_FIDELITY): $(STAMP_BASE)
	$(PIP) install $(PIP_FLAGS) --no-deps --upgrade --target $(TORCH_FIDELITY_DIR) "torch-fidelity==$(TORCH_FIDELITY_VERSION)"
	touch $@

# Debian packages the tests run: the browser tests drive Debian's chromium through
# playwright (never a downloaded browser build); the fault tests start and kill
# redis-servers of their own. Outside CI a missing one is only a warning: the tests
# that need it will then fail, the rest still runs.
# $(call debian_package,FILE IT PROVIDES,PACKAGE,TESTS THAT NEED IT)
define debian_package
	@if [ -x $(1) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's $(2) for $(3)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); \
	elif [ -n "$${CI:-}" ]; then \
		echo "error: $(1) is missing and cannot be installed here (needs root and apt-get): apt-get install $(2)" >&2; \
		exit 1; \
	else \
		echo "warning: $(1) is missing (needs root and apt-get to install: apt-get install $(2)); $(3) will fail" >&2; \
	fi
endef

chromium:
	$(call debian_package,$(CHROMIUM),chromium,the browser tests)

redis-server:
	$(call debian_package,$(REDIS_SERVER),redis-server,the fault tests)

clean:
	rm -rf $(VENV) build genq.egg-info

reset:
	rm -rf var
