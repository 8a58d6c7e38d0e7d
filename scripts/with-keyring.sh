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
status=0
"$@" || status=$?
rm -rf "$XDG_DATA_HOME"
exit $status
