#!/usr/bin/env bash
# Install the pinned Go-built tools into $TOOLS_DIR/bin, idempotently.
# Usage: tools/install.sh TOOLS_DIR   (versions come from the environment, set by make
# from tools/versions.mk). A second run installs nothing and says so.
set -euo pipefail

tools_dir=${1:?usage: tools/install.sh TOOLS_DIR}
mkdir -p "$tools_dir/bin" "$tools_dir/stamps"

if ! command -v go >/dev/null 2>&1; then
  echo "error: the Go toolchain is not installed; install Go 1.24 or newer and re-run 'make tools'" >&2
  exit 1
fi

# name|module path of the command|version
specs=(
  "kustomize|sigs.k8s.io/kustomize/kustomize/v5|${KUSTOMIZE_VERSION:?}"
  "kubeconform|github.com/yannh/kubeconform/cmd/kubeconform|${KUBECONFORM_VERSION:?}"
  "actionlint|github.com/rhysd/actionlint/cmd/actionlint|${ACTIONLINT_VERSION:?}"
)

installed=0
for spec in "${specs[@]}"; do
  IFS='|' read -r name pkg version <<<"$spec"
  stamp="$tools_dir/stamps/$name@$version"
  if [[ -f "$stamp" && -x "$tools_dir/bin/$name" ]]; then
    continue
  fi
  echo "tools: go install $pkg@$version"
  GOBIN="$(cd "$tools_dir/bin" && pwd)" GOFLAGS="-trimpath -mod=mod" CGO_ENABLED=0 \
    go install "$pkg@$version"
  rm -f "$tools_dir/stamps/$name@"*
  touch "$stamp"
  installed=$((installed + 1))
done

# The Argo CD module (only its CRDs are used): fetched through the Go module proxy.
crds_stamp="$tools_dir/stamps/argocd-crds@${ARGOCD_VERSION:?}"
if [[ ! -f "$crds_stamp" ]]; then
  echo "tools: go mod download github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION"
  dir=$(GOTOOLCHAIN=${ARGOCD_GOTOOLCHAIN:?} go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))')
  rm -rf "$tools_dir/argocd-crds"
  mkdir -p "$tools_dir/argocd-crds"
  cp "$dir"/manifests/crds/*-crd.yaml "$tools_dir/argocd-crds/"
  chmod -R u+w "$tools_dir/argocd-crds"
  rm -f "$tools_dir/stamps/argocd-crds@"*
  touch "$crds_stamp"
  installed=$((installed + 1))
fi

# Metrics Server's manifests (manifests/base of its Go module, with the module's facts), so
# that a test checks offline that addons/metrics-server/upstream/ is what
# tools/vendor-metrics-server.py makes of the pinned module.
ms_stamp="$tools_dir/stamps/metrics-server-manifests@${METRICS_SERVER_VERSION:?}"
if [[ ! -f "$ms_stamp" ]]; then
  echo "tools: go mod download sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION"
  info=$(go mod download -json "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION")
  dir=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))' <<<"$info")
  rm -rf "$tools_dir/metrics-server-manifests"
  mkdir -p "$tools_dir/metrics-server-manifests"
  cp "$dir"/manifests/base/*.yaml "$tools_dir/metrics-server-manifests/"
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({k: d[k] for k in ("Path", "Version", "Sum")}))' \
    <<<"$info" >"$tools_dir/metrics-server-manifests/module.json"
  chmod -R u+w "$tools_dir/metrics-server-manifests"
  rm -f "$tools_dir/stamps/metrics-server-manifests@"*
  touch "$ms_stamp"
  installed=$((installed + 1))
fi

if [[ $installed -eq 0 ]]; then
  echo "tools: all pinned tools already installed in $tools_dir (nothing to do)"
fi
