#!/usr/bin/env bash
# Build the web UI of the pinned Argo CD into CACHE_DIR/argocd/<version>/ui/app, once.
#
# The module zip holds only a placeholder ui/dist/app; the real UI is built from the
# module's ui/ folder with the pnpm version its package.json names (from the npm
# registry). Its one dependency that no registry serves, argo-ui, is a git tarball
# upstream: when ARGO_UI_TARBALL names a file (the Makefile sets it to the offline copy
# in ../shared/vendor/ when that exists) the build takes argo-ui from it instead.
# That offline copy is an older argo-ui than the one Argo CD pins, so the build first
# applies tools/patches/argo-ui-*.patch to it (the react-toastify 11 change that Argo CD's
# React 19 UI needs; without it every notification crashes the page with React error #130)
# and hands pnpm the patched tarball.
# The cache key is the Argo CD version plus the argo-ui source and its patches, so
# changing any of them rebuilds. Source maps are dropped: they would add 24 MB to the binary.
set -euo pipefail

cache_dir=${1:?usage: tools/build-argocd-ui.sh CACHE_DIR}
version=${ARGOCD_VERSION:?}
pnpm_version=${PNPM_VERSION:?}
tarball=${ARGO_UI_TARBALL:-}
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "error: $tool is not installed; install Node.js 20 or newer and re-run 'make e2e-tools'" >&2
    exit 1
  }
done

out="$cache_dir/argocd/$version/ui"
if [[ -n "$tarball" ]]; then
  [[ -f "$tarball" ]] || { echo "error: ARGO_UI_TARBALL=$tarball: no such file" >&2; exit 1; }
  tarball="$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")"
  patches=("$(cd "$(dirname "$0")" && pwd)"/patches/argo-ui-*.patch)
  [[ -f "${patches[0]}" ]] || patches=()
  ui_id="argocd-$version argo-ui-sha256:$(cat "$tarball" ${patches[@]+"${patches[@]}"} | sha256sum | cut -d' ' -f1)"
else
  ui_id="argocd-$version argo-ui-upstream"
fi
if [[ -f "$out/.complete" && "$(cat "$out/.complete")" == "$ui_id" ]]; then
  echo "e2e-tools: Argo CD $version web UI already built in $out (nothing to do)"
  exit 0
fi

started=$(date +%s)
pnpm_dir="$cache_dir/pnpm/$pnpm_version"
if [[ ! -x "$pnpm_dir/node_modules/.bin/pnpm" ]]; then
  echo "e2e-tools: npm install pnpm@$pnpm_version"
  npm install --silent --no-audit --no-fund --prefix "$pnpm_dir" "pnpm@$pnpm_version" >/dev/null
fi
pnpm="$pnpm_dir/node_modules/.bin/pnpm"

src=$(GOTOOLCHAIN=${ARGOCD_GOTOOLCHAIN:?} go mod download -json "github.com/argoproj/argo-cd/v3@$version" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))')
work="$cache_dir/argocd/$version/ui-build"
# The cached UI is replaced only by a build that finished: a failed one (no network for the
# upstream argo-ui, say) leaves the last good UI for every other clone of this user.
rm -rf "$work"
mkdir -p "$(dirname "$work")"
trap 'rm -rf "$work"' EXIT
cp -r "$src/ui" "$work"
chmod -R u+w "$work"
if [[ -n "$tarball" ]]; then
  echo "e2e-tools: argo-ui from $tarball (offline copy)"
  if ((${#patches[@]})); then
    mkdir "$work/.argo-ui"
    tar -xzf "$tarball" -C "$work/.argo-ui"
    for p in "${patches[@]}"; do
      if patch -d "$work/.argo-ui/package" -p1 --forward --silent --dry-run <"$p" >/dev/null; then
        patch -d "$work/.argo-ui/package" -p1 --forward --silent <"$p"
        echo "e2e-tools: argo-ui patched with ${p##*/}"
      elif patch -d "$work/.argo-ui/package" -p1 --reverse --silent --dry-run <"$p" >/dev/null; then
        echo "e2e-tools: argo-ui already has ${p##*/} (skipped)"
      else
        echo "error: ${p##*/} does not apply to $tarball; update or remove the patch" >&2
        exit 1
      fi
    done
    tar -czf "$work/.argo-ui/argo-ui.tgz" -C "$work/.argo-ui" package
    tarball="$work/.argo-ui/argo-ui.tgz"
  fi
  (cd "$work" && ARGO_UI="file:$tarball" node -e '
    const fs = require("fs");
    const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
    pkg.dependencies["argo-ui"] = process.env.ARGO_UI;
    fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\n");
  ')
fi
echo "e2e-tools: building the Argo CD $version web UI (first time: about 4 minutes)"
(
  cd "$work"
  CI=true "$pnpm" install --no-frozen-lockfile --reporter=silent || {
    if [[ -z "$tarball" && -f "$out/.complete" ]]; then
      # A clone without ../shared/vendor beside it, on a machine that cannot reach argo-ui's
      # git URL: this user already built Argo CD's UI for this version (from an offline copy).
      echo "e2e-tools: argo-ui's upstream git URL did not answer and no offline copy is set" \
        "(ARGO_UI_TARBALL); using the web UI already built for Argo CD $version ($(cat "$out/.complete"))" >&2
      exit 3
    fi
    if [[ -z "$tarball" ]]; then
      echo "error: the web UI's dependencies did not install; argo-ui comes from its upstream git URL" \
        "without an offline copy: set ARGO_UI_TARBALL=/path/to/argo-ui-<commit>.tgz (the Makefile looks in" \
        "../shared/vendor/ beside the checkout); the cached UI was kept" >&2
    fi
    exit 1
  }
  NODE_ENV=production NODE_ONLINE_ENV=online "$pnpm" build >build.log 2>&1 || {
    tail -40 build.log >&2
    exit 1
  }
) || {
  status=$?
  [[ $status == 3 ]] && exit 0 # the UI already built for this version stays (said above)
  exit "$status"
}
find "$work/dist/app" -name '*.map' -delete
rm -rf "$out.new"
mkdir -p "$out.new"
mv "$work/dist/app" "$out.new/app"
echo "$ui_id" >"$out.new/.complete"
rm -rf "$out"
mv "$out.new" "$out"
echo "e2e-tools: web UI built in $(($(date +%s) - started))s ($(du -sh "$out/app" | cut -f1))"
