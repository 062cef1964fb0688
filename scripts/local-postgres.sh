#!/usr/bin/env bash
# Starts, stops or reports a private PostgreSQL cluster for development and tests.
# It listens on 127.0.0.1 only and leaves the system's default cluster alone.
# Usage: scripts/local-postgres.sh start|stop|status (settings: the variables below).
set -euo pipefail

repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"

PG_PORT="${PG_PORT:-5432}"
# When this script starts the server, DB_USER becomes a superuser with DB_PASSWORD.
# For DB_USER=postgres, that resets the password that initdb set from DB_PASSWORD.
DB_USER="${DB_USER:-postgres}"
DB_PASSWORD="${DB_PASSWORD:-postgres}"
export DB_PASSWORD # read by psql's \getenv in ensure_role, so it never appears in `ps`

if [[ $EUID -eq 0 ]]; then
    # initdb rejects root, so the postgres OS user owns the cluster. The default sits under
    # /tmp because a clone under /root is out of that user's reach.
    PG_DATA="${PG_DATA:-/tmp/jobscheduler-postgres-$PG_PORT}"
else
    PG_DATA="${PG_DATA:-$repo/.local/postgres-$PG_PORT}"
fi
# The socket directory below must be an absolute path.
[[ $PG_DATA == /* ]] || PG_DATA="$PWD/$PG_DATA"
log_file="$PG_DATA/server.log"

die() {
    echo "local-postgres: error: $*" >&2
    exit 1
}

# Runs a command as the OS user that owns the cluster.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Prints the bin folder matching the cluster's version, else the newest one installed.
find_bin_dir() {
    local version_file="$PG_DATA/PG_VERSION"
    if [[ -r $version_file ]]; then
        local cluster_bin
        cluster_bin="/usr/lib/postgresql/$(<"$version_file")/bin"
        if [[ -x $cluster_bin/postgres ]]; then
            echo "$cluster_bin"
            return
        fi
    fi
    local dirs=()
    shopt -s nullglob
    dirs=(/usr/lib/postgresql/*/bin)
    shopt -u nullglob
    ((${#dirs[@]} > 0)) || return 1
    printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
}

install_postgres() {
    if [[ $EUID -ne 0 ]]; then
        die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin. Install the Debian package 'postgresql' (sudo apt-get install postgresql) and run this again."
    fi
    echo "local-postgres: PostgreSQL server binaries not found, installing the Debian package 'postgresql'"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql </dev/null
}

# Creates the data folder. As root, it also checks that the postgres OS user can use it.
prepare_data_dir() {
    if [[ $EUID -ne 0 ]]; then
        mkdir -p -- "$PG_DATA"
        return
    fi

    id postgres >/dev/null 2>&1 || die "the OS user 'postgres' does not exist. Reinstall the Debian package 'postgresql', which creates it."
    if [[ ! -e $PG_DATA ]]; then
        mkdir -p -- "$PG_DATA"
        chmod 700 -- "$PG_DATA"
        chown postgres:postgres -- "$PG_DATA"
    fi

    local owner
    owner="$(stat -c %U -- "$PG_DATA")"
    [[ $owner == postgres ]] || die "$PG_DATA is owned by '$owner', but as root the cluster runs as the OS user 'postgres'. Remove the folder or set PG_DATA to a new one."
    as_owner test -w "$PG_DATA" -a -x "$PG_DATA" ||
        die "the OS user 'postgres' cannot enter $PG_DATA because a parent folder blocks it. Set PG_DATA to a folder under /tmp."
}

init_cluster() {
    local bin="$1" pwfile
    pwfile="$(mktemp)" # mode 0600
    # shellcheck disable=SC2064 # expand now, because pwfile is local
    trap "rm -f -- '$pwfile'" EXIT
    printf '%s\n' "$DB_PASSWORD" >"$pwfile"
    if [[ $EUID -eq 0 ]]; then
        chown postgres -- "$pwfile"
    fi

    # TCP connections need a password. Local socket connections are trusted, because the
    # socket lives in the data folder, which only the cluster's owner can enter (mode 0700).
    as_owner "$bin/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=trust \
        -E UTF8 --locale=C.UTF-8 --no-instructions
    rm -f -- "$pwfile"
}

# Rewrites the settings file that postgresql.conf includes, so each start applies the
# current PG_PORT and PG_DATA.
write_settings() {
    local include_line="include_if_exists = 'jobscheduler.conf'"
    if ! grep -qxF "$include_line" "$PG_DATA/postgresql.conf"; then
        echo "$include_line" | as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi

    # The socket goes in the data folder, so it never clashes with the system cluster's
    # socket in /var/run/postgresql. A single quote in the path is doubled for the file.
    as_owner tee "$PG_DATA/jobscheduler.conf" >/dev/null <<EOF
# Written by scripts/local-postgres.sh on every start, so edits here are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '${PG_DATA//\'/\'\'}'
# This is a private dev/test cluster whose data is disposable, so it trades crash
# safety for speed. Never copy this setting to a server that contains real data.
fsync = off
EOF
}

# Creates DB_USER as a superuser, or resets its password and attributes if it exists.
ensure_role() {
    local bin="$1"
    # \getenv needs psql 15 or newer, which Debian 12 ships.
    as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DATA" -p "$PG_PORT" \
        -U postgres -d postgres -v role="$DB_USER" <<'SQL'
\getenv password DB_PASSWORD
SELECT format(
    CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role')
        THEN 'ALTER ROLE %I WITH LOGIN SUPERUSER CREATEDB PASSWORD %L'
        ELSE 'CREATE ROLE %I WITH LOGIN SUPERUSER CREATEDB PASSWORD %L'
    END,
    :'role', :'password') \gexec
SQL
}

# Waits up to 10 s while the PID in postmaster.pid is a zombie. A postmaster killed with
# SIGKILL stays a zombie until its parent reaps it, and until then Postgres treats the
# file as the lock of a live server. Some container and VM init processes reap zombies
# only after a delay of a second or more.
wait_for_zombie_postmaster() {
    local pid_file="$PG_DATA/postmaster.pid" pid state
    [[ -f $pid_file ]] || return 0
    pid="$(head -n 1 -- "$pid_file")"
    [[ $pid =~ ^[0-9]+$ ]] || return 0

    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        # The state is the field after the command name in parentheses.
        state="$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$pid/stat" 2>/dev/null || true)"
        [[ $state == Z ]] || return 0
        sleep 0.2
    done
}

fail_start() {
    echo "local-postgres: error: $*. Last lines of $log_file:" >&2
    tail -n 30 -- "$log_file" >&2 || true
    exit 1
}

start() {
    local bin
    if ! bin="$(find_bin_dir)"; then
        install_postgres
        bin="$(find_bin_dir)" || die "PostgreSQL is still missing from /usr/lib/postgresql/*/bin after installing the package 'postgresql'"
    fi

    # pg_isready exits 0 when a server accepts connections and 1 while it starts or stops.
    local ready_status=0
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || ready_status=$?
    if ((ready_status <= 1)); then
        if [[ -f $PG_DATA/PG_VERSION ]] && as_owner "$bin/pg_ctl" status -D "$PG_DATA" >/dev/null; then
            echo "local-postgres: the cluster in $PG_DATA already runs on 127.0.0.1:$PG_PORT"
        else
            echo "local-postgres: another server already listens on 127.0.0.1:$PG_PORT, so the cluster in $PG_DATA was not started. Set PG_PORT to a free port to get a private cluster."
        fi
        return
    fi

    local socket_path="$PG_DATA/.s.PGSQL.$PG_PORT"
    # Linux limits a Unix socket path to 107 bytes (sun_path is 108 bytes with the NUL).
    ((${#socket_path} <= 107)) || die "the socket path $socket_path is longer than 107 bytes. Set PG_DATA to a shorter path."

    prepare_data_dir
    if [[ ! -f $PG_DATA/PG_VERSION ]]; then
        init_cluster "$bin"
    fi
    write_settings

    # Postgres replaces a postmaster.pid that a killed server left behind when no process
    # has that PID, so a stale file does not block this start once the zombie is gone.
    wait_for_zombie_postmaster
    local timeout=30
    local deadline=$((SECONDS + timeout))
    as_owner "$bin/pg_ctl" start -D "$PG_DATA" -l "$log_file" -w -t "$timeout" ||
        fail_start "the server in $PG_DATA did not start"
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
        ((SECONDS < deadline)) || fail_start "the server did not accept connections on 127.0.0.1:$PG_PORT within $timeout s"
        sleep 0.5
    done

    ensure_role "$bin"
    echo "local-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') listens on 127.0.0.1:$PG_PORT (data: $PG_DATA, log: $log_file)"
}

stop() {
    local bin
    if ! bin="$(find_bin_dir)" || [[ ! -f $PG_DATA/PG_VERSION ]]; then
        echo "local-postgres: no cluster in $PG_DATA, nothing to stop"
        return
    fi
    if as_owner "$bin/pg_ctl" status -D "$PG_DATA" >/dev/null; then
        as_owner "$bin/pg_ctl" stop -D "$PG_DATA" -m fast
    else
        echo "local-postgres: the server in $PG_DATA is not running"
    fi
}

# Exits 0 when the cluster runs and 3 when it does not, like `pg_ctl status`.
status() {
    local bin
    if bin="$(find_bin_dir)" && [[ -f $PG_DATA/PG_VERSION ]] &&
        as_owner "$bin/pg_ctl" status -D "$PG_DATA" >/dev/null; then
        echo "local-postgres: running on 127.0.0.1:$PG_PORT (data: $PG_DATA, log: $log_file)"
        return 0
    fi
    echo "local-postgres: not running (data: $PG_DATA)"
    return 3
}

if ! [[ $PG_PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PG_PORT > 65535)); then
    die "PG_PORT must be a TCP port number from 1 to 65535, got '$PG_PORT'"
fi

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "Usage: $0 start|stop|status" >&2
        echo "Settings: PG_PORT (default 5432), PG_DATA (data folder), DB_USER and DB_PASSWORD (default postgres)." >&2
        exit 2
        ;;
esac
