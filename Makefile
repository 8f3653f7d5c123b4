# Entry points of every workflow. A newcomer needs two: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run observe test test-unit chaos lint typecheck bench bench-load k8s-render venv clean images
.PHONY: deploy-local undeploy-local test-deploy

venv: $(VENV)/.synced

.tools/bin/uv:
	$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv

$(VENV)/.synced: | $(UV)
$(VENV)/.synced: pyproject.toml uv.lock shared/pyproject.toml services/*/pyproject.toml
	$(UV) sync --all-packages --frozen
	touch $@

run: venv
	$(PY) scripts/run.py

# make run plus Prometheus (:9090) and Alertmanager (:9093) watching it (docs/monitoring.md)
observe: venv
	$(PY) scripts/bootstrap.py
	$(PY) scripts/observe.py

test: venv
	$(PY) scripts/bootstrap.py
	$(PY) -m pytest --ignore=tests/chaos --ignore=tests/deploy $(PYTEST_ARGS)

# faults injected into a running system (docs/resilience.md); needs root for its tmpfs
chaos: venv
	$(PY) scripts/bootstrap.py
	$(PY) -m pytest tests/chaos $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy shared/src services/*/src

bench: venv
	$(PY) scripts/bootstrap.py
	$(PY) bench/conversion.py
	$(PY) bench/boleto.py
	$(PY) bench/notifier.py
	$(PY) bench/telemetry.py
	$(PY) bench/ratelimit.py
	$(PY) bench/history.py
	$(PY) bench/retryable_writes.py

bench-load: venv
	$(PY) scripts/bootstrap.py
	$(PY) bench/load.py

k8s-render:
	kubectl kustomize k8s/overlays/dev > /dev/null
	kubectl kustomize k8s/overlays/production

# every service's container image and the dev overlay's backing services, built with podman
# on this machine (root; local base images, no registry): scripts/images.py
images:
	$(PYTHON) scripts/images.py

# the local overlay (dev plus podman's addresses) run with `podman kube play` on this machine,
# backing services included, until every pod is ready; APIs on host ports 18000-18002
# (scripts/deploy_local.py). Needs `make images`.
deploy-local: venv
	$(PY) scripts/deploy_local.py deploy

# every pod, volume, secret and the network deploy-local created, and nothing else
undeploy-local: venv
	$(PY) scripts/deploy_local.py undeploy

# black-box checks of the deployment deploy-local left running (tests/deploy)
test-deploy: venv
	$(PY) -m pytest tests/deploy $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .tools .data .pytest_cache
