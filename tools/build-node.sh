#!/usr/bin/env bash
# Build the pinned node components for the stack's real node (kubelet, kube-proxy) into
# CACHE/k8s/node-v<version>/, once. Same wrapper module and version stamp as the
# control plane (tools/build-k8s.sh); containerd, runc and the CNI plugins come from
# Debian's packages (APT_PACKAGES_NODE in tools/versions.mk). A second run builds nothing.
set -euo pipefail

cache=${1:?usage: tools/build-node.sh CACHE}
here=$(cd "$(dirname "$0")" && pwd)
k8s=${KUBERNETES_E2E_VERSION:?}
out="$cache/k8s/node-v$k8s"
if ! grep -q "k8s.io/kubernetes v$k8s\$" "$here/k8s/go.mod"; then
  echo "error: tools/k8s/go.mod does not pin k8s.io/kubernetes v$k8s (tools/versions.mk)" >&2
  exit 1
fi
if [[ -f "$out/.complete" ]]; then
  echo "e2e-tools: node v$k8s (kubelet, kube-proxy) already built in $out (nothing to do)"
  exit 0
fi
mkdir -p "$out"
started=$(date +%s)
minor=${k8s#*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=v$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
ldflags="$ldflags -X $pkg.buildDate=1970-01-01T00:00:00Z"
echo "e2e-tools: building kubelet and kube-proxy v$k8s (first time: several minutes)"
(
  cd "$here/k8s"
  CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
)
"$out/kubelet" --version
touch "$out/.complete"
echo "e2e-tools: node built in $(( $(date +%s) - started ))s"
