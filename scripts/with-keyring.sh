#!/usr/bin/env bash
# Run a command inside a private D-Bus session with a fresh, unlocked GNOME keyring
# (the real Secret Service), so tests use the OS keyring exactly as a Linux desktop does.
# Usage: scripts/with-keyring.sh COMMAND [ARGS...]
set -euo pipefail
if [ -z "${ROUTEDESK_KEYRING_READY:-}" ]; then
    export ROUTEDESK_KEYRING_READY=1
    exec dbus-run-session -- "$0" "$@"
fi
XDG_DATA_HOME="$(mktemp -d)"
export XDG_DATA_HOME
# The password only unlocks this throwaway login keyring.
eval "$(printf 'routedesk-test\n' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK 2>/dev/null || true
# --unlock alone leaves org.freedesktop.secrets without an owner: the first client then has
# D-Bus start a daemon of its own, which may not find this unlocked one and asks for a
# password on a screen there is none of (seen in CI: "couldn't initialize prompt").
# --start makes the unlocked daemon take the name now.
eval "$(gnome-keyring-daemon --start --components=secrets)"
export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK 2>/dev/null || true
if command -v dbus-send >/dev/null 2>&1 && ! dbus-send --session --print-reply --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets | grep -q true; then
    echo "with-keyring: the unlocked keyring did not take org.freedesktop.secrets" >&2
    exit 2
fi
status=0
"$@" || status=$?
rm -rf "$XDG_DATA_HOME"
exit $status
