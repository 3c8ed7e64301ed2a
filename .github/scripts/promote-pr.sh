#!/usr/bin/env bash
# Open or update the one promotion pull request for TO. FROM and TO are untrusted
# input: `gitops promote` validates them (known environments, configured order)
# before anything is written.
# Usage: promote-pr.sh FROM TO   (GH_TOKEN in env)
set -euo pipefail
from=$1 to=$2
body=$(mktemp)

branch="promote/$to"
git config user.name "github-actions[bot]"
git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
git switch --quiet -C "$branch"
before=$(git rev-parse HEAD)
# --pr-body prints the title and body; --commit also makes the edit, on this branch.
# The on-deployed event comes as soon as Argo CD sees FROM healthy; --wait re-checks the
# gate (every 5 s) until health has been stable for healthyFor or FROM's soak (gitops.yaml).
.venv/bin/gitops promote "$from" "$to" --pr-body --commit --wait "${PROMOTE_WAIT:-20m}" >"$body"
if [ "$(git rev-parse HEAD)" = "$before" ]; then
  echo "$to already runs what $from runs: nothing to propose"
  exit 0
fi

title=$(head -n 1 "$body")
git commit --quiet --amend -m "$title"
git push --force origin "$branch"

tail -n +3 "$body" >"$body.md"
if gh pr view "$branch" --json state --jq .state 2>/dev/null | grep -q OPEN; then
  gh pr edit "$branch" --title "$title" --body-file "$body.md"
else
  gh pr create --base main --head "$branch" --title "$title" --body-file "$body.md"
fi
