# cpu-alert-labeler: every set-up step lives here, so `make test` works on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
# Debian packages, in four lists with a stamp each (.cache/apt-<list>.stamp), so that a
# target installs only what it uses; `make deps` installs them all.
# run: what `make run` needs: g++ (the native build); Go 1.19, reflect2, dpkg-dev and rsync
# (kube-apiserver 1.20, testbed/pins/build-apiserver.sh); etcd and openssl (the development
# cluster); curl (the Quick start's sample), and a kubectl when none is on PATH (Debian's
# kubernetes-client, 1.20 like the development cluster) for the Quick start's kubectl line.
APT_run = g++ openssl golang-1.19-go golang-github-modern-go-reflect2-dev rsync dpkg-dev etcd-server curl \
          $(if $(shell command -v kubectl),,kubernetes-client)
# monitoring: Debian's Prometheus, Alertmanager, promtool and amtool (system and node tiers).
APT_monitoring := prometheus prometheus-alertmanager
# fuzz: clang and its runtime for libFuzzer (fuzz-build).
APT_fuzz := clang libclang-rt-14-dev
# node: the test node's runtime (testbed/clusters/node): containerd, runc and CNI plugins; podman and
# debootstrap for the images; nftables to record and restore the host's firewall.
APT_node := containerd runc containernetworking-plugins podman debootstrap iptables conntrack nftables
# The cache a calling make or test already chose wins (tests run make with another HOME).
CACHE ?= $(or $(CPU_ALERT_LABELER_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cpu-alert-labeler)
APISERVER := $(CACHE)/kubernetes-v1.20.2/bin/kube-apiserver
# The Go toolchain of this machine kind (PATH may not have it).
GO ?= $(firstword $(wildcard /usr/local/go/bin/go) go)
# Monitoring programs built from the Go module proxy, pinned by testbed/pins/<name>/go.mod.
go_pin_in = $(shell awk '$$1 == "require" && $$2 == "$(2)" {print $$3}' $(1)/go.mod)
go_pin = $(call go_pin_in,testbed/pins/$(1),$(2))
KUBE_STATE_METRICS := $(CACHE)/kube-state-metrics-$(call go_pin,kube-state-metrics,k8s.io/kube-state-metrics/v2)/bin/kube-state-metrics
# Prometheus' Go module v0.X.Y is its release v2.X.Y.
PROMETHEUS := $(CACHE)/prometheus-$(subst v0.,v2.,$(call go_pin,prometheus,github.com/prometheus/prometheus))/bin/prometheus
# The Prometheus Operator (with its config-reloader and CRDs), as kube-prometheus-stack runs it.
PROMETHEUS_OPERATOR := $(CACHE)/prometheus-operator-$(call go_pin,prometheus-operator,github.com/prometheus-operator/prometheus-operator)/bin/operator
# Knative Serving's CRDs, read from the Go module of the Knative Serving the node runs
# (testbed/pins/knative-serving/go.mod; build-knative.sh says why that version): the API tests show
# them at work on Kubernetes 1.34.
KNATIVE_SERVING := $(call go_pin_in,testbed/pins/knative-serving,knative.dev/serving)
KNATIVE_CRDS := $(CACHE)/knative-serving-$(KNATIVE_SERVING)/crds
# OpenFaaS' Function CRD (openfaas.com/v1) from faas-netes, whose tags lack Go's `v`: a
# pseudo-version, the newest the Go module proxy was found to serve (pinned with the
# OpenFaaS gateway by testbed/pins/<name>/go.mod; build-openfaas.sh says why these).
FAAS_NETES := $(call go_pin_in,testbed/pins/faas-netes,github.com/openfaas/faas-netes)
OPENFAAS_CRDS := $(CACHE)/faas-netes-$(FAAS_NETES)/crds
OPENFAAS_NODE := $(CACHE)/faas-netes-$(FAAS_NETES)/bin/faas-netes \
  $(CACHE)/openfaas-gateway-$(call go_pin_in,testbed/pins/openfaas-gateway,github.com/openfaas/faas/gateway)/bin/gateway
# Knative Serving's components on the node (testbed/pins/build-knative.sh says why this
# version), and the node's cluster DNS (testbed/pins/coredns/), pinned by their go.mod.
KNATIVE_NODE := $(CACHE)/knative-serving-$(call go_pin_in,testbed/pins/knative-serving,knative.dev/serving)/bin/queue
COREDNS := $(CACHE)/coredns-$(call go_pin_in,testbed/pins/coredns,github.com/coredns/coredns)/bin/coredns
# The platforms' own CLIs, built from pinned Go modules (testbed/pins/build-cli.sh says why
# these versions), pinned by testbed/pins/<name>/go.mod; testbed/platforms/clis.py reads the same pins.
KN := $(CACHE)/kn-$(call go_pin_in,testbed/pins/kn,knative.dev/client)/bin/kn
FAAS_CLI := $(CACHE)/faas-cli-$(call go_pin_in,testbed/pins/faas-cli,github.com/openfaas/faas-cli)/bin/faas-cli
HELM := $(CACHE)/helm-$(call go_pin_in,testbed/pins/helm,helm.sh/helm/v3)/bin/helm
# KWOK's fake nodes and pods for the storm harness (testbed/campaigns/storm.py), pinned the same way.
KWOK := $(CACHE)/kwok-$(call go_pin_in,testbed/pins/kwok,sigs.k8s.io/kwok)/bin/kwok
export CPU_ALERT_LABELER_CACHE := $(CACHE)
NATIVE_SRC := native/classifier.cpp native/classifier.h native/classifier.cdef native/build_classifier.py
NATIVE_STAMP := .cache/native.stamp

.PHONY: all deps deps-run deps-monitoring deps-fuzz deps-node venv native native-test apiserver kube-state-metrics prometheus prometheus-operator knative-crds openfaas-crds clis kn faas-cli helm chart knative openfaas \
        node-binaries coredns kwok tools test pytest pytest-host pytest-node pytest-1.34 test-unit test-api test-system test-node lint cluster cluster-down \
        fuzz-build fuzz fuzz-native fuzz-python run e2e reliability bench clean

all: native

deps: deps-run deps-monitoring deps-fuzz deps-node
deps-run: .cache/apt-run.stamp
deps-monitoring: .cache/apt-monitoring.stamp
deps-fuzz: .cache/apt-fuzz.stamp
deps-node: .cache/apt-node.stamp
# A stamp says every package of its list is installed; a Makefile edit re-checks (dpkg -s is quick).
.cache/apt-%.stamp: Makefile
	@mkdir -p .cache
	@if ! dpkg -s $(APT_$*) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_$*); \
	fi
	@touch $@

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements.txt requirements-build.txt requirements-dev.txt
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
native-test: .cache/apt-run.stamp
	@mkdir -p .cache
	g++ -std=c++17 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -o .cache/test_classifier native/classifier.cpp native/test_classifier.cpp
	.cache/test_classifier

