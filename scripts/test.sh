#!/usr/bin/env bash
# Install RouteDesk with its test extras and run the whole test suite, the way CI does.
#
#   bash scripts/test.sh [pytest args...]
#
# Two virtual environments: .venv-core has no Qt at all and runs everything but
# tests/ui (proving the engine, router, providers and storage never need Qt);
# .venv has the UI extras and runs tests/ui. Both run inside a private D-Bus session
# with a fresh GNOME keyring, so the real OS keyring is what the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

need_pkgs=()
for tool in dbus-run-session gnome-keyring-daemon; do
    command -v "$tool" >/dev/null 2>&1 || need_pkgs+=(dbus gnome-keyring)
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "Missing system packages for the keyring tests: install dbus and gnome-keyring (Debian/Ubuntu: apt-get install dbus gnome-keyring)." >&2
    exit 2
fi

setup_venv() {  # name extras
    local dir="$1" extras="$2"
    if [ ! -x "$dir/bin/python" ]; then
        "$PY" -m venv "$dir"
    fi
    "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$dir/bin/python" -m pip install -q -e ".[$extras]"
}

setup_venv .venv-core test
setup_venv .venv "ui,test,test-ui"

status=0
echo "== core suite (no Qt installed) =="
scripts/with-keyring.sh .venv-core/bin/python -m pytest -p no:cacheprovider --ignore=tests/ui --ignore=tests/packaging "$@" || status=$?
echo "== UI and packaging suite (Qt offscreen) =="
scripts/with-keyring.sh .venv/bin/python -m pytest -p no:cacheprovider tests/ui tests/packaging "$@" || status=$?
exit $status
