# Sourced (bash) by every script that builds a Go program from a pinned module of ours:
# the monitoring programs, the CLIs, the node's Kubernetes, CoreDNS and Knative.  One place
# for what they share: the cache root outside the clone, the Go toolchain the Makefile
# passes, static builds with the local toolchain only, the version a go.mod pins, and an
# atomic build that does nothing when the binary is already there.
cache=${CPU_ALERT_LABELER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpu-alert-labeler}
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$go" ] || { echo "$0: no Go toolchain (expected /usr/local/go/bin/go)" >&2; exit 1; }
# Static binaries for empty images; never fetch another Go; go.mod and go.sum are the pins
# (a build that would change them fails; a script may relax this after sourcing).
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly

# pinned DIR MODULE: the version DIR/go.mod requires of MODULE on one `require` line.
pinned() {
  local version
  version=$(awk -v m="$2" '$1 == "require" && $2 == m {print $3}' "$1/go.mod")
  [ -n "$version" ] || { echo "$0: no 'require $2' line in $1/go.mod" >&2; exit 1; }
  echo "$version"
}

# build_into DIR OUT LDFLAGS PACKAGE: build PACKAGE from the module in DIR into OUT, unless
# OUT exists; through OUT.tmp, so an interrupted build leaves nothing that looks done.
build_into() {
  local dir=$1 out=$2 ldflags=$3 package=$4
  [ -x "$out" ] && return 0
  mkdir -p "$(dirname "$out")"
  echo "$0: building $(basename "$out") from $package" >&2
  local began=$SECONDS  # a first build's time is printed: cold builds are budgeted (docs/development.md)
  (cd "$dir" && "$go" build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$package")
  mv "$out.tmp" "$out"
  echo "$0: built $(basename "$out") in $((SECONDS - began)) s" >&2
}
