#!/usr/bin/env bash
# Build tools/argocd/appset-render (the ApplicationSet renderer `gitops validate` runs:
# Argo CD's own generator and template code, linked from the pinned argo-cd/v3 module) into
# CACHE_DIR/appset-render/<version>-<source hash>/, once, and link it as TOOLS_DIR/bin/appset-render.
#
#   tools/build-appset-render.sh TOOLS_DIR CACHE_DIR
#
# It is a package of the tools/argocd wrapper module, so it links exactly the Argo CD that
# `make e2e-tools` builds (one go.mod, one replace block). The cache key is the Argo CD
# version and the hash of that module's go.mod, go.sum and the renderer's sources: a second
# run builds nothing, and validation never needs the network (the module cache is filled here).
# The first build compiles Argo CD's packages (about 10 minutes on 2 cores; seconds when the
# Go build cache already holds them, e.g. after `make e2e-tools`).
set -euo pipefail

tools_dir=${1:?usage: tools/build-appset-render.sh TOOLS_DIR CACHE_DIR}
cache_dir=${2:?usage: tools/build-appset-render.sh TOOLS_DIR CACHE_DIR}
# shellcheck source=tools/lib.sh
source "${0%/*}/lib.sh"
need_go tools
version=${ARGOCD_VERSION:?}
module=github.com/argoproj/argo-cd/v3
need_pins argocd/go.mod "require $module $version" "^require $module $version\$"

hash=$(cd "$here/argocd" && cat go.mod go.sum appset-render/*.go | sha256sum | cut -c1-12)
out="$cache_dir/appset-render/$version-$hash"
link="$tools_dir/bin/appset-render"
mkdir -p "$tools_dir/bin"
if [[ -x "$out/appset-render" ]]; then
  if [[ "$(readlink "$link" 2>/dev/null)" != "$out/appset-render" ]]; then
    ln -sfn "$out/appset-render" "$link"
  fi
  exit 0
fi

started=$(date +%s)
echo "tools: building appset-render (Argo CD $version's ApplicationSet code; first time: about 10 minutes)"
mkdir -p "$out"
(
  cd "$here/argocd"
  export GOTOOLCHAIN=${ARGOCD_GOTOOLCHAIN:?}
  # The flags of tools/build-argocd.sh, so that the two builds share the Go build cache.
  CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/appset-render.tmp" ./appset-render
)
mv "$out/appset-render.tmp" "$out/appset-render"
ln -sfn "$out/appset-render" "$link"
echo "tools: appset-render built in $(($(date +%s) - started))s ($out)"
