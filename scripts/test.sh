#!/usr/bin/env bash
# The README's one test command (CI runs it through .ci/run). Two environments, both must pass:
#   1. .venv-test, Python 3.11: torch 2.11, PyTorch3D, bpy 5.0.1 (Blender 4.2-5.0's Python): the whole suite;
#   2. .venv-test-blender52, Python 3.13: torch 2.11, bpy 5.2.3 (Blender 5.1+'s Python): the add-on tests
#      (tests/test_addon_*.py) again, on Blender 5.2.
# Extra arguments go to pytest and run only the first, e.g. `bash scripts/test.sh tests/test_meshes.py -x`;
# UNRENDER_TEST_BLENDER52=only runs only the second (with the arguments), =0 skips it, =1 runs it with arguments.
# Python 3.13 is $PYTHON313, else python3.13 on PATH, else pyenv's 3.13.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
venv=${UNRENDER_TEST_VENV:-.venv-test}
venv52=${UNRENDER_TEST_VENV_BLENDER52:-.venv-test-blender52}
workers=${UNRENDER_TEST_WORKERS:-2}
blender52=${UNRENDER_TEST_BLENDER52:-$([ $# -eq 0 ] && echo 1 || echo 0)}

find_python313() {
    local candidates=("${PYTHON313:-}" "$(command -v python3.13 || true)")
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)"/versions/3.13*/bin/python3.13)
    fi
    candidates+=("${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13)
    local c
    for c in "${candidates[@]}"; do
        # A pyenv shim is on PATH even where it cannot run 3.13: try each.
        if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

status=0
if [ "$blender52" != only ]; then
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r requirements-test.txt -e ".[test]"
    # Two workers for two cores; pytest exits non-zero when no test ran, which fails the run.
    "$venv/bin/python" -m pytest -n "$workers" "$@" || status=$?
fi

if [ "$blender52" != 0 ]; then
    if [ ! -x "$venv52/bin/python" ]; then
        if ! python313=$(find_python313); then
            echo "error: the Blender 5.2 add-on tests need Python 3.13 (bpy 5.2.3 exists for it only), and none" \
                 "was found: set PYTHON313 to a python3.13, put python3.13 on PATH or install it with pyenv" >&2
            exit 2
        fi
        "$python313" -m venv "$venv52"
    fi
    "$venv52/bin/python" -m pip install -q --upgrade pip
    "$venv52/bin/python" -m pip install -q -r requirements-test-blender52.txt -e ".[test]"
    if [ "$blender52" = only ]; then args=("$@"); else args=(); fi
    # One worker per test file: the extension tests build their zips once per file.
    echo "--- the add-on tests on Blender $("$venv52/bin/python" -c 'import bpy; print(bpy.app.version_string)') (Python 3.13)"
    "$venv52/bin/python" -m pytest -n "$workers" --dist loadfile tests/test_addon_*.py "${args[@]}" || status=$?
fi
exit "$status"
