#!/usr/bin/env bash
# The main job on the sandbox: start it, plan, apply, plan again, stop it.
# Run through `make demo` (which installs everything first).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(litemaas-state sandbox up)"
trap 'litemaas-state sandbox down' EXIT
# A copy of the shipped state file inside the sandbox directory: its verified dumps (backup.directory is
# resolved against the state file's directory) land there and go with `sandbox down`, not in the repository.
STATE="$LITEMAAS_SANDBOX_DIR/litellm-rhpds.yaml"
cp state/litellm-rhpds.yaml "$STATE"

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
