#!/bin/sh
# A platform's own CustomResourceDefinitions, for the tests that check our manifests against
# that platform's schema: read from one pinned Go module (the files the platform's release
# YAML is made from), fetched through the Go module proxy like any module, and copied into
# the cache outside the clone, keyed by module and version.  Nothing third-party is kept
# in the repository.
#   usage: testbed/pins/module-crds.sh MODULE VERSION DIR NAME
#     knative.dev/serving v0.47.0 config/core/300-resources knative-serving
#       -> $cache/knative-serving-v0.47.0/crds/*.yaml
set -eu
module=$1 version=$2 subdir=$3 name=$4
go=${GO:-go}
cache=${CPU_ALERT_LABELER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpu-alert-labeler}
out="$cache/$name-$version/crds"
[ -d "$out" ] && exit 0
# `go mod download -json` prints where the module was unpacked ("Dir").
dir=$(cd / && GOFLAGS=-mod=mod "$go" mod download -json "$module@$version" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
ls "$dir/$subdir"/*.yaml >/dev/null 2>&1 || { echo "no CRDs in $dir/$subdir" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$out.XXXXXX")
cp "$dir/$subdir"/*.yaml "$tmp/"
chmod -R u+w,go+rX "$tmp"
mv "$tmp" "$out"
echo "$module $version CRDs in $out"
