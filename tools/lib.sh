#!/usr/bin/env bash
# What the tools/build-*.sh scripts share; each sources it right after `set -euo pipefail`
# with `source "${0%/*}/lib.sh"` (no dirname: need_go must work with no PATH at all).
#
#   here                         the tools/ folder
#   need_go TARGET               stop unless the Go toolchain is installed (TARGET: the make target to re-run)
#   need_pins GO_MOD WHAT RE...  stop unless tools/GO_MOD has a line matching each RE (WHAT: what it must pin)
#   exit_if_built STAMP MESSAGE  say MESSAGE and exit 0 when STAMP exists (a second run builds nothing)
#   kubernetes_ldflags VERSION   the -ldflags that stamp a Kubernetes binary with VERSION (no leading v)

here=$(cd "${BASH_SOURCE[0]%/*}" && pwd)

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "error: the Go toolchain is not installed; install Go 1.24 or newer and re-run 'make $1'" >&2
    exit 1
  fi
}

need_pins() {
  local go_mod=$1 what=$2 pattern
  shift 2
  for pattern in "$@"; do
    if ! grep -q "$pattern" "$here/$go_mod"; then
      echo "error: tools/$go_mod does not $what (tools/versions.mk)" >&2
      exit 1
    fi
  done
}

exit_if_built() {
  if [[ -f "$1" ]]; then
    echo "$2"
    exit 0
  fi
}

kubernetes_ldflags() {
  local version=$1 minor pkg=k8s.io/component-base/version
  minor=${version#*.}
  minor=${minor%%.*}
  echo "-s -w -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
    "-X $pkg.buildDate=1970-01-01T00:00:00Z"
}

# go_build_kubernetes VERSION OUT PACKAGE...: build Kubernetes commands from the wrapper
# module (tools/k8s), stamped with VERSION, into OUT/.
go_build_kubernetes() {
  local version=$1 out=$2
  shift 2
  (cd "$here/k8s" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$(kubernetes_ldflags "$version")" \
    -o "$out/" "$@")
}
