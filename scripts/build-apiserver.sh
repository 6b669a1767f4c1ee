#!/usr/bin/env bash
# Build kube-apiserver from Debian's `kubernetes` source package (1.20.2) with Debian's Go.
#
# No package registry ships the binary, so the tests build it once and cache it in
# .cache/bin (gitignored).  The source is fetched with `apt-get source` through a
# temporary apt configuration derived from the machine's own sources, so no mirror
# host name is ever written here.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.cache/bin/kube-apiserver"
[ -x "$out" ] && exit 0

work="$root/.cache/k8s-build"
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
(
  cd "$gopath/src/k8s.io/kubernetes"
  export GOPATH="$gopath" GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS= \
         GOCACHE="$work/gocache" KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean
  make WHAT=cmd/kube-apiserver
)
bin=$(find "$tree/_output" -type f -name kube-apiserver -perm -u+x | head -n1)
mkdir -p "$(dirname "$out")"
cp "$bin" "$out.tmp" && mv "$out.tmp" "$out"
rm -rf "$work"
echo "build-apiserver: built $out"
