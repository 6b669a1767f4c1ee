# cpu-alert-labeler: every set-up step lives here, so `make test` works on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
APT_PACKAGES := g++ openssl golang-1.19-go golang-github-modern-go-reflect2-dev rsync dpkg-dev etcd-server prometheus prometheus-alertmanager
# A caller's CPU_ALERT_LABELER_CACHE wins (a nested make, or a test that moves HOME).
CACHE ?= $(or $(CPU_ALERT_LABELER_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cpu-alert-labeler)
APISERVER := $(CACHE)/kubernetes-v1.20.2/bin/kube-apiserver
# The Go toolchain of this machine kind (PATH may not have it).
GO ?= $(firstword $(wildcard /usr/local/go/bin/go) go)
# Knative Serving's CRDs, read from its pinned Go module: v0.51.0 (2026-10-26) is the newest
# the Go module proxy serves here; the API tests show its CRDs at work on Kubernetes 1.34.
# Keep equal to testbed/manifests.py.
KNATIVE_SERVING := v0.51.0
KNATIVE_CRDS := $(CACHE)/knative-serving-$(KNATIVE_SERVING)/crds
# The platforms' own CLIs, built from pinned Go modules (scripts/build-go-tool.sh says why
# these versions); keep equal to that script and testbed/tools.py.
KN := $(CACHE)/kn-v0.40.0/bin/kn
FAAS_CLI := $(CACHE)/faas-cli-v0.0.0-20211012083206-08e3e965c831/bin/faas-cli
export CPU_ALERT_LABELER_CACHE := $(CACHE)
NATIVE_SRC := native/classifier.cpp native/classifier.h native/classifier.cdef native/build_classifier.py
NATIVE_STAMP := .cache/native.stamp

.PHONY: all deps venv native native-test apiserver knative-crds tools test pytest run e2e reliability bench clean

all: native

deps: .cache/apt.stamp
.cache/apt.stamp: Makefile
	@mkdir -p .cache
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@touch $@

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

native: $(NATIVE_STAMP)
$(NATIVE_STAMP): $(NATIVE_SRC) $(VENV)/.stamp
	@mkdir -p .cache
	rm -f function/_classifier*.so
	$(PY) native/build_classifier.py
	@touch $@

# The C++ unit tests, under AddressSanitizer and UBSan.
native-test: .cache/apt.stamp
	@mkdir -p .cache
	g++ -std=c++17 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -o .cache/test_classifier native/classifier.cpp native/test_classifier.cpp
	.cache/test_classifier

apiserver: $(APISERVER)
$(APISERVER): | .cache/apt.stamp
	scripts/build-apiserver.sh

knative-crds: $(KNATIVE_CRDS)
$(KNATIVE_CRDS):
	GO=$(GO) scripts/knative-crds.sh $(KNATIVE_SERVING)

tools: $(KN) $(FAAS_CLI)
$(KN): testbed/tools/kn/go.mod testbed/tools/kn/go.sum
	GO=$(GO) scripts/build-go-tool.sh kn
$(FAAS_CLI): testbed/tools/faas-cli/go.mod testbed/tools/faas-cli/go.sum
	GO=$(GO) scripts/build-go-tool.sh faas-cli

test: deps venv native apiserver knative-crds tools native-test pytest

pytest: native apiserver knative-crds tools
	$(PY) -m pytest

# Serve the function; with no cluster configured, start a development cluster first.
run: deps venv native
	PORT=$(PORT) PYTHON=$(PY) scripts/run.sh

# The whole chain on real parts: Prometheus -> Alertmanager -> function -> kube-apiserver -> kubectl.
e2e: deps venv native apiserver
	$(PY) -m pytest tests/test_e2e.py -v -s

# Fault, concurrency, fuzz and load campaigns at full size; prints the figures.
reliability: deps venv native apiserver
	$(PY) scripts/reliability.py

# Benchmarks side by side against the old design and the API server's floor; prints a table.
bench: deps venv native apiserver
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .cache/native.stamp .cache/test_classifier function/_classifier*.so build *.egg-info
