#!/usr/bin/env bash
# Build kube-apiserver 1.20.2 from Debian's `kubernetes` source package with Debian's Go 1.19.
#
# 1.20 is the oldest API the function supports; the API tier runs against it and 1.34.
# No package registry ships the binary, so it is built once and cached outside the
# clone, keyed by version (CI's fresh clone reuses it): $CACHE/kubernetes-v1.20.2/bin.
# Go is pinned to Debian's 1.19 (the `go` on PATH may be much newer), and the vendored
# github.com/modern-go/reflect2 1.0.1 is replaced by Debian's 1.0.2: with 1.0.1 built by
# Go 1.18+, any pretty-printed response (a plain curl) faults in UnsafeMapType.UnsafeIterate.  The source is fetched with `apt-get source` through a
# temporary apt configuration derived from the machine's own sources, so no mirror
# host name is ever written here.
set -euo pipefail

cache=${CPU_ALERT_LABELER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpu-alert-labeler}
out="$cache/kubernetes-v1.20.2/bin/kube-apiserver"
[ -x "$out" ] && exit 0
go119=/usr/lib/go-1.19/bin
reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -x "$go119/go" ] || { echo "build-apiserver: $go119/go missing (apt-get install golang-1.19-go)" >&2; exit 1; }
[ -d "$reflect2" ] || { echo "build-apiserver: $reflect2 missing (apt-get install golang-github-modern-go-reflect2-dev)" >&2; exit 1; }

work="$cache/kubernetes-v1.20.2/build"
rm -rf "$work"
mkdir -p "$work/apt/sources" "$work/apt/lists/partial" "$work/src"

# deb-src variants of the configured sources.
for f in /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] || continue
  sed 's/^Types:.*/Types: deb-src/' "$f" > "$work/apt/sources/$(basename "$f")"
done
if [ -s /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$work/apt/sources/legacy.list" || true
fi
aptopts=(-o "Dir::Etc::SourceParts=$work/apt/sources" -o "Dir::Etc::SourceList=/dev/null"
         -o "Dir::State::Lists=$work/apt/lists" -o "APT::Sandbox::User=root")
apt-get "${aptopts[@]}" update -qq
(cd "$work/src" && apt-get "${aptopts[@]}" source -qq --only-source kubernetes)

tree=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
[ -n "$tree" ] || { echo "build-apiserver: no kubernetes source tree was unpacked" >&2; exit 1; }

# Debian's packaging builds from a GOPATH with the tree linked in as k8s.io/kubernetes.
gopath="$work/gopath"
mkdir -p "$gopath/src/k8s.io"
ln -sfn "$tree" "$gopath/src/k8s.io/kubernetes"
vendored="$tree/vendor/github.com/modern-go/reflect2"
rm -rf "$vendored" && mkdir -p "$vendored"
cp -r "$reflect2"/. "$vendored"/
(
  cd "$gopath/src/k8s.io/kubernetes"
  export PATH="$go119:$PATH" GOROOT=/usr/lib/go-1.19 GOTOOLCHAIN=local
  export GOPATH="$gopath" GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS= \
         GOCACHE="$work/gocache" KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean
  make WHAT=cmd/kube-apiserver
)
bin=$(find "$tree/_output" -type f -name kube-apiserver -perm -u+x | head -n1)
mkdir -p "$(dirname "$out")"
cp "$bin" "$out.tmp" && mv "$out.tmp" "$out"
rm -rf "$work"
echo "build-apiserver: built $out in $SECONDS s (first build: cached after)"
