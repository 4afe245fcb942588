#!/bin/sh
# Add Interval to the desktop menu of the current user (Linux): writes
# ~/.local/share/applications/interval.desktop pointing at THIS bundle folder and
# installs the icon.  Run it again after moving the folder; remove the two files to undo.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
mkdir -p "$data/applications" "$data/icons/hicolor/512x512/apps"
cp "$here/interval.png" "$data/icons/hicolor/512x512/apps/interval.png"
sed -e "s|^Exec=.*|Exec=\"$here/interval\" view %f|" -e "s|^TryExec=.*|TryExec=$here/interval|" \
    "$here/interval.desktop" > "$data/applications/interval.desktop"
echo "installed $data/applications/interval.desktop"
