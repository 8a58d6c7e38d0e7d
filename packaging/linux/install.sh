#!/usr/bin/env bash
# Install RouteDesk for this user, without root: the app, a menu entry and icons.
#
#   ./install.sh               install (or update) into ~/.local/opt/routedesk
#   ./install.sh --uninstall   remove the app, menu entry, icons and command
#   ./install.sh --prefix DIR  install the app folder into DIR instead
#
# Where things go (XDG defaults):
#   app        ~/.local/opt/routedesk/            (ROUTEDESK_INSTALL_DIR or --prefix)
#   command    ~/.local/bin/routedesk             (a symlink to the app)
#   menu       ~/.local/share/applications/routedesk.desktop
#   icons      ~/.local/share/icons/hicolor/<size>/apps/routedesk.(png|svg)
# Your conversations (~/.local/share/RouteDesk) and your API keys (in the OS keyring)
# are never touched, not even by --uninstall.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
APP_DIR="${ROUTEDESK_INSTALL_DIR:-$HOME/.local/opt/routedesk}"
BIN_DIR="${ROUTEDESK_BIN_DIR:-$HOME/.local/bin}"
DESKTOP_FILE="$DATA_HOME/applications/routedesk.desktop"
ICON_ROOT="$DATA_HOME/icons/hicolor"
action=install

while [ $# -gt 0 ]; do
    case "$1" in
        --uninstall) action=uninstall ;;
        --prefix) shift; APP_DIR="${1:?--prefix needs a folder}" ;;
        --prefix=*) APP_DIR="${1#--prefix=}" ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "Unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

refresh_caches() {
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$DATA_HOME/applications" 2>/dev/null || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$ICON_ROOT/index.theme" ]; then
        gtk-update-icon-cache -q -t "$ICON_ROOT" 2>/dev/null || true
    fi
    if command -v xdg-desktop-menu >/dev/null 2>&1; then
        xdg-desktop-menu forceupdate 2>/dev/null || true
    fi
}

if [ "$action" = uninstall ]; then
    rm -f "$DESKTOP_FILE"
    find "$ICON_ROOT" -path '*/apps/routedesk.*' -type f -delete 2>/dev/null || true
    if [ -L "$BIN_DIR/routedesk" ]; then
        rm -f "$BIN_DIR/routedesk"
    fi
    if [ -x "$APP_DIR/RouteDesk" ]; then
        rm -rf "$APP_DIR"
    elif [ -e "$APP_DIR" ]; then
        echo "Left $APP_DIR alone: it doesn't look like a RouteDesk app folder." >&2
    fi
    refresh_caches
    echo "RouteDesk is uninstalled. Your conversations ($DATA_HOME/RouteDesk) and keys (OS keyring) were kept."
    exit 0
fi

if [ ! -x "$HERE/RouteDesk/RouteDesk" ]; then
    echo "This folder has no RouteDesk/RouteDesk: run install.sh from the unpacked RouteDesk tarball." >&2
    exit 1
fi

# The app: copied beside its final place, then swapped in, so an update is all-or-nothing.
mkdir -p "$(dirname "$APP_DIR")"
staging="$APP_DIR.new.$$"
rm -rf "$staging"
cp -a "$HERE/RouteDesk" "$staging"
if [ -e "$APP_DIR" ]; then
    if [ ! -x "$APP_DIR/RouteDesk" ]; then
        rm -rf "$staging"
        echo "$APP_DIR exists and isn't a RouteDesk app folder; choose another with --prefix." >&2
        exit 1
    fi
    rm -rf "$APP_DIR.old.$$"
    mv "$APP_DIR" "$APP_DIR.old.$$"
    mv "$staging" "$APP_DIR"
    rm -rf "$APP_DIR.old.$$"
else
    mv "$staging" "$APP_DIR"
fi
APP_DIR="$(cd "$APP_DIR" && pwd)"

# The command.
mkdir -p "$BIN_DIR"
ln -sfn "$APP_DIR/RouteDesk" "$BIN_DIR/routedesk"

# Icons.
for src in "$HERE"/share/icons/hicolor/*/apps/routedesk.*; do
    [ -f "$src" ] || continue
    size_dir="$(basename "$(dirname "$(dirname "$src")")")"
    mkdir -p "$ICON_ROOT/$size_dir/apps"
    cp "$src" "$ICON_ROOT/$size_dir/apps/"
done

# The menu entry, pointing at the installed app by absolute path (~/.local/bin may not
# be on the desktop session's PATH).
mkdir -p "$(dirname "$DESKTOP_FILE")"
exec_path="$APP_DIR/RouteDesk"
exec_quoted=""  # Desktop Entry quoting: \\ before " ` $ \ inside the quotes, %% for %
for ((i = 0; i < ${#exec_path}; i++)); do
    c="${exec_path:i:1}"
    case "$c" in
        '"'|'`'|'$'|'\') exec_quoted+='\\'"$c" ;;
        '%') exec_quoted+='%%' ;;
        *) exec_quoted+="$c" ;;
    esac
done
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        Exec=*) printf 'Exec="%s"\n' "$exec_quoted" ;;
        TryExec=*) printf 'TryExec=%s\n' "$exec_path" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$HERE/share/applications/routedesk.desktop" > "$DESKTOP_FILE.tmp"
mv "$DESKTOP_FILE.tmp" "$DESKTOP_FILE"
chmod 0644 "$DESKTOP_FILE"
refresh_caches

echo "RouteDesk is installed in $APP_DIR."
echo "Start it from your applications menu, or run: $BIN_DIR/routedesk"
case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) echo "($BIN_DIR is not on your PATH; add it to run 'routedesk' by name.)" ;;
esac
echo "To remove it: $0 --uninstall"