# Coverage-guided fuzzing: libFuzzer on the C API (clang, ASan + UBSan) and atheris on the
# body parser.  `make test` replays the seed corpora and fuzzes briefly (tests/system/
# test_fuzz.py); `make fuzz` (part of `make reliability`) fuzzes FUZZ_SECONDS each.  What a
# run finds stays in .cache/fuzz/; a crash is saved there as crash-*: copy it into
# native/fuzz/regressions/ or tests/fuzz/regressions/ and it is replayed by every test run.
FUZZ_NATIVE := .cache/fuzz/fuzz_classifier
FUZZ_SECONDS ?= 120
fuzz-build: $(FUZZ_NATIVE)
$(FUZZ_NATIVE): native/classifier.cpp native/classifier.h native/fuzz/fuzz_classifier.cpp | .cache/apt-fuzz.stamp
	@mkdir -p .cache/fuzz
	clang++ -std=c++17 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -o $@ native/classifier.cpp native/fuzz/fuzz_classifier.cpp

fuzz: fuzz-native fuzz-python

fuzz-native: $(FUZZ_NATIVE)
	@mkdir -p .cache/fuzz/corpus-native
	$(FUZZ_NATIVE) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=.cache/fuzz/ \
	  .cache/fuzz/corpus-native native/fuzz/corpus native/fuzz/regressions

fuzz-python: venv native
	@mkdir -p .cache/fuzz/corpus-body
	PYTHONPATH=$(CURDIR) $(PY) tests/fuzz/fuzz_body.py -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  -dict=tests/fuzz/body.dict -artifact_prefix=.cache/fuzz/ .cache/fuzz/corpus-body tests/fuzz/corpus \
	  tests/fuzz/regressions

apiserver: $(APISERVER)
$(APISERVER): | .cache/apt-run.stamp
	testbed/pins/build-apiserver.sh

# kube-state-metrics, and a Prometheus (and promtool) with Kubernetes service discovery (Debian's has none),
# from the Go module proxy, built only when missing: cached outside the clone in a folder
# named by the pinned version, so a new pin builds anew.
kube-state-metrics: $(KUBE_STATE_METRICS)
$(KUBE_STATE_METRICS):
	GO=$(GO) testbed/pins/build-go-tool.sh kube-state-metrics

