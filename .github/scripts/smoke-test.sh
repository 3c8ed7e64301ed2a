#!/usr/bin/env bash
# Smoke-test a built image the way the Deployment runs it: numeric non-root user,
# read-only root filesystem with a tmpfs at /tmp, no capabilities. Then check
# /readyz, /version (the build args) and a graceful stop.
# Usage: smoke-test.sh IMAGE EXPECTED_VERSION EXPECTED_GIT_SHA
set -euo pipefail
image=$1 version=$2 sha=$3
name=flask-app-smoke

cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

docker run -d --name "$name" -p 127.0.0.1:5000:5000 \
  --read-only --tmpfs /tmp --user 10001:10001 --cap-drop ALL \
  --security-opt no-new-privileges "$image" >/dev/null

for _ in $(seq 1 60); do
  if curl -fsS http://127.0.0.1:5000/readyz >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fsS http://127.0.0.1:5000/readyz

body=$(curl -fsS http://127.0.0.1:5000/version)
echo "$body"
python3 - "$body" "$version" "$sha" <<'PY'
import json, sys
body, version, sha = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
assert body["version"] == version, body
assert body["commit"] == sha, body
PY

[[ "$(docker exec "$name" id -u)" == "10001" ]] || { echo "not running as 10001" >&2; exit 1; }
[[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$name")" == "true" ]]
if docker exec "$name" sh -c 'touch /app/probe' 2>/dev/null; then
  echo "root filesystem is writable" >&2
  exit 1
fi

docker stop --time 40 "$name" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
[[ "$code" == "0" ]] || { echo "exit code $code after SIGTERM" >&2; docker logs "$name" >&2; exit 1; }
echo "smoke test passed"
