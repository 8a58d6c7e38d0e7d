#!/usr/bin/env bash
# CI: build the Linux bundle from scratch and run the frozen self-test, the way a user
# gets RouteDesk. Called by .ci/run after the test suite:
#
#   bash packaging/ci-build.sh
#
# 1. a fresh virtual environment with RouteDesk, its UI extras and PyInstaller only
#    (no test dependencies; nothing cached from an earlier run);
# 2. bash packaging/build.sh -> dist/RouteDesk/ and dist/RouteDesk-<version>-linux-x86_64.tar.gz;
# 3. the tarball is unpacked and installed with its install.sh into a throwaway HOME, and the
#    installed app runs `--self-test` offscreen inside a private D-Bus session with a fresh
#    GNOME keyring (scripts/with-keyring.sh);
# 4. fails if the tarball is over the size budget (70 MB) or any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
MAX_MB="${ROUTEDESK_MAX_TARBALL_MB:-70}"

t_start=$(date +%s)
work="$(mktemp -d "${TMPDIR:-/tmp}/routedesk-ci-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "== packaging: fresh venv (RouteDesk[ui] + PyInstaller, no test tools) =="
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$work/venv/bin/python" -m pip install -q ".[ui]" pyinstaller
t_venv=$(date +%s)

echo "== packaging: build =="
rm -rf build/pyinstaller build/tarball
PYTHON="$work/venv/bin/python" bash packaging/build.sh
t_build=$(date +%s)

VERSION="$("$work/venv/bin/python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"
TARBALL="dist/RouteDesk-$VERSION-linux-$(uname -m).tar.gz"
bytes=$(stat -c %s "$TARBALL")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')

echo "== packaging: install the tarball into a throwaway HOME =="
mkdir -p "$work/unpack" "$work/home"
tar -C "$work/unpack" -xzf "$TARBALL"
HOME="$work/home" XDG_DATA_HOME= bash "$work/unpack/RouteDesk-$VERSION-linux-$(uname -m)/install.sh"
APP="$work/home/.local/bin/routedesk"
test -f "$work/home/.local/share/applications/routedesk.desktop"

echo "== packaging: frozen self-test (offscreen, real Secret Service) =="
status=0
t_test0=$(date +%s.%N)
QT_QPA_PLATFORM=offscreen ROUTEDESK_HOME="$work/home/data" scripts/with-keyring.sh "$APP" --self-test || status=$?
t_test1=$(date +%s.%N)
if [ "$status" -eq 0 ] && command -v xvfb-run >/dev/null 2>&1; then
    echo "== packaging: the window on a real X server (Xvfb, xcb platform plugin) =="
    QT_QPA_PLATFORM=xcb ROUTEDESK_SELFTEST_ONLY=qt,images,icons,window ROUTEDESK_HOME="$work/home/data" \
        xvfb-run -a -s "-screen 0 1280x800x24" "$APP" --self-test || status=$?
fi

echo "== packaging: summary =="
echo "tarball: $TARBALL, $mb MB (budget $MAX_MB MB); app folder $(du -sh dist/RouteDesk | cut -f1)"
echo "times: venv $((t_venv - t_start)) s, build $((t_build - t_venv)) s, self-test $(awk -v a="$t_test0" -v b="$t_test1" 'BEGIN { printf "%.1f", b - a }') s, total $(( $(date +%s) - t_start )) s"
if [ "$status" -ne 0 ]; then
    echo "The frozen self-test failed (exit $status): see the FAIL lines above." >&2
    exit "$status"
fi
if awk -v m="$mb" -v max="$MAX_MB" 'BEGIN { exit !(m > max) }'; then
    echo "The tarball is $mb MB, over the $MAX_MB MB budget." >&2
    exit 1
fi
echo "packaging: frozen app OK"
