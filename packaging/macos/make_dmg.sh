#!/usr/bin/env bash
# Wrap dist/RouteDesk.app in a compressed disk image with an Applications shortcut.
#
#   bash packaging/build.sh && bash packaging/macos/make_dmg.sh
#   -> dist/RouteDesk-<version>-macos-<arch>.dmg
#
# The app is ad-hoc signed by PyInstaller; set MACOS_SIGN_IDENTITY to sign it with a
# Developer ID first (notarisation is a separate step, not done here).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
APP="dist/RouteDesk.app"
if [ ! -d "$APP" ]; then
    echo "There is no $APP: build it first with bash packaging/build.sh (on macOS)." >&2
    exit 1
fi
VERSION="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"
DMG="dist/RouteDesk-$VERSION-macos-$(uname -m).dmg"

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
    codesign --force --deep --options runtime --timestamp --sign "$MACOS_SIGN_IDENTITY" "$APP"
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp -R "$APP" "$stage/"
ln -s /Applications "$stage/Applications"
rm -f "$DMG"
# hdiutil now and then fails with "Resource busy" on CI machines: try again.
for attempt in 1 2 3; do
    if hdiutil create -volname "RouteDesk $VERSION" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$DMG"; then
        break
    fi
    if [ "$attempt" = 3 ]; then
        echo "hdiutil could not create $DMG." >&2
        exit 1
    fi
    sleep 5
done
hdiutil verify "$DMG" >/dev/null
echo "Disk image: $DMG ($(du -h "$DMG" | cut -f1))"
