#!/usr/bin/env bash
# Verify IMAGE@DIGEST's keyless signature before anything deploys it. The certificate
# must have been issued by GitHub Actions' OIDC issuer to this repository's release
# workflow, run from main for a push, at this very commit: a signature made by a fork,
# another workflow, another branch or another commit fails the job.
# Usage: verify-image.sh IMAGE DIGEST   (GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_SHA in env)
set -euo pipefail
image=$1 digest=$2
if [[ ! "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "verify-image: digest '$digest': expected sha256: and 64 hex digits" >&2
  exit 2
fi
identity="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/.github/workflows/release.yml@refs/heads/main"
cosign verify \
  --certificate-identity "$identity" \
  --certificate-oidc-issuer https://token.actions.githubusercontent.com \
  --certificate-github-workflow-repository "$GITHUB_REPOSITORY" \
  --certificate-github-workflow-ref refs/heads/main \
  --certificate-github-workflow-sha "$GITHUB_SHA" \
  --certificate-github-workflow-trigger push \
  "$image@$digest" >/dev/null
echo "verify-image: $image@$digest is signed by $identity at $GITHUB_SHA"