prometheus: $(PROMETHEUS)
$(PROMETHEUS):
	GO=$(GO) testbed/pins/build-go-tool.sh prometheus

# The Prometheus Operator v0.85 and its config-reloader (cold: about 7.5 minutes on 2 cores),
# to read the configurations it generates from monitoring/'s resources.
prometheus-operator: $(PROMETHEUS_OPERATOR)
$(PROMETHEUS_OPERATOR):
	GO=$(GO) nice -n 10 testbed/pins/build-go-tool.sh prometheus-operator

knative-crds: $(KNATIVE_CRDS)
$(KNATIVE_CRDS):
	GO=$(GO) testbed/pins/module-crds.sh knative.dev/serving $(KNATIVE_SERVING) config/core/300-resources knative-serving

openfaas-crds: $(OPENFAAS_CRDS)
$(OPENFAAS_CRDS):
	GO=$(GO) testbed/pins/module-crds.sh github.com/openfaas/faas-netes $(FAAS_NETES) artifacts/crds faas-netes

clis: kn faas-cli helm
kn: $(KN)
faas-cli: $(FAAS_CLI)
# Helm v3.22.0 (cold: about 4 minutes on 2 cores), for the chart's tests.
helm: $(HELM)
$(HELM):
	GO=$(GO) nice -n 10 testbed/pins/build-cli.sh helm
$(KN):
	GO=$(GO) testbed/pins/build-cli.sh kn
$(FAAS_CLI):
	GO=$(GO) testbed/pins/build-cli.sh faas-cli
# KWOK (cold: about 4 minutes on 2 cores) and its stage files beside it.
kwok: $(KWOK)
$(KWOK):
	GO=$(GO) testbed/pins/build-cli.sh kwok

# The chart's resource templates, generated from the kustomize overlays and monitoring/
# (testbed/platforms/chart.py; tests/system/test_chart.py fails while they are not current).
chart: venv
	$(PY) -m testbed.platforms.chart

# The OpenFaaS gateway and faas-netes, from the Go module proxy (cold: about 3.5 minutes
# on 2 cores), for the node's OpenFaaS tier.
openfaas: $(OPENFAAS_NODE)
$(OPENFAAS_NODE) &:
	GO=$(GO) testbed/pins/build-openfaas.sh

# Kubernetes v1.34 (control plane, kubelet, kube-proxy, kubectl), etcd 3.6 and the pause
# binary, from the Go module proxy; cached outside the clone, built only when missing
# (cold: about 20 minutes on 2 cores). The api and system tiers use its kube-apiserver,
# etcd and kubectl; the node all of it.
node-binaries:
	GO=$(GO) testbed/pins/build-node.sh

# The node's cluster DNS (cold: about 3 minutes).
coredns: $(COREDNS)
$(COREDNS):
	GO=$(GO) testbed/pins/build-coredns.sh

# Knative Serving's controller, webhook, autoscaler, activator and queue-proxy, from the Go
# module proxy (cold: about 6 minutes on 2 cores), for the node's Knative tier.
knative: $(KNATIVE_NODE)
$(KNATIVE_NODE):
	GO=$(GO) testbed/pins/build-knative.sh

# What each tier uses (tests/<tier>/ and the kit parts they start), each tier adding to
# the one below where it uses the same parts:
# unit: pure code and the in-process app; api: kube-apiserver 1.20 (built from Debian's
# source) and 1.34 (node-binaries, with its etcd and kubectl) plus the development cluster's
# packages; system: Debian's monitoring programs, kube-state-metrics and a Prometheus with
# Kubernetes discovery, Knative's and OpenFaaS' CRDs, kn, faas-cli and helm, KWOK (the storm), the libFuzzer build;
# node: a v1.34 node with CoreDNS, Knative Serving and OpenFaaS, its monitoring side (the Prometheus
# Operator running Prometheus and Alertmanager, kube-state-metrics), kn, faas-cli, helm.
UNIT_NEEDS := venv native
API_NEEDS := $(UNIT_NEEDS) deps-run apiserver node-binaries
SYSTEM_NEEDS := $(API_NEEDS) deps-monitoring kube-state-metrics prometheus prometheus-operator knative-crds openfaas-crds clis kwok fuzz-build
CLUSTER_NEEDS := $(UNIT_NEEDS) deps-run deps-monitoring deps-node node-binaries coredns kube-state-metrics prometheus prometheus-operator
NODE_NEEDS := $(CLUSTER_NEEDS) knative kn openfaas faas-cli helm

# Everything the tiers run, built or installed when missing.
tools: deps $(SYSTEM_NEEDS) $(NODE_NEEDS)

