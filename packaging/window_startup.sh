#!/usr/bin/env bash
# Seconds from launching `interval view` until its window is visible on a real X server.
#
#   xvfb-run -a -s "-screen 0 1600x1000x24" packaging/window_startup.sh dist/interval-full/interval
#
# Needs xdotool; each of 3 runs starts with fresh settings (INTERVAL_CONFIG_DIR in a
# temporary folder), prints its time, then closes the app.
set -u
exe="${1:?usage: window_startup.sh PATH/TO/interval}"
for run in 1 2 3; do
    cfg="$(mktemp -d)"
    start=$(date +%s.%N)
    INTERVAL_CONFIG_DIR="$cfg" "$exe" view >/dev/null 2>&1 &
    pid=$!
    until xdotool search --onlyvisible --name "Interval" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { echo "run $run: the app exited"; exit 1; }
        sleep 0.02
    done
    end=$(date +%s.%N)
    python3 -c "print(f'run $run: {$end - $start:.2f} s')"
    kill "$pid"; wait "$pid" 2>/dev/null
    rm -rf "$cfg"
done
