#!/bin/sh
# Knative Serving's own CustomResourceDefinitions, for the tests that check our Knative
# manifests against Knative's schema: read from the pinned knative.dev/serving Go module
# (config/core/300-resources/, the files Knative's release YAML is made from), fetched
# through the Go module proxy like any module, and copied into the cache outside the
# clone, keyed by version.  Nothing third-party is kept in the repository.
#   usage: scripts/knative-crds.sh VERSION      (the module version, e.g. v0.51.0)
set -eu
version=$1
go=${GO:-go}
cache=${CPU_ALERT_LABELER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpu-alert-labeler}
out="$cache/knative-serving-$version/crds"
[ -d "$out" ] && exit 0
# `go mod download -json` prints where the module was unpacked ("Dir").
dir=$(cd / && GOFLAGS=-mod=mod "$go" mod download -json "knative.dev/serving@$version" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[ -d "$dir/config/core/300-resources" ] || { echo "no CRDs in $dir" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$out.XXXXXX")
cp "$dir"/config/core/300-resources/*.yaml "$tmp/"
chmod -R u+w,go+rX "$tmp"
mv "$tmp" "$out"
echo "Knative Serving $version CRDs in $out"
