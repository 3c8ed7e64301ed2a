#!/usr/bin/env bash
# Post or update one pull-request comment with `gitops diff --base BASE`.
# Usage: diff-comment.sh BASE_SHA PR_NUMBER   (GH_TOKEN and GITHUB_REPOSITORY in env)
set -euo pipefail
base=$1 pr=$2
marker="<!-- flask-gitops rendered diff -->"

if git diff --quiet "$base" HEAD -- apps clusters argocd; then
  echo "no change under apps/, clusters/ or argocd/: no comment"
  exit 0
fi
make venv tools >/dev/null

out=$(mktemp)
set +e
.venv/bin/gitops diff --base "$base" >"$out"
rc=$?
set -e
[[ $rc -le 1 ]] || { cat "$out"; exit "$rc"; }

body=$(mktemp)
{
  echo "$marker"
  echo "### What Argo CD will change"
  echo
  echo '```diff'
  head -c 60000 "$out"
  echo '```'
} >"$body"

id=$(gh api "repos/$GITHUB_REPOSITORY/issues/$pr/comments" --paginate \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1)
if [[ -n "$id" ]]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" -F "body=@$body" >/dev/null
else
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$pr/comments" -F "body=@$body" >/dev/null
fi
