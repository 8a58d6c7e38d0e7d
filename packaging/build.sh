#!/usr/bin/env bash
# Build the RouteDesk one-folder app with PyInstaller, and on Linux the release tarball.
#
#   bash packaging/build.sh            (Python from $PYTHON, else the active venv's python3)
#
# Needs, in that Python: RouteDesk with its UI extras and PyInstaller
#   (pip install ".[ui]" pyinstaller). Produces:
#   Linux:   dist/RouteDesk/RouteDesk and dist/RouteDesk-<version>-linux-x86_64.tar.gz
#   macOS:   dist/RouteDesk.app  (then: bash packaging/macos/make_dmg.sh)
#   Windows: dist/RouteDesk/RouteDesk.exe (then: iscc packaging/windows/routedesk.iss)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

VERSION="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"
ARCH="$(uname -m)"
case "$(uname -s)" in
    Linux) OS=linux ;;
    Darwin) OS=macos ;;
    MINGW*|MSYS*|CYGWIN*) OS=windows ;;
    *) OS="$(uname -s | tr '[:upper:]' '[:lower:]')" ;;
esac

echo "== PyInstaller: RouteDesk $VERSION for $OS-$ARCH =="
t0=$(date +%s)
rm -rf dist/RouteDesk dist/RouteDesk.app
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/routedesk.spec
t1=$(date +%s)
echo "PyInstaller took $((t1 - t0)) s"

if [ "$OS" != linux ]; then
    echo "App folder: dist/RouteDesk ($(du -sh dist/RouteDesk | cut -f1))"
    exit 0
fi
# PyInstaller links top-level names to libraries the spec pruned; drop those dead links.
find dist/RouteDesk -xtype l -delete
# ICU's locale data (32 MB, 12 MB of the tarball): Qt links ICU for services RouteDesk never
# calls (packaging/linux/icudata_stub.c says which); an empty data library stands in.
# ROUTEDESK_KEEP_ICU_DATA=1 keeps the real one, and so does a machine with no C compiler.
icudata="$(find dist/RouteDesk/_internal -name 'libicudata.so.[0-9]*' -type f | head -n 1)"
if [ -n "$icudata" ] && [ -z "${ROUTEDESK_KEEP_ICU_DATA:-}" ]; then
    major="${icudata##*.so.}"; major="${major%%.*}"
    if command -v "${CC:-cc}" >/dev/null 2>&1; then
        "${CC:-cc}" -O2 -shared -fPIC "-DICU_DATA_SYMBOL=icudt${major}_dat" "-Wl,-soname,libicudata.so.$major" \
            -o "$icudata" packaging/linux/icudata_stub.c
        echo "ICU data: empty stub in place of $(basename "$icudata")"
    else
        echo "ICU data: no C compiler (${CC:-cc}), the full data is kept" >&2
    fi
fi
# Some Pythons (pyenv's, for one) ship libpython and their extension modules with debug
# info; strip only those (wheels' own libraries are already stripped, and stripping the
# auditwheel-patched ones breaks them).
if command -v strip >/dev/null 2>&1; then
    find dist/RouteDesk/_internal -maxdepth 1 -name 'libpython3*.so*' -type f -exec strip --strip-debug {} +
    find dist/RouteDesk/_internal -path '*/lib-dynload/*.so' -type f -exec strip --strip-debug {} +
fi
echo "App folder: dist/RouteDesk ($(du -sh dist/RouteDesk | cut -f1))"

# The Linux tarball: the app, a .desktop file, icons in the usual sizes, install.sh.
NAME="RouteDesk-$VERSION-$OS-$ARCH"
STAGE="build/tarball/$NAME"
rm -rf "build/tarball"
mkdir -p "$STAGE/share/applications"
cp -a dist/RouteDesk "$STAGE/RouteDesk"
cp resources/routedesk.desktop "$STAGE/share/applications/routedesk.desktop"
for png in resources/icons/routedesk-*.png; do
    size="${png##*-}"; size="${size%.png}"
    mkdir -p "$STAGE/share/icons/hicolor/${size}x${size}/apps"
    cp "$png" "$STAGE/share/icons/hicolor/${size}x${size}/apps/routedesk.png"
done
mkdir -p "$STAGE/share/icons/hicolor/scalable/apps"
cp resources/icons/routedesk.svg "$STAGE/share/icons/hicolor/scalable/apps/routedesk.svg"
install -m 0755 packaging/linux/install.sh "$STAGE/install.sh"
install -m 0644 packaging/linux/README.txt "$STAGE/README.txt"

TARBALL="dist/$NAME.tar.gz"
tar -C build/tarball --sort=name --owner=0 --group=0 --numeric-owner -cf - "$NAME" | gzip -6 -n > "$TARBALL"
t2=$(date +%s)
bytes=$(stat -c %s "$TARBALL")
echo "Tarball: $TARBALL ($(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }'), packed in $((t2 - t1)) s)"
