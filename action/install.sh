#!/usr/bin/env bash
# Install step of the composite action (action.yml): put the gate from the action's own
# checkout into an isolated virtual environment, never into the user's Python.
#
# Environment (set by action.yml from its inputs; never interpolated into this script):
#   GATE_ACTION_PATH  the action's checkout (github.action_path)
#   INPUT_VENV        the venv directory; default $RUNNER_TEMP/acs-image-gate
#   INPUT_PYTHON      the interpreter that creates the venv; default python3 (3.10 or newer)
# A venv that already holds the gate is reused as it is, so a job that runs the action
# several times installs once (RUNNER_TEMP is emptied between jobs).
# Step outputs: gate (the console script) and python (the venv's interpreter).
set -euo pipefail

venv="${INPUT_VENV:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/acs-image-gate}"
python="${INPUT_PYTHON:-python3}"

locate() {
  if [ -x "$venv/bin/gate" ]; then
    gate="$venv/bin/gate" py="$venv/bin/python"
  elif [ -f "$venv/Scripts/gate.exe" ]; then  # Windows runners (Git Bash)
    gate="$venv/Scripts/gate.exe" py="$venv/Scripts/python.exe"
  else
    return 1
  fi
}

if locate; then
  echo "Reusing the gate installed in $venv"
else
  if [ -z "${GATE_ACTION_PATH:-}" ] || [ ! -f "$GATE_ACTION_PATH/pyproject.toml" ]; then
    echo "::error title=Image gate::the action's checkout (github.action_path) was not found"
    exit 2
  fi
  echo "Installing the gate from $GATE_ACTION_PATH into $venv"
  "$python" -m venv "$venv"
  venv_python="$venv/bin/python"
  [ -x "$venv_python" ] || venv_python="$venv/Scripts/python.exe"
  "$venv_python" -m pip install --disable-pip-version-check --no-input --quiet "$GATE_ACTION_PATH"
  locate
fi
"$gate" --version
{
  echo "gate=$gate"
  echo "python=$py"
} >> "${GITHUB_OUTPUT:-/dev/null}"
