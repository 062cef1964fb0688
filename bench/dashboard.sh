#!/usr/bin/env bash
# Times the dashboard against a database of one million jobs.
# It creates the database jobscheduler_bench on the server named by the variables below and
# starts the daemon on a free loopback port. It fills `jobs` with generate_series and times
# each URL with curl over one kept-alive connection. Then it prints EXPLAIN ANALYZE of the
# queries behind the pages, stops the daemon and leaves the database for inspection.
# Usage: bench/dashboard.sh [ROWS] (default 1000000). Not part of ./test.sh.
# Settings: BENCH_PG_HOST (127.0.0.1), BENCH_PG_PORT (55432), BENCH_PG_USER and
# BENCH_PG_PASSWORD (postgres), BENCH_REQUESTS per URL (50), BENCH_KEEP_ROWS=1 to reuse the
# rows of an earlier run.
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
rows="${1:-1000000}"
requests="${BENCH_REQUESTS:-50}"
database=jobscheduler_bench
export PGHOST="${BENCH_PG_HOST:-127.0.0.1}"
export PGPORT="${BENCH_PG_PORT:-55432}"
export PGUSER="${BENCH_PG_USER:-postgres}"
export PGPASSWORD="${BENCH_PG_PASSWORD:-postgres}"

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_bench() { psql -X -q -v ON_ERROR_STOP=1 -d "$database" "$@"; }

echo "Building the daemon (Release)"
dotnet build "$repo/JobScheduler.csproj" -c Release -v quiet -nologo >/dev/null
daemon_dll="$repo/bin/Release/net10.0/JobScheduler.dll"

if [[ ${BENCH_KEEP_ROWS:-0} != 1 ]]; then
    psql_admin -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
daemon_log="$(mktemp -t jobscheduler-bench.XXXXXX)"
DB_HOST="$PGHOST" DB_PORT="$PGPORT" DB_USER="$PGUSER" DB_PASSWORD="$PGPASSWORD" \
    DB_NAME="$database" LOG_DIR="" \
    dotnet "$daemon_dll" --urls "$base" >"$daemon_log" 2>&1 &
daemon_pid=$!
stop_daemon() {
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    rm -f "$daemon_log"
}
trap stop_daemon EXIT

# The daemon applies the migrations before the API returns 200.
for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$base/api/stats" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
curl -fsS -o /dev/null "$base/api/stats" || { cat "$daemon_log"; exit 1; }

if [[ ${BENCH_KEEP_ROWS:-0} != 1 ]]; then
    echo "Inserting $rows jobs"
    # 90 % completed, 8 % failed, 2 % queued. The queued ones are due tomorrow, so the daemon
    # leaves them alone while it is measured. Names cycle through five words for the search.
    psql_bench -v rows="$rows" <<'SQL'
INSERT INTO jobs (name, command, status, created_at, updated_at, run_at, last_run,
                  finished_at, exit_code, attempt, tries, node, output)
SELECT (ARRAY['backup', 'report', 'sync', 'cleanup', 'import'])[n % 5 + 1] || '-' || n,
       'echo run ' || n || ' && sleep 0.1',
       s.status,
       t.created,
       t.created,
       CASE WHEN s.status = 'queued' THEN now() + interval '1 day' ELSE t.created END,
       CASE WHEN s.status = 'queued' THEN NULL ELSE t.created + interval '1 second' END,
       CASE WHEN s.status = 'queued' THEN NULL ELSE t.created + interval '3 seconds' END,
       CASE s.status WHEN 'completed' THEN 0 WHEN 'failed' THEN 1 END,
       CASE WHEN s.status = 'queued' THEN 0 ELSE 1 END,
       CASE WHEN s.status = 'queued' THEN 0 ELSE 1 END,
       CASE WHEN s.status = 'queued' THEN NULL ELSE 'bench-node' END,
       CASE WHEN s.status = 'queued' THEN NULL ELSE 'run ' || n || E'\n' END
FROM generate_series(1, :rows) AS n
CROSS JOIN LATERAL (
    SELECT CASE WHEN n % 50 = 0 THEN 'queued' WHEN n % 12 = 0 THEN 'failed'
                ELSE 'completed' END AS status
) AS s
CROSS JOIN LATERAL (
    SELECT now() - make_interval(secs => (:rows - n) * 30) AS created
) AS t;
SQL
    psql_bench -c "VACUUM ANALYZE jobs" -c "VACUUM ANALYZE job_counts"
fi

