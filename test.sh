#!/usr/bin/env bash
# Runs every JobScheduler test. Unless JOBSCHEDULER_TEST_DB names a server, it starts a
# private PostgreSQL cluster on TEST_PG_PORT (default 55432) and stops it on exit.
# Arguments go to `dotnet test`. Example: ./test.sh --filter Scheduling
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
TEST_PG_PORT="${TEST_PG_PORT:-55432}"

# Runs scripts/local-postgres.sh on the test cluster. The cluster always uses the
# credentials postgres/postgres, whatever DB_USER and DB_PASSWORD are set to.
test_postgres() {
    PG_PORT="$TEST_PG_PORT" PG_DATA="/tmp/jobscheduler-test-postgres-$TEST_PG_PORT" \
        DB_USER=postgres DB_PASSWORD=postgres "$repo/scripts/local-postgres.sh" "$@"
}

if [[ -n ${JOBSCHEDULER_TEST_DB:-} ]]; then
    echo "test.sh: using the server in JOBSCHEDULER_TEST_DB, so no cluster is started"
elif test_postgres status >/dev/null; then
    # An earlier run that was killed, or one still running, owns this cluster.
    echo "test.sh: the test cluster already runs on 127.0.0.1:$TEST_PG_PORT, so it is reused and left running"
else
    # The EXIT trap also runs after SIGINT and SIGTERM, and after a failed start.
    trap 'test_postgres stop' EXIT
    test_postgres start
fi
export JOBSCHEDULER_TEST_DB="${JOBSCHEDULER_TEST_DB:-Host=127.0.0.1;Port=$TEST_PG_PORT;Username=postgres;Password=postgres}"

# Smoke test of the Windows executable under Wine (scripts/smoke-windows.ps1; about a minute
# once Wine is installed): publishes it, runs cmd.exe jobs through it and stops it with Ctrl+C.
# SKIP_WINDOWS_SMOKE=1 skips it.
if [[ ${SKIP_WINDOWS_SMOKE:-} == 1 ]]; then
    echo "test.sh: SKIP_WINDOWS_SMOKE=1, so the Windows smoke test is skipped"
elif ! "$repo/scripts/pwsh.sh" "$repo/scripts/smoke-windows.ps1" </dev/null; then
    echo "test.sh: error: the Windows smoke test failed; its checks are listed above" >&2
    exit 1
fi

# The browser tests (Tests/Browser) drive Debian's Chromium through Playwright, whose driver
# ships in its NuGet package; Playwright's own browser download cannot work offline.
chromium=/usr/bin/chromium
if [[ ! -x $chromium ]]; then
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "test.sh: installing the Debian package chromium for the browser tests"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y chromium </dev/null
    else
        echo "test.sh: warning: $chromium is missing, so the browser tests will fail;" \
            "install it with 'sudo apt-get install chromium' and run this again" >&2
    fi
fi

if ! command -v dotnet >/dev/null; then
    echo "test.sh: error: the dotnet command was not found. Install the .NET 10 SDK and run this again." >&2
    exit 1
fi

# stdin comes from /dev/null, so the run behaves the same in CI, where there is no stdin.
log="$(mktemp -t jobscheduler-test.XXXXXX)"
test_status=0
dotnet test "$repo/Tests/JobScheduler.Tests.csproj" -c Release \
    --logger "console;verbosity=normal" "$@" </dev/null 2>&1 | tee "$log" || test_status=$?

# One closing line in the plain "N passed, N failed" form, from the runner's totals.
count() { { grep -E "^ +$1: +[0-9]+\$" "$log" || true; } | awk '{ n += $2 } END { print n + 0 }'; }
summary="$(count Passed) passed, $(count Failed) failed, $(count Skipped) skipped"
if grep -qE '^Total tests: ' "$log"; then
    echo "$summary"
fi
rm -f "$log"
exit "$test_status"
