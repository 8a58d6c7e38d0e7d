#!/usr/bin/env bash
# The static checks CI runs, from the same virtual environment as the core suite:
#
#   bash scripts/lint.sh                 install the lint extra, then ruff, mypy, import contracts
#   bash scripts/lint.sh ruff [FILES]    one check only, without installing (pre-commit uses these)
#   bash scripts/lint.sh mypy
#   bash scripts/lint.sh imports
#
# ruff and mypy read their settings from pyproject.toml, at the versions pinned in its `lint`
# extra; the import contracts (ui -> engine -> {router, providers, storage} -> core) are
# import-linter's, also in pyproject.toml. Every check runs even when an earlier one fails;
# the exit status is non-zero if any did.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV="${ROUTEDESK_LINT_VENV:-.venv-core}"

install() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q -e ".[test,lint]"
}

ruff_check() { "$VENV/bin/python" -m ruff check --force-exclude "$@"; }
mypy_check() { "$VENV/bin/python" -m mypy; }
imports_check() { "$VENV/bin/lint-imports" --no-cache; }

if [ $# -gt 0 ]; then
    what="$1"
    shift
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import ruff, mypy, importlinter" 2>/dev/null; then
        install
    fi
    case "$what" in
        ruff) ruff_check "${@:-.}" ;;
        mypy) mypy_check ;;
        imports) imports_check ;;
        *) echo "unknown check '$what' (ruff, mypy or imports)" >&2; exit 2 ;;
    esac
    exit
fi

install
status=0
echo "== ruff =="
ruff_check . || status=$?
echo "== mypy =="
mypy_check || status=$?
echo "== import contracts =="
imports_check || status=$?
exit $status
