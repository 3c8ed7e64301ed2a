#!/usr/bin/env bash
# Build the pinned node components for the stack's real node (kubelet, kube-proxy) into
# CACHE/k8s/node-v<version>/, once. Same wrapper module and version stamp as the
# control plane (tools/build-k8s.sh); containerd, runc and the CNI plugins come from
# Debian's packages (APT_PACKAGES_NODE in tools/versions.mk). kube-router (the node's
# NetworkPolicy enforcement) goes to CACHE/kube-router-v<version>/ from its own wrapper
# module (tools/kube-router). A second run builds nothing.
set -euo pipefail
cache=${1:?usage: tools/build-node.sh CACHE}
# shellcheck source=tools/lib.sh
source "${0%/*}/lib.sh"
need_go node-tools
k8s=${KUBERNETES_E2E_VERSION:?}
out="$cache/k8s/node-v$k8s"
need_pins k8s/go.mod "pin k8s.io/kubernetes v$k8s" "k8s.io/kubernetes v$k8s\$"
router=${KUBE_ROUTER_VERSION:?}
router_out="$cache/kube-router-v$router"
need_pins kube-router/go.mod "pin kube-router v$router" "cloudnativelabs/kube-router/v2 v$router\$"
if [[ ! -f "$router_out/.complete" ]]; then
  echo "node-tools: building kube-router v$router (first time: a few minutes)"
  mkdir -p "$router_out"
  (cd "$here/kube-router" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$router_out/" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
  touch "$router_out/.complete"
fi
mkdir -p "$out"
ln -sfn "$router_out/kube-router" "$out/kube-router"  # the node's binaries in one folder
exit_if_built "$out/.complete" "node-tools: node v$k8s (kubelet, kube-proxy) already built in $out (nothing to do)"
echo "node-tools: building kubelet and kube-proxy v$k8s (first time: several minutes)"
started=$(date +%s)
mkdir -p "$out"
go_build_kubernetes "$k8s" "$out" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
"$out/kubelet" --version
touch "$out/.complete"
echo "node-tools: built in $(( $(date +%s) - started ))s"
