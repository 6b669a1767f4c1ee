#!/bin/sh
# The image's start command: serve the function (a functions-framework target) with
# our production server, function/server.py (waitress with explicit limits for slow and
# oversized requests), on 0.0.0.0:${PORT:-8080}, from the prefix that
# scripts/install.sh filled (APP_PREFIX, default /opt/cpu-alert-labeler).
#
# Writes nothing outside $TMPDIR (default /tmp), so it runs on a read-only root
# filesystem: bytecode was compiled at install time and is never written, bodies
# waitress spills to disk go to $TMPDIR, and HOME points at the scratch directory.
# PROMETHEUS_MULTIPROC_DIR is where each worker process keeps its samples for
# /metrics; prometheus-client wants it empty at every start.  `exec` replaces this
# shell with the server, so the SIGTERM that Knative or Kubernetes sends reaches it,
# and it finishes the requests in hand before exiting.
set -eu
prefix=${APP_PREFIX:-/opt/cpu-alert-labeler}
scratch=${TMPDIR:-/tmp}
export PYTHONPATH="$prefix/app" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
export HOME="$scratch" XDG_RUNTIME_DIR="$scratch" TMPDIR="$scratch"
export PROMETHEUS_MULTIPROC_DIR="$scratch/cpu-alert-labeler-metrics"
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec "$prefix/venv/bin/python" -m function.server --host 0.0.0.0 --port "${PORT:-8080}"
