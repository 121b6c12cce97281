#!/usr/bin/env bash
# Runs `molecule test` for each scenario named in the arguments, JOBS at a time (default 2), each into its
# own log, and prints every log once its scenario ends. Exits non-zero when any scenario failed.
# Two at a time because most of a scenario's time is spent waiting (services starting, health checks,
# timeouts it provokes on purpose), so a 2-core machine finishes two scenarios in little more time than one.
set -euo pipefail

jobs="${MOLECULE_JOBS:-2}"
logs="${MOLECULE_LOG_DIR:-$(pwd)/.molecule-logs}"
rm -rf "$logs"
mkdir -p "$logs"

run_one() {
    local scenario="$1" started rc=0
    started=$(date +%s)
    molecule test -s "$scenario" >"$logs/$scenario.log" 2>&1 || rc=$?
    {
        echo "===== molecule test -s $scenario: $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)")" \
            "in $(($(date +%s) - started)) s ====="
        cat "$logs/$scenario.log"
        echo "===== end of $scenario ====="
    } | flock "$logs/.print" cat
    echo "$rc" >"$logs/$scenario.rc"
}
export -f run_one
export logs

printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}

failed=()
for scenario in "$@"; do
    [ "$(cat "$logs/$scenario.rc" 2>/dev/null || echo missing)" = 0 ] || failed+=("$scenario")
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "molecule: failed scenarios: ${failed[*]} (logs in $logs)" >&2
    exit 1
fi
echo "molecule: every scenario passed: $*"
