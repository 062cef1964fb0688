#!/usr/bin/env bash
# Runs the JobScheduler daemon, first starting a private PostgreSQL cluster when the
# database is local and no server listens on it. Arguments go to the daemon, as in
# ./run.sh --urls http://127.0.0.1:9000
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"

# Exports the KEY=VALUE lines of a .env file, but never overrides a variable that is
# already set. Blank lines, lines starting with # and an optional leading `export` are
# allowed. A value in single or double quotes is taken literally. In an unquoted value,
# whitespace followed by # starts a comment. Nothing in the file is executed.
load_env_file() {
    local file="$1" line line_number=0 key value
    while IFS= read -r line || [[ -n $line ]]; do
        line_number=$((line_number + 1))
        line="${line%$'\r'}"
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue

        if [[ ! $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
            echo "run.sh: warning: ignoring line $line_number of $file because it is not KEY=VALUE" >&2
            continue
        fi
        key="${BASH_REMATCH[2]}"
        value="${BASH_REMATCH[3]}"

        if [[ $value =~ ^\"(.*)\"[[:space:]]*$ || $value =~ ^\'(.*)\'[[:space:]]*$ ]]; then
            value="${BASH_REMATCH[1]}"
        else
            value="${value%%[[:space:]]#*}"
            value="${value%"${value##*[![:space:]]}"}" # trailing whitespace
        fi

        if [[ -z ${!key+set} ]]; then
            export "$key=$value"
        fi
    done <"$file"
}

# Succeeds when a PostgreSQL server listens on 127.0.0.1:$1, even while it starts or stops.
postgres_listens() {
    local port="$1" pg_isready dirs=()
    shopt -s nullglob
    dirs=(/usr/lib/postgresql/*/bin)
    shopt -u nullglob
    if ((${#dirs[@]} > 0)); then
        pg_isready="$(printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1)/pg_isready"
    elif ! pg_isready="$(command -v pg_isready)"; then
        return 1 # no client tools, so PostgreSQL is not installed here
    fi

    local status=0
    "$pg_isready" -q -h 127.0.0.1 -p "$port" || status=$?
    ((status <= 1))
}

if [[ -f $repo/.env ]]; then
    load_env_file "$repo/.env"
fi

export DB_HOST="${DB_HOST:-localhost}"
export DB_PORT="${DB_PORT:-5432}"
export DB_USER="${DB_USER:-postgres}"
export DB_PASSWORD="${DB_PASSWORD:-postgres}"

case "$DB_HOST" in
    localhost | 127.0.0.1 | ::1)
        if ! postgres_listens "$DB_PORT"; then
            echo "run.sh: no PostgreSQL server listens on 127.0.0.1:$DB_PORT, so a private cluster is started"
            if [[ $DB_HOST == ::1 ]]; then
                echo "run.sh: warning: DB_HOST is ::1, but the private cluster listens on 127.0.0.1 only. Set DB_HOST=127.0.0.1." >&2
            fi
            PG_PORT="$DB_PORT" "$repo/scripts/local-postgres.sh" start
        fi
        ;;
esac

if ! command -v dotnet >/dev/null; then
    echo "run.sh: error: the dotnet command was not found. Install the .NET 10 SDK and run this again." >&2
    exit 1
fi
exec dotnet run --project "$repo/JobScheduler.csproj" -c Release -- "$@"
