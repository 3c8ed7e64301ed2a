#!/usr/bin/env bash
# Give this checkout's git the credentials for the dev bump push. With a GitHub App
# configured (BUMP_APP_ID variable, BUMP_APP_PRIVATE_KEY secret), a one-hour
# installation token limited to this repository and contents: write; the App is what
# the branch protection of main lets push (docs/supply-chain.md). Without one, the workflow token,
# which a protected main refuses: the bump then fails visibly.
# Usage: push-credentials.sh   (APP_ID, APP_PRIVATE_KEY, WORKFLOW_TOKEN, GITHUB_* in env)
set -euo pipefail

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# A JWT signed with the App's key (RS256), valid for ten minutes, to ask for the token.
app_jwt() {
  local now header payload signature
  now=$(date +%s)
  header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
  payload=$(printf '{"iat":%d,"exp":%d,"iss":"%s"}' $((now - 60)) $((now + 540)) "$APP_ID" | b64url)
  signature=$(printf '%s.%s' "$header" "$payload" |
    openssl dgst -sha256 -sign <(printf '%s\n' "$APP_PRIVATE_KEY") | b64url)
  printf '%s.%s.%s' "$header" "$payload" "$signature"
}

api() {
  curl --fail --silent --show-error --proto '=https' -H "Authorization: Bearer $jwt" \
    -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28" "$@"
}

if [[ -n "${APP_ID:-}" ]]; then
  if [[ ! "$APP_ID" =~ ^[0-9]+$ || -z "${APP_PRIVATE_KEY:-}" ]]; then
    echo "push-credentials: BUMP_APP_ID must be the App's numeric id and BUMP_APP_PRIVATE_KEY its key" >&2
    exit 1
  fi
  jwt=$(app_jwt)
  installation=$(api "$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/installation" | jq -er .id)
  token=$(api -X POST "$GITHUB_API_URL/app/installations/$installation/access_tokens" \
    -d "{\"repositories\":[\"${GITHUB_REPOSITORY#*/}\"],\"permissions\":{\"contents\":\"write\"}}" |
    jq -er .token)
  echo "::add-mask::$token"
  echo "push-credentials: GitHub App $APP_ID (installation $installation), contents: write on $GITHUB_REPOSITORY"
else
  token=${WORKFLOW_TOKEN:?neither a GitHub App (BUMP_APP_ID) nor the workflow token}
  echo "push-credentials: the workflow token (no BUMP_APP_ID variable; a protected main refuses it)"
fi
# The form actions/checkout uses: an extra header for this server only, in this clone.
basic=$(printf 'x-access-token:%s' "$token" | openssl base64 -A)
echo "::add-mask::$basic"
git config --local "http.$GITHUB_SERVER_URL/.extraheader" "AUTHORIZATION: basic $basic"
