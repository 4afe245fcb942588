#!/usr/bin/env bash
# Build both bundles from a clean clone and check them.
#
#   packaging/check.sh [--here] [--no-build] [WORKDIR]
#
# 1. clone the repository's HEAD into WORKDIR/src (--here: use this working tree instead;
#    a clone has only what is committed);
# 2. build both editions there (--no-build: check the bundles already in dist/) (packaging/build.py, with this checkout's Python: $PYTHON,
#    default .venv/bin/python);
# 3. run each bundle's `interval --version` and `interval --self-test` (offscreen Qt);
# 4. viewer-only: `interval segment` must say that this edition has no model runtime;
# 5. full: `interval demo --no-view --out DIR` from the bundle and from the installed
#    package; their report.json files must agree (packaging/compare_reports.py);
# 6. both: `interval pacs find/get/send` against a real Orthanc (when installed), and
#    full: `interval batch` on a local Dask cluster of 2 workers
#    (packaging/frozen_net_check.py).
# Exit status: the number of failed checks (0: all passed).
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
USE_TREE=0
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --here) USE_TREE=1; shift ;;
        --no-build) BUILD=0; shift ;;
        *) break ;;
    esac
done
WORK="${1:-$(mktemp -d -t interval-check-XXXXXX)}"
PYTHON="${PYTHON:-$HERE/.venv/bin/python}"
export QT_QPA_PLATFORM=offscreen
mkdir -p "$WORK"
failed=0
step() { printf '\n== %s\n' "$*"; }
check() {  # check NAME COMMAND...: run, report, count failures
    local name="$1"; shift
    if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; failed=$((failed + 1)); fi
}

if [ "$USE_TREE" = 1 ]; then
    SRC="$HERE"
else
    SRC="$WORK/src"
    step "clean clone of $(git -C "$HERE" rev-parse --short HEAD) into $SRC"
    rm -rf "$SRC"
    git clone --quiet --no-hardlinks "$HERE" "$SRC" || exit 99
fi

if [ "$BUILD" = 1 ]; then
    step "build both editions"
    (cd "$SRC" && "$PYTHON" packaging/build.py --edition both) || exit 98
fi

for edition in viewer-only full; do
    app="$SRC/dist/interval-$edition/interval"
    step "interval-$edition"
    check "$edition --version" "$app" --version
    check "$edition --self-test" "$app" --self-test
done

step "viewer-only: no model runtime"
msg="$("$SRC/dist/interval-viewer-only/interval" segment "$WORK" -o "$WORK/x.nii.gz" \
        --model phantom-ct 2>&1)"
echo "$msg"
check "viewer-only segment says so" grep -q "no model runtime (PyTorch)" <<<"$msg"

step "full: demo from the bundle and from the installed package"
rm -rf "$WORK/demo-frozen" "$WORK/demo-installed"
check "frozen demo" "$SRC/dist/interval-full/interval" demo --no-view --out "$WORK/demo-frozen"
check "installed demo" "$PYTHON" -c \
    "import sys; from interval.cli.main import main; sys.exit(main())" \
    demo --no-view --out "$WORK/demo-installed"
check "same report" "$PYTHON" "$HERE/packaging/compare_reports.py" \
    "$WORK/demo-installed/report.json" "$WORK/demo-frozen/report.json"

step "PACS (real Orthanc) and cohort runs from the bundles"
for edition in viewer-only full; do
    "$PYTHON" "$SRC/packaging/frozen_net_check.py" pacs "$SRC/dist/interval-$edition/interval" \
        "$WORK/net-$edition"
    rc=$?
    if [ "$rc" = 2 ]; then
        echo "not checked: $edition pacs (Orthanc is not installed)"
    elif [ "$rc" = 0 ]; then
        echo "ok: $edition pacs find/get/send"
    else
        echo "FAILED: $edition pacs find/get/send"; failed=$((failed + 1))
    fi
done
check "full: batch on 2 Dask workers" "$PYTHON" "$SRC/packaging/frozen_net_check.py" batch \
    "$SRC/dist/interval-full/interval" "$WORK/batch-full"

step "done: $failed failed check(s); work folder $WORK"
exit "$failed"
