#!/usr/bin/env bash
# Print step outputs for the release: image name (from gitops.yaml, its one home),
# registry host, the sha-<7> tag, semver tags on v* tags, version and build date.
set -euo pipefail

image=$(sed -n 's/^image: *//p' gitops.yaml)
if [[ -z "$image" ]]; then
  echo "image-meta: gitops.yaml: field image: missing" >&2
  exit 1
fi
# The workflow token may reach one registry only: this repository's own package
# registry (its host is the repository variable IMAGE_REGISTRY, set by an admin, out of
# reach of a pull request), under the repository owner's namespace. Anything else is
# refused here, before any login; pushing elsewhere takes that registry's own
# credentials (docs/supply-chain.md).
registry=${IMAGE_REGISTRY:-}
if [[ ! "$registry" =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$ ]]; then
  echo "image-meta: the repository variable IMAGE_REGISTRY is not a registry host (\"$registry\");" \
    "set it to this forge's container registry host (Settings, Actions variables);" \
    "the workflow token is sent nowhere else." >&2
  exit 1
fi
owner=${GITHUB_REPOSITORY_OWNER:?GITHUB_REPOSITORY_OWNER is not set}
namespace="$registry/${owner,,}"
if [[ "$image" != "$namespace/"?* ]]; then
  echo "image-meta: gitops.yaml: image $image is not in this repository's package registry" \
    "($namespace/...); the workflow token is sent nowhere else." \
    "Run: gitops configure --image $namespace/flask-app" >&2
  exit 1
fi
short=${GITHUB_SHA:0:7}
tag="sha-$short"
tags="$image:$tag"
version="0.0.0-$short"
if [[ "${GITHUB_REF:-}" =~ ^refs/tags/v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}
  version="$major.$minor.$patch"
  tags="$tags,$image:$version,$image:$major.$minor"
fi
echo "image=$image"
echo "registry=$registry"
echo "tag=$tag"
echo "tags=$tags"
echo "version=$version"
echo "build_date=$(date -u -d "@$(git log -1 --format=%ct)" +%Y-%m-%dT%H:%M:%SZ)"
