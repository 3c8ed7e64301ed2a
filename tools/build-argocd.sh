#!/usr/bin/env bash
# Build the pinned Argo CD for `make e2e` and `make up` into CACHE_DIR/argocd/<version>/, once.
#
#   1. the web UI, from the module's ui/ folder (pnpm; tools/build-argocd-ui.sh), cached
#      by Argo CD version and argo-ui source;
#   2. one multi-call binary (github.com/argoproj/argo-cd/v3/cmd) with that UI embedded,
#      built from a copy of the wrapper module in tools/argocd next to a copy of the Argo CD
#      module (the UI lands in its ui/dist/app; `go build -overlay` refuses module-cache
#      files); the component is chosen by the file name, so bin/ holds symlinks named
#      argocd-server, argocd-repo-server, argocd-application-controller, ...
#
# Argo CD v3.6 needs Go 1.27: GOTOOLCHAIN is set for this build only, and the go command
# fetches that toolchain through the module proxy. A second run builds nothing.
set -euo pipefail

cache_dir=${1:?usage: tools/build-argocd.sh CACHE_DIR}
# shellcheck source=tools/lib.sh
source "${0%/*}/lib.sh"
need_go e2e-tools
version=${ARGOCD_VERSION:?}
export GOTOOLCHAIN=${ARGOCD_GOTOOLCHAIN:?}
module=github.com/argoproj/argo-cd/v3

need_pins argocd/go.mod "require $module $version" "^require $module $version\$"

out="$cache_dir/argocd/$version"
"$here/build-argocd-ui.sh" "$cache_dir"
ui="$out/ui"
ui_id=$(cat "$ui/.complete")
if [[ -f "$out/bin/.complete" && "$(cat "$out/bin/.complete")" == "$ui_id" ]]; then
  echo "e2e-tools: Argo CD $version already built in $out/bin (nothing to do)"
  exit 0
fi

started=$(date +%s)
echo "e2e-tools: building Argo CD $version with its web UI (first time: about 8 minutes)"
src=$(go mod download -json "$module@$version" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))')
work="$out/build"
rm -rf "$work" "${out:?}/bin"
mkdir -p "$work" "$out/bin"
trap 'rm -rf "$work"' EXIT
cp "$here/argocd/go.mod" "$here/argocd/go.sum" "$here/argocd/tools.go" "$work/"
cp -r "$src" "$work/argo-cd"
chmod -R u+w "$work/argo-cd"
rm -rf "$work/argo-cd/ui/dist/app"
cp -r "$ui/app" "$work/argo-cd/ui/dist/app"
(
  cd "$work"
  go mod edit -replace "$module=./argo-cd"
  pkg=$module/common
  ldflags="-s -w -X $pkg.version=${version#v} -X $pkg.gitTag=$version -X $pkg.gitTreeState=clean"
  ldflags="$ldflags -X $pkg.gitCommit=module-proxy -X $pkg.buildDate=1970-01-01T00:00:00Z"
  CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/bin/argocd" "$module/cmd"
)
for name in argocd-server argocd-repo-server argocd-application-controller \
  argocd-applicationset-controller argocd-notifications argocd-git-ask-pass; do
  ln -sf argocd "$out/bin/$name"
done
"$out/bin/argocd" version --client --short
echo "$ui_id" >"$out/bin/.complete"
echo "e2e-tools: Argo CD built in $(($(date +%s) - started))s"
