#!/usr/bin/env bash
# Set up the test environment in .venv-test (torch 2.11 + PyTorch3D + bpy) and run the whole suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/test_meshes.py -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
venv=${UNRENDER_TEST_VENV:-.venv-test}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r requirements-test.txt -e ".[test]"
# Two workers for two cores; pytest exits non-zero when no test ran, which fails the run.
exec "$venv/bin/python" -m pytest -n "${UNRENDER_TEST_WORKERS:-2}" "$@"
