# cpu-alert-labeler: every set-up step lives here, so `make test` works on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
APT_PACKAGES := g++ openssl golang-1.19-go golang-github-modern-go-reflect2-dev rsync dpkg-dev etcd-server prometheus prometheus-alertmanager clang libclang-rt-14-dev
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cpu-alert-labeler
APISERVER := $(CACHE)/kubernetes-v1.20.2/bin/kube-apiserver
export CPU_ALERT_LABELER_CACHE := $(CACHE)
NATIVE_SRC := native/classifier.cpp native/classifier.h native/classifier.cdef native/build_classifier.py
NATIVE_STAMP := .cache/native.stamp

.PHONY: all deps venv native native-test fuzz-build fuzz fuzz-native fuzz-python apiserver test pytest run e2e reliability bench clean

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

# Coverage-guided fuzzing: libFuzzer on the C API (clang, ASan + UBSan) and atheris on the
# body parser.  `make test` replays the seed corpora and fuzzes briefly (tests/system/
# test_fuzz.py); `make fuzz` (part of `make reliability`) fuzzes FUZZ_SECONDS each.  What a
# run finds stays in .cache/fuzz/; a crash is saved there as crash-*: copy it into
# native/fuzz/regressions/ or tests/fuzz/regressions/ and it is replayed by every test run.
FUZZ_NATIVE := .cache/fuzz/fuzz_classifier
FUZZ_SECONDS ?= 120
fuzz-build: $(FUZZ_NATIVE)
$(FUZZ_NATIVE): native/classifier.cpp native/classifier.h native/fuzz/fuzz_classifier.cpp | .cache/apt.stamp
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
$(APISERVER): | .cache/apt.stamp
	scripts/build-apiserver.sh

test: deps venv native apiserver native-test fuzz-build pytest

pytest: native apiserver fuzz-build
	$(PY) -m pytest

# Serve the function; with no cluster configured, start a development cluster first.
run: deps venv native
	PORT=$(PORT) PYTHON=$(PY) scripts/run.sh

# The whole chain on real parts: Prometheus -> Alertmanager -> function -> kube-apiserver -> kubectl.
e2e: deps venv native apiserver
	$(PY) -m pytest tests/test_e2e.py -v -s

# Fault, concurrency, fuzz and load campaigns at full size; prints the figures.
reliability: deps venv native apiserver fuzz
	$(PY) scripts/reliability.py
	$(PY) scripts/reliability_fuzz100k.py

# Benchmarks side by side against the old design and the API server's floor; prints a table.
bench: deps venv native apiserver
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .cache/native.stamp .cache/test_classifier function/_classifier*.so build *.egg-info
