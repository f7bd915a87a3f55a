#!/usr/bin/env bash
# The main job on the sandbox: start it, plan, apply, plan again, stop it.
# Run through `make demo` (which installs everything first).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=state/litellm-rhpds.yaml

eval "$(litemaas-state sandbox up)"
trap 'litemaas-state sandbox down' EXIT

echo "== litemaas-state plan $STATE"
set +e; litemaas-state plan "$STATE" --detailed-exitcode; code=$?; set -e
echo "== plan exit code: $code (2 = changes)"

echo "== litemaas-state apply $STATE --auto-approve"
litemaas-state apply "$STATE" --auto-approve

echo "== litemaas-state plan $STATE (again)"
set +e; litemaas-state plan "$STATE" --detailed-exitcode; code=$?; set -e
echo "== plan exit code: $code (0 = no changes)"

echo "== litemaas-state status $STATE"
litemaas-state status "$STATE"
