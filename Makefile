# The single task runner. Every target installs what it needs, idempotently.
#   make run    serve the app on 0.0.0.0:5000 through gunicorn
#   make test   install tools, then run every check (lint, validate, checkov, pytest, e2e)
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

include tools/versions.mk
export KUSTOMIZE_VERSION KUBECONFORM_VERSION ACTIONLINT_VERSION ARGOCD_VERSION ARGOCD_GOTOOLCHAIN \
       PNPM_VERSION KUBERNETES_VERSION APT_PACKAGES_NODE KUBE_ROUTER_VERSION KUBERNETES_OLDEST_VERSION KUBERNETES_E2E_VERSION ETCD_VERSION KWOK_VERSION \
       METRICS_SERVER_VERSION

PYTHON ?= python3
VENV := .venv
TOOLS_DIR ?= $(CURDIR)/.tools
# The long builds (Kubernetes, Argo CD and its web UI) are kept per user, by version,
# so that every clone on this machine shares them.
BUILD_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/flask-gitops
# argo-ui (Argo CD's UI library) is a git tarball upstream; an offline copy is used
# when the project's shared vendor folder holds one (see tools/build-argocd-ui.sh).
ARGO_UI_TARBALL ?= $(firstword $(wildcard $(CURDIR)/../shared/vendor/argo-ui-*.tgz))
export BUILD_CACHE ARGO_UI_TARBALL
BIN := $(VENV)/bin
export PATH := $(TOOLS_DIR)/bin:$(CURDIR)/$(BIN):$(PATH)
export TOOLS_DIR
export PIP_DISABLE_PIP_VERSION_CHECK := 1

RUNTIME_STAMP := $(VENV)/.stamp-runtime
DEV_STAMP := $(VENV)/.stamp-dev
CHECKOV_STAMP := $(TOOLS_DIR)/checkov/.stamp
SCHEMAS_STAMP := $(TOOLS_DIR)/schemas/.stamp-$(KUBERNETES_VERSION)-$(KUBERNETES_OLDEST_VERSION)-$(ARGOCD_VERSION)

TARGETS := help run test lint validate render bench tools clean e2e e2e-tools node-tools up down
.PHONY: $(TARGETS) pytest checkov schemas venv

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

# --- installs ---------------------------------------------------------------
$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)

# The service's closure plus what the `gitops` entry point imports (installed with the project).
$(RUNTIME_STAMP): requirements/runtime.txt requirements/tooling.txt pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet setuptools==84.2.1 -r requirements/tooling.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(DEV_STAMP): requirements/dev.txt $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -r requirements/dev.txt
	@touch $@

$(CHECKOV_STAMP): requirements/checkov.txt
	$(PYTHON) -m venv $(TOOLS_DIR)/checkov
	$(TOOLS_DIR)/checkov/bin/pip install --quiet -r requirements/checkov.txt
	@touch $@

tools: ## install the pinned Go-built tools, the Argo CD CRDs and the ApplicationSet renderer into .tools/
	@tools/install.sh $(TOOLS_DIR)
	@tools/build-appset-render.sh $(TOOLS_DIR) $(BUILD_CACHE)

$(SCHEMAS_STAMP): $(DEV_STAMP) src/gitops/kube_schemas.py tools/versions.mk | tools
	$(BIN)/python -m gitops.kube_schemas --out $(TOOLS_DIR)/schemas \
	  --kubernetes $(KUBERNETES_VERSION) --kubernetes $(KUBERNETES_OLDEST_VERSION) \
	  --crds $(TOOLS_DIR)/argocd-crds
	@touch $@

schemas: tools $(SCHEMAS_STAMP)

venv: $(DEV_STAMP)

# --- the two commands ---------------------------------------------------------
run: $(RUNTIME_STAMP) ## serve the app on 0.0.0.0:5000 (gunicorn, the same command as the image)
	exec $(BIN)/gunicorn --config gunicorn.conf.py flask_app.wsgi:app

test: lint validate checkov pytest e2e ## install everything, then run every check (the e2e last)

# --- checks -------------------------------------------------------------------
lint: $(DEV_STAMP) tools ## yamllint, ruff, the import contract, hadolint, shellcheck, actionlint, zizmor, check-jsonschema
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -p no:cacheprovider tests/test_imports.py  # the import contract: commands are leaves, no harness in the product
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck .ci/run tools/*.sh .github/scripts/*.sh
	$(TOOLS_DIR)/bin/actionlint -no-color
	$(BIN)/zizmor --offline --persona=pedantic --no-progress .github
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions .github/actions/*/action.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

validate: schemas ## yamllint + kustomize build + kubeconform (offline, strict) + policy
	$(BIN)/gitops validate

render: tools $(DEV_STAMP) ## write every cluster's and overlay's rendered manifests to build/rendered/
	$(BIN)/gitops render --out build/rendered

pytest: schemas
	$(BIN)/pytest --ignore=tests/e2e

e2e-tools: tools ## build the pinned control plane, Argo CD (+ web UI) and Metrics Server once, cached by version
	@tools/apt-install.sh $(APT_PACKAGES_E2E)
	@tools/build-k8s.sh $(BUILD_CACHE)
	@tools/build-argocd.sh $(BUILD_CACHE)
	@tools/build-metrics-server.sh $(BUILD_CACHE)

node-tools: ## the real node: containerd, runc, CNI, buildah, ipset (Debian packages) and kubelet, kube-proxy, kube-router (built, cached)
	@tools/apt-install.sh $(APT_PACKAGES_NODE)
	@tools/build-node.sh $(BUILD_CACHE)

e2e: e2e-tools node-tools schemas ## a real control plane on 127.0.0.1 (no Docker): apply, roll out, admission
	$(BIN)/pytest tests/e2e

# NODE=real: dev's pods run on a real node (kubelet, containerd, runc; as root). See the README.
NODE ?= kwok
up: e2e-tools $(if $(filter real,$(NODE)),node-tools) $(DEV_STAMP) ## the whole loop on this machine: clusters, Argo CD + UI, a git remote 'local' (NODE=real: a real node for dev)
	$(BIN)/python -m harness.stack up $(if $(filter real,$(NODE)),--real-node)

down: $(DEV_STAMP) ## stop what 'make up' started and remove its state and the 'local' remote
	$(BIN)/python -m harness.stack down

# checkov reads the rendered manifests (what Argo CD applies); skips are annotated in place.
CHECKOV := $(TOOLS_DIR)/checkov/bin/checkov --quiet --compact --skip-download
checkov: $(CHECKOV_STAMP) tools $(DEV_STAMP) ## second opinion: checkov over manifests, Dockerfile and workflows
	rm -rf build/checkov
	$(BIN)/gitops render --out build/checkov >/dev/null
	$(CHECKOV) --framework kubernetes -d build/checkov
	$(CHECKOV) --framework dockerfile -f Dockerfile
	$(CHECKOV) --framework github_actions -d .github

bench: schemas e2e-tools node-tools ## benchmarks: service, shutdown, repository operations (prints a table)
	@command -v wrk >/dev/null || { echo "bench: installing wrk (Debian package)"; \
	  apt-get install -y -qq $(APT_PACKAGES_BENCH) >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq $(APT_PACKAGES_BENCH) >/dev/null; }; }
	$(BIN)/python -m bench

clean: ## remove generated output, caches, the virtualenv and the tools
	rm -rf $(VENV) $(TOOLS_DIR) build bench/results .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Anything else: a one-line error listing the real targets.
%:
	@$(error unknown target '$@' (targets: $(TARGETS)))