newest_id="$(psql_bench -tA -c "SELECT max(id) FROM jobs")"
old_cursor="$(psql_bench -tA -c "SELECT id FROM jobs ORDER BY id DESC OFFSET 5000 LIMIT 1")"
failed_id="$(psql_bench -tA -c "SELECT max(id) FROM jobs WHERE status = 'failed'")"
rare_name="$(psql_bench -tA -c "SELECT name FROM jobs WHERE id = $newest_id / 3")"
window_end="$(psql_bench -tA -c "SELECT id FROM jobs ORDER BY id DESC OFFSET 4999 LIMIT 1")"

urls=(
    "/"
    "/?handler=Stats"
    "/?handler=Table"
    "/?q=backup"
    "/?handler=Table&q=backup"
    "/?handler=Table&q=$rare_name"
    "/?handler=Table&q=zzz"
    "/?handler=Table&q=sync-1"
    "/?handler=Table&q=7"
    "/?handler=Table&status=failed"
    "/?handler=Table&status=queued&q=sync"
    "/?handler=Table&cursor=$old_cursor"
    "/?handler=Table&status=failed&cursor=$old_cursor"
    "/jobs/$failed_id"
    "/api/stats"
)

echo
echo "Median, 95th percentile and maximum of $requests requests per URL, after 5 warm-up"
echo "requests, each URL on one kept-alive connection; times in ms."
printf '| %-50s | %8s | %8s | %8s |\n' "URL" "median" "p95" "max"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..52})" "----------" "----------" "----------"
for url in "${urls[@]}"; do
    curl_args=()
    for _ in $(seq 1 5); do curl_args+=(-o /dev/null "$base$url"); done
    curl -fsS "${curl_args[@]}"
    curl_args=()
    for _ in $(seq 1 "$requests"); do curl_args+=(-o /dev/null "$base$url"); done
    curl -fsS -w '%{time_total}\n' "${curl_args[@]}" |
        sort -n |
        awk -v url="$url" '
            { t[NR] = $1 * 1000 }
            END {
                median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
                p95 = t[int(NR * 0.95 + 0.999)]
                printf "| %-50s | %8.2f | %8.2f | %8.2f |\n", url, median, p95, t[NR]
            }'
done

echo
echo "EXPLAIN (ANALYZE, BUFFERS) of the queries behind the pages, on a warm cache:"
# The queries are read from Data/JobQueries*.cs and prepared as Npgsql sends them: with
# parameters, each execution planned for its values.
source_text() {
    awk -v start="$2" '$0 ~ start { found = 1; next } found && /"""/ { exit } found' \
        "$repo/Data/$1"
}
columns="$(source_text JobQueries.cs 'string Columns = """' | tr '\n' ' ')"
query() { source_text "$1" "string $2 = [$]?\"\"\"" | sed "s/{Columns}/$columns/g"; }
stats_sql="$(query JobQueries.cs StatsSql)"
explain() {
    echo
    echo "-- $1"
    psql_bench <<SQL | sed -n '/QUERY PLAN/,$p' | tail -n +3 | sed '/^$/d'
PREPARE list (text, bigint, integer) AS $(query JobQueries.cs ListSql);
PREPARE recent (text, bigint, text, integer, integer) AS
    $(query JobQueries.Search.cs RecentMatchesSql);
PREPARE window_end (text, bigint, integer) AS $(query JobQueries.Search.cs WindowEndSql);
PREPARE older (text, bigint, text, integer) AS $(query JobQueries.Search.cs OlderMatchesSql);
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2;
SQL
}
explain "stats" "$stats_sql"
explain "newest page" "EXECUTE list (NULL, NULL, 51)"
explain "failed, newest page" "EXECUTE list ('failed', NULL, 51)"
explain "older page by cursor" "EXECUTE list (NULL, $old_cursor, 51)"
explain "search 'backup', newest jobs (a fifth match)" \
    "EXECUTE recent (NULL, NULL, '%backup%', 51, 5000)"
explain "search, end of the window" "EXECUTE window_end (NULL, NULL, 5000)"
explain "search '$rare_name', newest jobs" "EXECUTE recent (NULL, NULL, '%$rare_name%', 51, 5000)"
explain "search '$rare_name', older jobs" \
    "EXECUTE older (NULL, $window_end, '%$rare_name%', 51)"
explain "search 'sync-1', older jobs (22,222 match, none among the newest)" \
    "EXECUTE older (NULL, $window_end, '%sync-1%', 51)"
explain "search 'zzz', older jobs (none match)" "EXECUTE older (NULL, $window_end, '%zzz%', 51)"
explain "queued, search 'sync', older jobs (none match)" \
    "EXECUTE older ('queued', $window_end, '%sync%', 51)"
explain "job page" "SELECT * FROM jobs WHERE id = $failed_id"
