#!/usr/bin/env bash
# Builds a platform's own CLI (kn, faas-cli, helm) from its pinned Go module, so the tests run the
# tool a user runs, not an imitation.  The module and every dependency are pinned by
# testbed/pins/NAME/go.mod and go.sum (fetched through the Go module proxy, checked against
# go.sum); the static binary (CGO_ENABLED=0) goes to the cache outside the clone, keyed by
# version, and is built only when missing.
#   usage: testbed/pins/build-cli.sh kn|faas-cli|helm|kwok
#
# Why these versions: the proxy refuses the version LISTS of knative.dev/client and
# github.com/openfaas/*, so only exact versions resolve.  kn v0.46 and v0.50 need the separate
# module knative.dev/client/pkg, which is not served; v0.40.0 (Knative 1.13) has no split.
# faas-cli tags lack the "v" prefix, so only pseudo-versions exist; 08e3e965c831 (2021-10-12)
# is one the proxy serves.  kwok v0.8.0 (fake nodes and pods for the storm harness) is the
# newest served; its binary has no built-in stages: the stage files (kustomize/stage/...) are
# copied from the module beside it, into stages/.  kn's dependency knative.dev/client-pkg is a pseudo-version the
# checksum database does not know: go.sum pins it, and regenerating go.sum needs
# GONOSUMDB=knative.dev/client-pkg (a build with this go.sum does not ask).
# helm v3.22.0 is served with its version list; it is built with the ldflags of its own
# Makefile, so its default Capabilities are its client-go's Kubernetes (1.37), as in a
# release binary, not the v1.20.0 a plain `go build` leaves (the tests pass --kube-version).
set -euo pipefail
name=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/gobuild.sh"
case $name in
  kn)
    module=knative.dev/client
    package=knative.dev/client/cmd/kn
    vpkg=knative.dev/client/pkg/kn/commands/version
    ;;
  faas-cli)
    module=github.com/openfaas/faas-cli
    package=github.com/openfaas/faas-cli
    vpkg=github.com/openfaas/faas-cli/version
    ;;
  helm)
    module=helm.sh/helm/v3
    package=helm.sh/helm/v3/cmd/helm
    vpkg=helm.sh/helm/v3/internal/version
    ;;
  kwok)
    module=sigs.k8s.io/kwok
    package=sigs.k8s.io/kwok/cmd/kwok
    vpkg=sigs.k8s.io/kwok/pkg/consts
    ;;
  *) echo "unknown tool: $name" >&2; exit 2 ;;
esac
pins="$here/$name"
version=$(pinned "$pins" "$module")
ldflags="-s -w -X $vpkg.Version=$version"
if [ "$name" = helm ]; then
  kube=$(awk '$1 == "k8s.io/client-go" {print $2}' "$pins/go.mod")  # v0.37.0: Kubernetes 1.37
  minor=${kube#v0.}; minor=${minor%%.*}
  ldflags="-s -w -X $vpkg.version=$version"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags="$ldflags -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
  done
fi
[ "$name" = faas-cli ] && ldflags="$ldflags -X $vpkg.GitCommit=${version##*-}"
[ "$name" = kwok ] && ldflags="-s -w"  # its version is a constant of the module
out="$cache/$name-$version/bin/$name"
if [ "$name" = kwok ] && [ ! -f "$cache/$name-$version/stages/pod-ready.yaml" ]; then
  # the stages kwok needs as --config (it has none built in), from the same module
  src=$(cd "$pins" && "$go" mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  mkdir -p "$cache/$name-$version/stages"
  cp "$src"/kustomize/stage/node/fast/node-*.yaml "$src"/kustomize/stage/pod/fast/pod-*.yaml \
    "$cache/$name-$version/stages/"
  chmod u+w "$cache/$name-$version/stages"/*.yaml
fi
[ -x "$out" ] && exit 0
build_into "$pins" "$out" "$ldflags" "$package"
echo "$name $version in $out"
