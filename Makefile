# Developer entry points. Every target sets up what it needs: on a fresh machine `make test` is enough.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# LiteLLM must not reach for a remote cost map at start-up (the network is closed here).
export LITELLM_LOCAL_MODEL_COST_MAP := True

# Molecule scenarios make test runs, MOLECULE_JOBS at a time, longest first so that the two lanes end together.
MOLECULE_SCENARIOS ?= operations fleet workstation default gpu docker bed
MOLECULE_JOBS ?= 2
export MOLECULE_JOBS

.PHONY: help setup bed lint sanity unit integration molecule test bench demo demo-destroy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## Create .venv with the pinned tools (fast when already done)

$(VENV)/.installed: requirements-dev.txt constraints-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	touch $@

bed: setup ## Docker engine, base image and stand-in images for the tests (reused when present)
	tests/bed/ensure-docker.sh
	tests/bed/build-base-image.sh
	LLMSTACK_BASE_IMAGE=local/debian-bookworm:base LLMSTACK_BASE_SUITE=bookworm tests/bed/build-base-image.sh
	tests/bed/ensure-compose.sh
	tests/bed/build-service-images.sh

lint: setup ## ansible-lint (production profile), ruff, yamllint, changelog fragments
	ansible-lint
	ruff check .
	ruff format --check .
	yamllint --strict .
	antsibull-changelog lint

sanity: setup ## ansible-test sanity for the collection's plugins (Python 3.11)
	tests/bed/sanity.sh

unit: setup ## pytest unit tests
	pytest -n 2 --dist loadfile tests/unit

integration: bed ## pytest integration tests (real LiteLLM proxy, Ollama double)
	pytest -n 2 --dist loadfile tests/integration

molecule: bed ## molecule scenarios: $(MOLECULE_SCENARIOS), $(MOLECULE_JOBS) at a time
	tests/bed/molecule-scenarios.sh $(MOLECULE_SCENARIOS)

test: ## Everything, in order, stopping at the first failure
	$(MAKE) lint
	$(MAKE) sanity
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) molecule

bench: bed ## Benchmarks (measurements, not tests): issue 12's goals beside their figures (re-run vs fresh, tasks, pulls; fleet re-run 3 hosts vs 1); issue 15's gateway vs Ollama directly
	python tests/bench/stack_bench.py
	python tests/bench/fleet_bench.py
	python tests/bench/gateway_bench.py

demo: bed ## Converge a throwaway workstation container with site.yml here, and leave it running
	molecule create -s default
	molecule prepare -s default
	molecule converge -s default
	@address=$$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' llmstack-default); \
	echo; echo "Gateway: https://$$address:4444 (OpenAI-compatible)"; \
	docker exec llmstack-default cat /opt/litellm-stack/tls/ca.crt > demo-ca.crt; \
	echo "Its lab CA: demo-ca.crt (curl --cacert demo-ca.crt https://$$address:4444/health/liveliness)"; \
	echo "Master key: docker exec llmstack-default grep LITELLM_MASTER_KEY /opt/litellm-stack/.env"; \
	echo "Remove it: make demo-destroy"

demo-destroy: setup ## Remove the demo workstation
	molecule destroy -s default

clean: ## Remove caches and build output (keeps .venv and images)
	rm -rf .pytest_cache .ruff_cache build *.tar.gz
