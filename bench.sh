#!/usr/bin/env bash
# Runs the end-to-end benchmark of the daemon and prints a Markdown report (see BENCHMARKS.md).
# It builds the daemon and the harness in Release, starts a private PostgreSQL cluster on
# BENCH_PG_PORT (default 55440, data under /tmp) with pg_stat_statements loaded, runs the
# harness, and stops the cluster again unless it was already running.
# Arguments go to the harness, for example: ./bench.sh --sections pickup,drain --jobs 20000
# Run ./bench.sh --help for them all. Not part of ./test.sh.
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
BENCH_PG_PORT="${BENCH_PG_PORT:-55440}"
work="${BENCH_WORK:-/tmp/jobscheduler-bench}"
pg_data="/tmp/jobscheduler-bench-postgres-$BENCH_PG_PORT"
project="$repo/Benchmarks/JobScheduler.Bench/JobScheduler.Bench.csproj"
# Both builds put their bin and obj folders under the work folder, so a benchmark never
# rewrites the repository's obj/ while a test run or another build uses it.
artifacts="$work/build"
harness="$artifacts/bin/JobScheduler.Bench/release/JobScheduler.Bench.dll"

if ! command -v dotnet >/dev/null; then
  echo "bench.sh: error: the dotnet command was not found. Install the .NET 10 SDK and run this again." >&2
  exit 1
fi

if [[ " $* " == *" --help "* || " $* " == *" -h "* ]]; then
  dotnet build "$project" -c Release --artifacts-path "$artifacts" -nologo -v quiet >/dev/null
  exec dotnet "$harness" --help
fi

# Runs scripts/local-postgres.sh on the benchmark's cluster.
bench_postgres() {
  PG_PORT="$BENCH_PG_PORT" PG_DATA="$pg_data" DB_USER=postgres DB_PASSWORD=postgres \
    "$repo/scripts/local-postgres.sh" "$@"
}

# Runs a command as the OS user that owns the cluster, as local-postgres.sh does.
as_owner() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

psql_bench() {
  local bin
  bin="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  PGPASSWORD=postgres "$bin/psql" -X -q -tA -h 127.0.0.1 -p "$BENCH_PG_PORT" -U postgres -d postgres "$@"
}

# The database-cost section counts statements with pg_stat_statements, which must be loaded
# at server start, and Hangfire with 128 workers needs more than the default 100 connections.
# Both go in bench.conf, which local-postgres.sh leaves alone, so a restart applies them.
enable_statement_statistics() {
  if [[ $(psql_bench -c 'SHOW shared_preload_libraries') == *pg_stat_statements* ]]; then
    return
  fi
  echo "bench.sh: loading pg_stat_statements into the benchmark cluster (a restart)"
  as_owner tee "$pg_data/bench.conf" >/dev/null <<'EOF'
# Written by bench.sh for the benchmark cluster.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
max_connections = 300
EOF
  local include_line="include_if_exists = 'bench.conf'"
  if ! grep -qxF "$include_line" "$pg_data/postgresql.conf"; then
    echo "$include_line" | as_owner tee -a "$pg_data/postgresql.conf" >/dev/null
  fi
  bench_postgres stop
  bench_postgres start
}

echo "bench.sh: building the daemon and the harness (Release)"
dotnet publish "$repo/JobScheduler.csproj" -c Release --artifacts-path "$artifacts" \
  -o "$work/daemon" -nologo -v quiet >/dev/null
dotnet build "$project" -c Release --artifacts-path "$artifacts" -nologo -v quiet >/dev/null

if bench_postgres status >/dev/null; then
  echo "bench.sh: the benchmark cluster already runs on 127.0.0.1:$BENCH_PG_PORT, so it is reused and left running"
elif [[ ${BENCH_KEEP_POSTGRES:-0} == 1 ]]; then
  bench_postgres start
else
  # The EXIT trap also runs after SIGINT and SIGTERM, and after a failed start.
  trap 'bench_postgres stop' EXIT
  bench_postgres start
fi
enable_statement_statistics

source="unknown (not a git checkout)"
if commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"; then
  changes="$(git -C "$repo" status --porcelain -- . ':(exclude)Benchmarks' ':(exclude)bench.sh' \
    ':(exclude)BENCHMARKS.md' | wc -l)"
  source="commit $commit"
  if ((changes > 0)); then
    source="$source with $changes uncommitted changes"
  fi
fi

# stdin comes from /dev/null, so the run behaves the same without a terminal.
dotnet "$harness" --daemon "$work/daemon/JobScheduler.dll" \
  --postgres "Host=127.0.0.1;Port=$BENCH_PG_PORT;Username=postgres;Password=postgres" \
  --work "$work" --source "$source" "$@" </dev/null
