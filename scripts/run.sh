#!/usr/bin/env bash
# `make run`: serve the function on $PORT with the production server (function/server.py).
# With no cluster configured (no $KUBECONFIG, no ~/.kube/config, not in a pod),
# start a local development cluster holding the pods that alert.json names. Its kubeconfig
# is at a path the README can name, in the clone: .cache/dev-cluster-$PORT/kubeconfig (one
# per port, so a second `make run` on another port, or the tests, never take another's);
# it is removed when the script stops. Stays in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PORT=${PORT:-8080}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
pids=()
dev=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "$dev" ] || rm -rf "$dev"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${KUBECONFIG:-}" ] && [ -z "${KUBERNETES_SERVICE_HOST:-}" ] && [ ! -f "$HOME/.kube/config" ]; then
  make --no-print-directory apiserver
  dev="$PWD/.cache/dev-cluster-$PORT"
  rm -rf "$dev" && mkdir -p "$dev"  # a killed run's file must not pass for this one's
  export KUBECONFIG="$dev/kubeconfig"
  "$PY" -m testbed.clusters.dev "$KUBECONFIG" alert.json &
  pids+=($!)
  for _ in $(seq 600); do
    [ -s "$KUBECONFIG" ] && break
    kill -0 "${pids[0]}" 2>/dev/null || { echo "the development cluster did not start" >&2; exit 1; }
    sleep 0.1
  done
  cat <<MSG

No cluster was configured, so a development cluster is running (kubeconfig: $KUBECONFIG).
This stays in the foreground (Ctrl-C stops it all); in a second shell, in $PWD:
  send the sample:   curl -s -XPOST -H 'Content-Type: application/json' --data-binary @alert.json http://127.0.0.1:$PORT/
  see the labels:    KUBECONFIG=.cache/dev-cluster-$PORT/kubeconfig kubectl get pods -A -l status --show-labels

MSG
fi
# Loopback unless HOST says otherwise: a development server has the developer's cluster rights.
"$PY" -m function.server --host "${HOST:-127.0.0.1}" --port "$PORT" &
pids+=($!)
wait "${pids[-1]}"
