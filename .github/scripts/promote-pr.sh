#!/usr/bin/env bash
# Open or update the one promotion pull request for TO. FROM and TO are untrusted
# input: `gitops promote` validates them (known environments, configured order)
# before anything is written.
# Usage: promote-pr.sh FROM TO   (GH_TOKEN in env)
set -euo pipefail
from=$1 to=$2
body=$(mktemp)

.venv/bin/gitops promote "$from" "$to" --pr-body >"$body"
if git diff --quiet; then
  echo "$to already runs what $from runs: nothing to propose"
  exit 0
fi

branch="promote/$to"
title=$(head -n 1 "$body")
git config user.name "github-actions[bot]"
git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
git switch -C "$branch"
git commit --quiet -am "$title"
git push --force origin "$branch"

tail -n +3 "$body" >"$body.md"
if gh pr view "$branch" --json state --jq .state 2>/dev/null | grep -q OPEN; then
  gh pr edit "$branch" --title "$title" --body-file "$body.md"
else
  gh pr create --base main --head "$branch" --title "$title" --body-file "$body.md"
fi
