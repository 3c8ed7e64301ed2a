#!/usr/bin/env bash
# Build the pinned Metrics Server (METRICS_SERVER_VERSION) for the local stack into
# CACHE/metrics-server-<version>/, once, from the wrapper module tools/metrics-server (the
# same module whose manifests/base addons/metrics-server/ vendors). The stack runs it for
# every cluster: on the real node as the pod Argo CD synced (in an image built here from
# this binary), beside the kwok clusters as a process. A second run builds nothing.
set -euo pipefail
cache=${1:?usage: tools/build-metrics-server.sh CACHE}
# shellcheck source=tools/lib.sh
source "${0%/*}/lib.sh"
need_go e2e-tools
version=${METRICS_SERVER_VERSION:?}
out="$cache/metrics-server-$version"
need_pins metrics-server/go.mod "pin Metrics Server $version" "sigs.k8s.io/metrics-server $version\$"
exit_if_built "$out/.complete" "e2e-tools: Metrics Server $version already built in $out (nothing to do)"
echo "e2e-tools: building Metrics Server $version (first time: a few minutes)"
started=$(date +%s)
mkdir -p "$out"
(cd "$here/metrics-server" && CGO_ENABLED=0 go build -mod=readonly -trimpath \
  -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$version" \
  -o "$out/" sigs.k8s.io/metrics-server/cmd/metrics-server)
"$out/metrics-server" --version
touch "$out/.complete"
echo "e2e-tools: built in $(( $(date +%s) - started ))s"
