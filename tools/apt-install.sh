#!/usr/bin/env bash
# Install Debian packages that are not installed yet: tools/apt-install.sh PACKAGE[=VERSION]...
# A pinned package counts as installed only at that version. Refreshes the package lists
# only when a package cannot be found without it.
set -euo pipefail
missing=()
for package in "$@"; do
  name=${package%%=*}
  want=${package#*=}
  [[ $want == "$package" ]] && want=""
  status=$(dpkg-query -W -f '${Status} ${Version}' "$name" 2>/dev/null || true)
  if [[ $status != "install ok installed "* ]] || { [[ -n $want ]] && [[ ${status##* } != "$want" ]]; }; then
    missing+=("$package")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing Debian packages (${missing[*]}) and no apt-get here; install them by hand" >&2
  exit 1
fi
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "apt: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