# The three pytest runs side by side: the node tier mostly waits on the node (rollouts,
# scale to zero, Alertmanager's timers) while the others use the CPU; each keeps its output
# together and its own temporary folder.
test: tools native-test lint
	$(MAKE) --no-print-directory --output-sync=target -j3 pytest-node pytest-host pytest-1.34

# Every tier in one run: unit, api and system on the 1.20 API (the oldest supported), then
# the node tier (tests/node/ brings one v1.34 node up and restores the host, even on failure).
pytest: tools
	$(PY) -m pytest

# `make test`'s two halves of that run.
pytest-host: tools
	$(PY) -m pytest --basetemp=.cache/pytest-host tests/unit tests/api tests/system

pytest-node: $(NODE_NEEDS)
	$(PY) -m pytest --basetemp=.cache/pytest-node tests/node

# The API tier again, on the current API (1.34).
pytest-1.34: $(API_NEEDS)
	KUBE_VERSION=1.34 $(PY) -m pytest --basetemp=.cache/pytest-1.34 tests/api

# One tier alone (tests/<tier>/, also selectable with `pytest -m <tier>`), with only what it uses.
test-unit: $(UNIT_NEEDS)
	$(PY) -m pytest tests/unit

test-api: $(API_NEEDS)
	$(PY) -m pytest tests/api
	KUBE_VERSION=1.34 $(PY) -m pytest tests/api

test-system: $(SYSTEM_NEEDS)
	$(PY) -m pytest tests/system

test-node: $(NODE_NEEDS)
	$(PY) -m pytest tests/node

# Lint, import order and format (ruff), types (mypy): function/, the kit, bench/.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# A real v1.34 node on this machine with the function deployed (image built from the
# Dockerfile) and the monitoring side as kube-prometheus-stack runs it (the Prometheus Operator,
# Prometheus, Alertmanager and kube-state-metrics as pods);
# prints KUBECONFIG=<path> last. It changes the host: see docs/node.md.
# PLATFORM=knative adds Knative Serving and deploys the function with the README's kn command;
# PLATFORM=openfaas adds OpenFaaS and deploys it with the README's faas-cli commands.
PLATFORM ?= plain
cluster: $(CLUSTER_NEEDS) $(if $(filter knative,$(PLATFORM)),knative kn) $(if $(filter openfaas,$(PLATFORM)),openfaas faas-cli)
ifeq ($(PLATFORM),knative)
	$(PY) -m testbed.platforms.serving up
else ifeq ($(PLATFORM),openfaas)
	$(PY) -m testbed.platforms.faas up
else
	$(PY) -m testbed.clusters.node up
endif

# Stop the node and restore the host exactly (also after a crashed run).
cluster-down: venv
	$(PY) -m testbed.clusters.node down

# Serve the function (in the foreground); with no cluster configured, start a development
# cluster first (scripts/run.sh builds its kube-apiserver then). Only the `run` packages.
run: deps-run venv native
	PORT=$(PORT) PYTHON=$(PY) scripts/run.sh

# The whole chain on real parts: Prometheus -> Alertmanager -> function -> kube-apiserver -> kubectl.
e2e: deps-run deps-monitoring venv native apiserver node-binaries
	$(PY) -m pytest tests/system/test_e2e.py -v -s

# Fault, concurrency, fuzz, load, slow-client and pressure campaigns at full size, the 100,000-request
# fuzz campaign, and the long coverage-guided fuzz runs; prints the figures.
reliability: deps-run venv native apiserver fuzz
	$(PY) -m testbed.campaigns
	$(PY) -m testbed.campaigns.fuzz100k

# Benchmarks side by side against the old design and the API server's floor; prints a table.
# Then the throughput and floor again on the 1.34 apiserver, and the node figures
# (bench/node.py: cold start on a real node, container memory after 10k alerts), and the
# Knative figures (bench/knative.py: wake-up from zero, back to zero, Knative's memory), the
# OpenFaaS figures (bench/openfaas.py: latency and throughput through the gateway beside
# the direct path, wake-up from zero through the gateway), the storm table (bench/storm.py:
# 1k/5k/10k KWOK pods through Alertmanager) and a steady cluster's notifications (bench/quiet.py).
bench: deps $(API_NEEDS) coredns knative kn openfaas faas-cli prometheus kwok
	$(PY) -m bench.run
	KUBE_VERSION=1.34 $(PY) -m bench.run --only "throughput and floor"
	$(PY) -m bench.storm
	$(PY) -m bench.quiet
	$(PY) -m bench.node
	$(PY) -m bench.knative
	$(PY) -m bench.openfaas

clean:
	rm -rf $(VENV) .cache/native.stamp .cache/test_classifier function/_classifier*.so build *.egg-info
