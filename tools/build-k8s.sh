#!/usr/bin/env bash
# Build the pinned control plane for `make e2e` into TOOLS_DIR/k8s/<versions>/, once.
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl come from
# k8s.io/kubernetes through the wrapper module in tools/k8s (its replace directives
# point the staging modules at their published versions); etcd's server from the
# same module; kwok with `go install`. A second run builds nothing.
set -euo pipefail

tools_dir=${1:?usage: tools/build-k8s.sh TOOLS_DIR}
# shellcheck source=tools/lib.sh
source "${0%/*}/lib.sh"
need_go e2e
k8s=${KUBERNETES_E2E_VERSION:?} etcd=${ETCD_VERSION:?} kwok=${KWOK_VERSION:?}
out="$tools_dir/k8s/v$k8s-etcd-$etcd-kwok-$kwok"

need_pins k8s/go.mod "pin k8s.io/kubernetes v$k8s and etcd $etcd" \
  "k8s.io/kubernetes v$k8s\$" "go.etcd.io/etcd/server/v3 $etcd\$"
exit_if_built "$out/.complete" \
  "e2e-tools: control plane v$k8s (etcd $etcd, kwok $kwok) already built in $out (nothing to do)"

mkdir -p "$out"
started=$(date +%s)
echo "e2e-tools: building Kubernetes v$k8s and etcd $etcd (first time: several minutes)"
go_build_kubernetes "$k8s" "$out" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
(
  cd "$here/k8s"
  CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
)
echo "e2e-tools: go install sigs.k8s.io/kwok/cmd/kwok@$kwok"
GOBIN="$(cd "$out" && pwd)" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$kwok"
"$out/kube-apiserver" --version
touch "$out/.complete"
echo "e2e-tools: built in $(( $(date +%s) - started ))s"
