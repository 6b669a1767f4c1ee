#!/bin/sh
# The image's start command: serve the function with functions-framework's production
# server (gunicorn; no --debug) on 0.0.0.0:${PORT:-8080}, from the prefix that
# scripts/install.sh filled (APP_PREFIX, default /opt/cpu-alert-labeler).
#
# Writes nothing outside $TMPDIR (default /tmp), so it runs on a read-only root
# filesystem: bytecode was compiled at install time and is never written, and HOME
# points at the scratch directory because gunicorn (25.1+) creates its control
# socket under $XDG_RUNTIME_DIR or $HOME/.gunicorn.  PROMETHEUS_MULTIPROC_DIR is where
# each gunicorn worker keeps its samples for /metrics; prometheus-client wants it
# empty at every start.  `exec` replaces this shell with the server, so the SIGTERM
# that Knative or Kubernetes sends reaches gunicorn, which finishes its requests.
set -eu
prefix=${APP_PREFIX:-/opt/cpu-alert-labeler}
scratch=${TMPDIR:-/tmp}
export PYTHONPATH="$prefix/app" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
export HOME="$scratch" XDG_RUNTIME_DIR="$scratch"
export PROMETHEUS_MULTIPROC_DIR="$scratch/cpu-alert-labeler-metrics"
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# functions-framework reads these as --debug (Flask's server) and --asgi: never here.
unset DEBUG FUNCTION_USE_ASGI
exec "$prefix/venv/bin/python" -m functions_framework --target handle \
  --source "$prefix/app/function/main.py" --signature-type http \
  --host 0.0.0.0 --port "${PORT:-8080}"
