#!/usr/bin/env bash
# Installs, starts and stops the loopback servers that the integration tests
# use: PostgreSQL, Redis, and FerretDB as the MongoDB wire-protocol server.
#
# Usage:
#   tests/services.sh up                  start what is not running
#   tests/services.sh down [--purge]      stop what this script started
#   tests/services.sh status              print the state of each service
#   tests/services.sh restart SERVICE     stop and start postgres, redis or mongodb
#   tests/services.sh stop SERVICE        stop postgres, redis or mongodb, keeping its data
#   tests/services.sh start SERVICE       start a service again, on the port it had
#
# `up` prints only `export POLYSTAT_TEST_*_URL=...` lines on stdout, so a caller
# can run `eval "$(tests/services.sh up)"`. `stop` and `start` print nothing on
# stdout, and succeed when the service is already stopped or running. All
# progress and errors go to stderr.
#
# Environment:
#   POLYSTAT_PG_PORT       PostgreSQL port (default 55432)
#   POLYSTAT_REDIS_PORT    Redis port (default 56379)
#   POLYSTAT_MONGO_PORT    FerretDB port (default 57017)
#   POLYSTAT_SERVICES_WAIT seconds to wait for each server to accept
#                          connections (default 30)
#
# Every server listens on 127.0.0.1 only. Data, logs, pid files and a
# `NAME.started` marker per service live in tests/.services/. `down`, `stop`
# and `restart` stop a service only when its marker is present, so servers
# that this script did not start are never touched. `stop` records the port
# in `NAME.stopped`, which `start` reads. Data is kept across `down`, `up`,
# `stop`, `start` and `restart` and is deleted by `down --purge`.
#
# Runs as root on Debian 12: missing packages are installed with apt-get, and
# FerretDB is built from source with Go, which takes a few minutes the first time.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/tests/.services"

pg_port=${POLYSTAT_PG_PORT:-55432}
redis_port=${POLYSTAT_REDIS_PORT:-56379}
mongo_port=${POLYSTAT_MONGO_PORT:-57017}
wait_seconds=${POLYSTAT_SERVICES_WAIT:-30}

ferretdb_module=github.com/FerretDB/FerretDB
ferretdb_version=v1.24.2

pg_dir="$state/postgres"
pg_data="$pg_dir/data"
pg_log="$pg_dir/postgres.log"
pg_superuser_password_file="$pg_dir/superuser-password"

redis_dir="$state/redis"
redis_conf="$redis_dir/redis.conf"
redis_pidfile="$redis_dir/redis.pid"
redis_log="$redis_dir/redis.log"

ferretdb_dir="$state/ferretdb"
ferretdb_pidfile="$ferretdb_dir/ferretdb.pid"
ferretdb_log="$ferretdb_dir/ferretdb.log"

apt_lists_updated=false

log() {
    echo "services.sh: $*" >&2
}

die() {
    echo "services.sh: error: $*" >&2
    exit 1
}

# Prints the last lines of a server log to stderr, for failure messages.
show_log_tail() {
    local file=$1
    if [[ -f $file ]]; then
        echo "--- last lines of $file ---" >&2
        tail -n 25 "$file" >&2 || true
        echo "---" >&2
    fi
}

check_port_value() {
    local port=$1 variable=$2
    if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        die "invalid port '$port' in $variable: expected a number from 1 to 65535"
    fi
}

# Succeeds when something accepts TCP connections on 127.0.0.1:PORT.
port_accepts_connections() {
    local port=$1
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# Fails unless PORT is free, naming the variable that moves the service.
require_free_port() {
    local port=$1 variable=$2 service=$3
    if port_accepts_connections "$port"; then
        die "port $port on 127.0.0.1 is already in use by a process this script did not start. Set $variable to a free port for $service"
    fi
}

# Installs Debian packages, running `apt-get update` once when the first
# attempt fails, because a fresh machine may have no package lists yet.
apt_install() {
    ((EUID == 0)) || die "installing $* needs root. Install the package(s) $* and rerun"
    log "installing Debian package(s): $*"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; then
        return 0
    fi
    if [[ $apt_lists_updated == false ]]; then
        log "apt-get install failed. Running apt-get update and retrying"
        apt-get update >&2
        apt_lists_updated=true
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 && return 0
    fi
    die "apt-get install $* failed (see the apt-get output above)"
}

# Succeeds when PID exists and is not a zombie. Daemons whose parent exited
# are reparented to PID 1, and in a container PID 1 may reap them late or
# never, so `kill -0` alone would report an exited server as running.
process_alive() {
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    # The state letter follows the command name, which is in parentheses.
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Succeeds when PID is alive and its command name is EXPECTED_NAME, so that a
# pid reused by an unrelated process is not mistaken for the server.
pid_is_process() {
    local pid=$1 expected_name=$2 name
    process_alive "$pid" || return 1
    name=$(</proc/"$pid"/comm) || return 1
    [[ $name == "$expected_name" ]]
}

marker_file() {
    echo "$state/$1.started"
}

# File in which `stop` records the port of the service it stopped.
stopped_file() {
    echo "$state/$1.stopped"
}

# Prints the port that `stop` recorded for a service.
stopped_port() {
    local file
    file=$(stopped_file "$1")
    [[ -f $file ]] || return 1
    sed -n 's/^port=//p' "$file"
}

# Prints the value of KEY (pid or port) from a service's marker file.
marker_value() {
    local service=$1 key=$2 file
    file=$(marker_file "$service")
    [[ -f $file ]] || return 1
    sed -n "s/^$key=//p" "$file"
}

# Records a started service. The port recorded by `stop` is no longer
# needed once the service runs, so it is removed.
write_marker() {
    local service=$1 pid=$2 port=$3
    printf 'pid=%s\nport=%s\n' "$pid" "$port" >"$(marker_file "$service")"
    rm -f "$(stopped_file "$service")"
}

remove_marker() {
    rm -f "$(marker_file "$1")"
}

# Waits up to the configured number of seconds for PID to exit.
wait_for_exit() {
    local pid=$1 deadline=$((SECONDS + wait_seconds))
    while process_alive "$pid"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.1
    done
}

# Sends SIGTERM to PID, then SIGKILL if it has not exited within the wait.
terminate_pid() {
    local pid=$1 service=$2
    kill -TERM "$pid" 2>/dev/null || return 0
    if ! wait_for_exit "$pid"; then
        log "$service (pid $pid) did not exit ${wait_seconds}s after SIGTERM. Sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_for_exit "$pid" || die "$service (pid $pid) did not exit after SIGKILL"
    fi
}

ensure_state_dir() {
    mkdir -p "$state"
    # The postgres user must be able to traverse to its data folder.
    chmod 755 "$state"
}

# ---------------------------------------------------------------- PostgreSQL

pg_bin=""

# Sets pg_bin to the newest /usr/lib/postgresql/VERSION/bin that contains a
# server, installing Debian's postgresql package when none is found.
find_postgres() {
    [[ -n $pg_bin ]] && return 0
    local candidate attempt
    for attempt in 1 2; do
        candidate=$(
            for dir in /usr/lib/postgresql/*/bin; do
                if [[ -x $dir/postgres && -x $dir/initdb && -x $dir/pg_ctl ]]; then
                    echo "$dir"
                fi
            done | sort -V | tail -n 1
        )
        if [[ -n $candidate ]]; then
            pg_bin=$candidate
            return 0
        fi
        if ((attempt == 1)); then
            apt_install postgresql
        fi
    done
    die "no PostgreSQL server found under /usr/lib/postgresql/*/bin after installing the postgresql package"
}

run_as_postgres() {
    runuser -u postgres -- "$@"
}

pg_pid() {
    local pid
    [[ -f $pg_data/postmaster.pid ]] || return 1
    pid=$(head -n 1 "$pg_data/postmaster.pid")
    pid_is_process "$pid" postgres || return 1
    echo "$pid"
}

postgres_running() {
    [[ -f $(marker_file postgres) ]] && pg_pid >/dev/null
}

# Runs psql over TCP as the cluster's superuser.
pg_superuser_psql() {
    PGPASSWORD=$(<"$pg_superuser_password_file") "$pg_bin/psql" \
        -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres "$@"
}

init_postgres_cluster() {
    id postgres >/dev/null 2>&1 || die "the postgres system user is missing. Reinstall the postgresql-common package"
    mkdir -p "$pg_dir"
    chown postgres:postgres "$pg_dir"
    chmod 700 "$pg_dir"
    if ! run_as_postgres test -w "$pg_dir"; then
        die "the postgres user cannot write to $pg_dir. Every folder above it must be searchable by other users (chmod o+x)"
    fi
    if [[ -f $pg_data/PG_VERSION ]]; then
        return 0
    fi

    log "creating a PostgreSQL cluster in $pg_data"
    # PostgreSQL will not run as root, so the cluster belongs to postgres.
    # The superuser gets a random password because only TCP is enabled.
    od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$pg_superuser_password_file"
    chown postgres:postgres "$pg_superuser_password_file"
    chmod 600 "$pg_superuser_password_file"
    rm -rf "$pg_data"
    if ! run_as_postgres "$pg_bin/initdb" -D "$pg_data" -U postgres \
        --pwfile="$pg_superuser_password_file" --auth-host=scram-sha-256 --auth-local=peer \
        -E UTF8 --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1; then
        show_log_tail "$pg_dir/initdb.log"
        die "initdb failed for $pg_data"
    fi
}

# Creates the polystat role and database when they are missing.
create_postgres_database() {
    local role_exists database_exists
    role_exists=$(pg_superuser_psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'polystat'")
    if [[ -z $role_exists ]]; then
        log "creating PostgreSQL role polystat"
        pg_superuser_psql -c "CREATE ROLE polystat LOGIN CREATEDB PASSWORD 'polystat'"
    fi
    database_exists=$(pg_superuser_psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'polystat'")
    if [[ -z $database_exists ]]; then
        log "creating PostgreSQL database polystat"
        pg_superuser_psql -c "CREATE DATABASE polystat OWNER polystat"
    fi
}

start_postgres() {
    find_postgres
    init_postgres_cluster

    local cluster_version binary_version
    cluster_version=$(<"$pg_data/PG_VERSION")
    binary_version=$(basename "$(dirname "$pg_bin")")
    if [[ $cluster_version != "$binary_version" ]]; then
        die "the cluster in $pg_data is PostgreSQL $cluster_version but the server found is $binary_version. Run 'tests/services.sh down --purge' to recreate it"
    fi

    require_free_port "$pg_port" POLYSTAT_PG_PORT PostgreSQL
    log "starting PostgreSQL $binary_version on 127.0.0.1:$pg_port"
    # An empty unix_socket_directories turns Unix sockets off, so clients
    # connect over TCP on 127.0.0.1 only.
    if ! run_as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_log" -w -t "$wait_seconds" \
        -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" \
        start >&2; then
        show_log_tail "$pg_log"
        die "PostgreSQL failed to start on port $pg_port"
    fi
    write_marker postgres "$(pg_pid)" "$pg_port"

    local deadline=$((SECONDS + wait_seconds))
    until "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; do
        if ((SECONDS >= deadline)); then
            show_log_tail "$pg_log"
            die "PostgreSQL on port $pg_port did not accept connections within ${wait_seconds}s"
        fi
        sleep 0.2
    done
}

stop_postgres() {
    local pid
    if ! postgres_running; then
        remove_marker postgres
        return 0
    fi
    pid=$(pg_pid)
    find_postgres
    log "stopping PostgreSQL (pid $pid)"
    if ! run_as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w -t "$wait_seconds" stop >&2; then
        show_log_tail "$pg_log"
        die "PostgreSQL (pid $pid) failed to stop"
    fi
    wait_for_exit "$pid" || die "PostgreSQL (pid $pid) is still running after pg_ctl stop"
    remove_marker postgres
}

up_postgres() {
    if postgres_running; then
        pg_port=$(marker_value postgres port)
        find_postgres
    else
        remove_marker postgres
        start_postgres
    fi
    create_postgres_database
    if ! PGPASSWORD=polystat "$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U polystat -d polystat \
        -tAc "SELECT 1" >/dev/null; then
        show_log_tail "$pg_log"
        die "PostgreSQL on port $pg_port rejected 'SELECT 1' as user polystat"
    fi
}

# --------------------------------------------------------------------- Redis

redis_server=""
redis_cli=""

find_redis() {
    [[ -n $redis_server ]] && return 0
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        apt_install redis-server redis-tools
    fi
    redis_server=$(command -v redis-server) || die "redis-server not found on PATH after installing the redis-server package"
    redis_cli=$(command -v redis-cli) || die "redis-cli not found on PATH after installing the redis-tools package"
}

redis_pid() {
    local pid
    [[ -f $redis_pidfile ]] || return 1
    pid=$(<"$redis_pidfile")
    pid_is_process "$pid" redis-server || return 1
    echo "$pid"
}

redis_running() {
    [[ -f $(marker_file redis) ]] && redis_pid >/dev/null
}

write_redis_config() {
    mkdir -p "$redis_dir/data"
    # `save ""` turns periodic snapshots off. stop_redis still writes a
    # snapshot with SHUTDOWN SAVE, so keys survive `restart` and `down`/`up`.
    cat >"$redis_conf" <<EOF
bind 127.0.0.1
port $redis_port
protected-mode yes
daemonize yes
pidfile $redis_pidfile
logfile $redis_log
dir $redis_dir/data
save ""
appendonly no
EOF
}

start_redis() {
    find_redis
    require_free_port "$redis_port" POLYSTAT_REDIS_PORT Redis
    write_redis_config
    rm -f "$redis_pidfile"
    log "starting Redis on 127.0.0.1:$redis_port"
    if ! "$redis_server" "$redis_conf" >&2; then
        show_log_tail "$redis_log"
        die "redis-server failed to start on port $redis_port"
    fi

    local deadline=$((SECONDS + wait_seconds)) reply=""
    while true; do
        reply=$("$redis_cli" -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null || true)
        [[ $reply == PONG ]] && break
        if ((SECONDS >= deadline)); then
            show_log_tail "$redis_log"
            die "Redis on port $redis_port did not reply PONG to PING within ${wait_seconds}s (last reply: '$reply')"
        fi
        sleep 0.1
    done
    write_marker redis "$(redis_pid)" "$redis_port"
}

stop_redis() {
    local pid port
    if ! redis_running; then
        remove_marker redis
        return 0
    fi
    pid=$(redis_pid)
    find_redis
    port=$(marker_value redis port)
    log "stopping Redis (pid $pid)"
    local reply
    reply=$("$redis_cli" -h 127.0.0.1 -p "$port" shutdown save 2>&1 || true)
    # A successful SHUTDOWN closes the connection without a reply. Redis
    # stays up when it cannot write the snapshot, and replies with an error.
    if [[ -n $reply ]]; then
        log "Redis SHUTDOWN SAVE failed: $reply. Terminating it without a snapshot"
        terminate_pid "$pid" Redis
    elif ! wait_for_exit "$pid"; then
        log "Redis (pid $pid) did not exit after SHUTDOWN SAVE. Terminating it"
        terminate_pid "$pid" Redis
    fi
    remove_marker redis
}

up_redis() {
    if redis_running; then
        redis_port=$(marker_value redis port)
    else
        remove_marker redis
        start_redis
    fi
}

# ------------------------------------------------------------------ FerretDB

ferretdb_bin=""

# Succeeds when BINARY runs and reports the pinned FerretDB version.
ferretdb_binary_usable() {
    local binary=$1
    [[ -x $binary ]] || return 1
    # Capture first: `grep -q` exits at the first match, and under pipefail
    # the SIGPIPE that FerretDB may then get would fail the check at random.
    local reported
    reported=$("$binary" --version 2>/dev/null) || return 1
    grep -qw -- "$ferretdb_version" <<<"$reported"
}

# Builds FerretDB into OUTPUT from the module source.
#
# With v1.24.2, a plain `go install .../cmd/ferretdb@VERSION` builds a binary
# that panics at startup, because the module archive lacks build/version/version.txt, which
# FerretDB's release builds generate from `git describe`. So this copies the
# module source, writes that file, as FerretDB's panic message suggests, and
# runs `go build` on the copy.
build_ferretdb() {
    local go=$1 output=$2 source_dir build_dir
    log "building FerretDB $ferretdb_version with go build. This takes a few minutes the first time"
    # GOTOOLCHAIN=local keeps go from downloading another Go toolchain.
    source_dir=$(GOTOOLCHAIN=local "$go" mod download -json "$ferretdb_module@$ferretdb_version" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
    [[ -n $source_dir && -d $source_dir ]] ||
        die "go mod download $ferretdb_module@$ferretdb_version did not return a source folder"

    build_dir=$(mktemp -d "${TMPDIR:-/tmp}/polystat-ferretdb-build.XXXXXX")
    cp -R "$source_dir/." "$build_dir"
    chmod -R u+w "$build_dir"
    echo "$ferretdb_version" >"$build_dir/build/version/version.txt"
    mkdir -p "$(dirname "$output")"
    if ! (cd "$build_dir" && GOTOOLCHAIN=local "$go" build -buildvcs=false -o "$output" ./cmd/ferretdb) >&2; then
        rm -rf "$build_dir"
        die "go build of FerretDB $ferretdb_version failed (see the go output above). Its go.mod requires Go 1.24 or newer"
    fi
    rm -rf "$build_dir"
}

# Sets ferretdb_bin to a FerretDB binary of the pinned version: the one on
# PATH, else the one in Go's install folder, else a new build there.
find_ferretdb() {
    [[ -n $ferretdb_bin ]] && return 0
    local on_path go go_bin_dir
    on_path=$(command -v ferretdb || true)
    if [[ -n $on_path ]] && ferretdb_binary_usable "$on_path"; then
        ferretdb_bin=$on_path
        return 0
    fi

    go=$(command -v go || true)
    if [[ -z $go && -x /usr/local/go/bin/go ]]; then
        go=/usr/local/go/bin/go
    fi
    [[ -n $go ]] || die "FerretDB $ferretdb_version is not installed and Go is missing. Install Go 1.24 or newer to build it"

    go_bin_dir=$("$go" env GOBIN)
    if [[ -z $go_bin_dir ]]; then
        go_bin_dir="$("$go" env GOPATH | cut -d: -f1)/bin"
    fi
    if ! ferretdb_binary_usable "$go_bin_dir/ferretdb"; then
        build_ferretdb "$go" "$go_bin_dir/ferretdb"
    fi
    ferretdb_binary_usable "$go_bin_dir/ferretdb" ||
        die "$go_bin_dir/ferretdb does not run or does not report version $ferretdb_version after the build"
    ferretdb_bin="$go_bin_dir/ferretdb"
}

ferretdb_pid() {
    local pid
    [[ -f $ferretdb_pidfile ]] || return 1
    pid=$(<"$ferretdb_pidfile")
    pid_is_process "$pid" ferretdb || return 1
    echo "$pid"
}

ferretdb_running() {
    [[ -f $(marker_file mongodb) ]] && ferretdb_pid >/dev/null
}

# Sends a MongoDB `ping` command as an OP_MSG to 127.0.0.1:PORT and succeeds
# when the reply contains `ok: 1.0`. Bash builds the message byte by byte
# because Debian packages no MongoDB client.
mongodb_ping() {
    local port=$1 reply
    # OP_MSG (opcode 2013), 51 bytes: a 16-byte header, flagBits 0, then a
    # kind-0 section with the BSON document {ping: 1, $db: "admin"}.
    local request='\x33\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00'
    request+='\x00\x00\x00\x00\x00'
    # shellcheck disable=SC2016 # "$db" is the literal BSON field name
    request+='\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00\x02$db\x00\x06\x00\x00\x00admin\x00\x00'
    reply=$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        # shellcheck disable=SC2059 # the request is a printf escape sequence
        printf "$request" >&3
        length_hex=$(timeout 5 dd bs=1 count=4 status=none <&3 | od -An -v -tx1 | tr -d ' \n')
        [[ ${#length_hex} == 8 ]] || exit 1
        # The message length is a little-endian int32 that counts itself.
        length=$((16#${length_hex:6:2}${length_hex:4:2}${length_hex:2:2}${length_hex:0:2}))
        ((length > 4 && length < 65536)) || exit 1
        timeout 5 dd bs=1 count=$((length - 4)) status=none <&3 | od -An -v -tx1 | tr -d ' \n'
    ) || return 1
    # A BSON double (type 0x01) named "ok" with the value 1.0.
    [[ $reply == *016f6b00000000000000f03f* ]]
}

start_ferretdb() {
    find_ferretdb
    require_free_port "$mongo_port" POLYSTAT_MONGO_PORT FerretDB
    mkdir -p "$ferretdb_dir/data" "$ferretdb_dir/state"
    rm -f "$ferretdb_pidfile"

    log "starting FerretDB on 127.0.0.1:$mongo_port"
    # Telemetry is off because FerretDB's telemetry reporter otherwise sends
    # reports to a host outside this machine. `--debug-addr=-` turns off the metrics and
    # profiling HTTP listener, which would otherwise take port 8088.
    FERRETDB_TELEMETRY=disable nohup "$ferretdb_bin" \
        --handler=sqlite \
        --sqlite-url="file:$ferretdb_dir/data/" \
        --listen-addr="127.0.0.1:$mongo_port" \
        --state-dir="$ferretdb_dir/state" \
        --telemetry=disable \
        --debug-addr=- \
        --log-level=info \
        >>"$ferretdb_log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$ferretdb_pidfile"

    local deadline=$((SECONDS + wait_seconds))
    until mongodb_ping "$mongo_port"; do
        if ! process_alive "$pid"; then
            show_log_tail "$ferretdb_log"
            die "FerretDB exited during startup on port $mongo_port"
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail "$ferretdb_log"
            terminate_pid "$pid" FerretDB
            die "FerretDB on port $mongo_port did not reply to a MongoDB ping within ${wait_seconds}s"
        fi
        sleep 0.1
    done
    write_marker mongodb "$pid" "$mongo_port"
}

stop_ferretdb() {
    local pid
    if ! ferretdb_running; then
        remove_marker mongodb
        return 0
    fi
    pid=$(ferretdb_pid)
    log "stopping FerretDB (pid $pid)"
    terminate_pid "$pid" FerretDB
    remove_marker mongodb
}

up_ferretdb() {
    if ferretdb_running; then
        mongo_port=$(marker_value mongodb port)
    else
        remove_marker mongodb
        start_ferretdb
    fi
}

# ------------------------------------------------------------------ commands

# Fails when a service started earlier runs on a different port than the
# one now requested, because the printed URL would not match the variable.
check_running_port() {
    local service=$1 running_function=$2 requested=$3 variable=$4 running
    running=$(marker_value "$service" port 2>/dev/null || true)
    if [[ -n $running && $running != "$requested" ]] && "$running_function"; then
        die "$service is running on port $running but $variable requests $requested. Run 'tests/services.sh restart $service' to move it"
    fi
}

command_up() {
    check_port_value "$pg_port" POLYSTAT_PG_PORT
    check_port_value "$redis_port" POLYSTAT_REDIS_PORT
    check_port_value "$mongo_port" POLYSTAT_MONGO_PORT
    ensure_state_dir

    check_running_port postgres postgres_running "$pg_port" POLYSTAT_PG_PORT
    check_running_port redis redis_running "$redis_port" POLYSTAT_REDIS_PORT
    check_running_port mongodb ferretdb_running "$mongo_port" POLYSTAT_MONGO_PORT

    # Check every port before starting anything, so that a taken port does
    # not leave the other servers half started.
    postgres_running || require_free_port "$pg_port" POLYSTAT_PG_PORT PostgreSQL
    redis_running || require_free_port "$redis_port" POLYSTAT_REDIS_PORT Redis
    ferretdb_running || require_free_port "$mongo_port" POLYSTAT_MONGO_PORT FerretDB

    up_postgres
    up_redis
    up_ferretdb

    echo "export POLYSTAT_TEST_POSTGRES_URL=postgres://polystat:polystat@127.0.0.1:$pg_port/polystat"
    echo "export POLYSTAT_TEST_MONGODB_URL=mongodb://127.0.0.1:$mongo_port/polystat"
    echo "export POLYSTAT_TEST_REDIS_URL=redis://127.0.0.1:$redis_port"
}

command_down() {
    local purge=false
    case "${1:-}" in
        "") ;;
        --purge) purge=true ;;
        *) die "unknown option '$1' for down. Expected --purge or nothing" ;;
    esac

    if [[ -d $state ]]; then
        stop_ferretdb
        stop_redis
        stop_postgres
    fi
    if [[ $purge == true ]]; then
        log "deleting $state"
        rm -rf -- "$state"
    fi
}

print_status() {
    local service=$1 pid_function=$2 pid port
    port=$(marker_value "$service" port 2>/dev/null || true)
    if [[ -f $(marker_file "$service") ]] && pid=$("$pid_function"); then
        echo "$service: running (pid $pid, 127.0.0.1:$port)"
    elif [[ -f $(marker_file "$service") ]]; then
        echo "$service: stopped (started by this script, but the process is gone; 'up' starts it again)"
    elif port=$(stopped_port "$service" 2>/dev/null) && [[ -n $port ]]; then
        echo "$service: stopped by 'stop' ('start $service' starts it again on 127.0.0.1:$port)"
    else
        echo "$service: stopped"
    fi
}

command_status() {
    print_status postgres pg_pid
    print_status redis redis_pid
    print_status mongodb ferretdb_pid
}

# Prints the port a started or restarted service uses: the value of VARIABLE
# when it is set, else the port recorded when the service was started, else
# the port recorded by `stop`, else DEFAULT.
port_to_start() {
    local service=$1 variable=$2 default=$3 recorded
    if [[ -n ${!variable:-} ]]; then
        echo "${!variable}"
        return 0
    fi
    recorded=$(marker_value "$service" port 2>/dev/null || true)
    if [[ -z $recorded ]]; then
        recorded=$(stopped_port "$service" 2>/dev/null || true)
    fi
    echo "${recorded:-$default}"
}

# Restarts one service. It keeps the port it ran on unless the service's
# port variable is set.
command_restart() {
    local service=${1:-}
    ensure_state_dir
    case "$service" in
        postgres)
            pg_port=$(port_to_start postgres POLYSTAT_PG_PORT "$pg_port")
            check_port_value "$pg_port" POLYSTAT_PG_PORT
            stop_postgres
            start_postgres
            ;;
        redis)
            redis_port=$(port_to_start redis POLYSTAT_REDIS_PORT "$redis_port")
            check_port_value "$redis_port" POLYSTAT_REDIS_PORT
            stop_redis
            start_redis
            ;;
        mongodb)
            mongo_port=$(port_to_start mongodb POLYSTAT_MONGO_PORT "$mongo_port")
            check_port_value "$mongo_port" POLYSTAT_MONGO_PORT
            stop_ferretdb
            start_ferretdb
            ;;
        *) die "unknown service '$service' for restart. Expected postgres, redis or mongodb" ;;
    esac
}

# Stops SERVICE with STOP_FUNCTION when RUNNING_FUNCTION reports it running,
# and records the port it ran on for `start`.
stop_service() {
    local service=$1 running_function=$2 stop_function=$3 port
    port=$(marker_value "$service" port 2>/dev/null || true)
    if "$running_function"; then
        "$stop_function"
        log "stopped $service, which ran on port $port. Its data is kept"
    else
        log "$service is not running under this script. Nothing to stop"
        # This removes a marker whose process is gone.
        "$stop_function"
    fi
    if [[ -n $port ]]; then
        printf 'port=%s\n' "$port" >"$(stopped_file "$service")"
    fi
}

# Stops one service and keeps its data. Does nothing when it is not running.
command_stop() {
    local service=${1:-}
    case "$service" in
        postgres | redis | mongodb) ;;
        *) die "unknown service '$service' for stop. Expected postgres, redis or mongodb" ;;
    esac
    if [[ ! -d $state ]]; then
        log "$service is not running under this script. Nothing to stop"
        return 0
    fi
    case "$service" in
        postgres) stop_service postgres postgres_running stop_postgres ;;
        redis) stop_service redis redis_running stop_redis ;;
        mongodb) stop_service mongodb ferretdb_running stop_ferretdb ;;
    esac
}

# Starts one service as `up` does, on the port it had before `stop` unless
# the service's port variable is set. Does nothing when it is running.
command_start() {
    local service=${1:-}
    ensure_state_dir
    case "$service" in
        postgres)
            pg_port=$(port_to_start postgres POLYSTAT_PG_PORT "$pg_port")
            check_port_value "$pg_port" POLYSTAT_PG_PORT
            check_running_port postgres postgres_running "$pg_port" POLYSTAT_PG_PORT
            if postgres_running; then
                log "postgres is already running on 127.0.0.1:$pg_port"
            fi
            up_postgres
            ;;
        redis)
            redis_port=$(port_to_start redis POLYSTAT_REDIS_PORT "$redis_port")
            check_port_value "$redis_port" POLYSTAT_REDIS_PORT
            check_running_port redis redis_running "$redis_port" POLYSTAT_REDIS_PORT
            if redis_running; then
                log "redis is already running on 127.0.0.1:$redis_port"
            fi
            up_redis
            ;;
        mongodb)
            mongo_port=$(port_to_start mongodb POLYSTAT_MONGO_PORT "$mongo_port")
            check_port_value "$mongo_port" POLYSTAT_MONGO_PORT
            check_running_port mongodb ferretdb_running "$mongo_port" POLYSTAT_MONGO_PORT
            if ferretdb_running; then
                log "mongodb is already running on 127.0.0.1:$mongo_port"
            fi
            up_ferretdb
            ;;
        *) die "unknown service '$service' for start. Expected postgres, redis or mongodb" ;;
    esac
}

usage() {
    cat >&2 <<'EOF'
usage: tests/services.sh up
       tests/services.sh down [--purge]
       tests/services.sh status
       tests/services.sh restart postgres|redis|mongodb
       tests/services.sh stop postgres|redis|mongodb
       tests/services.sh start postgres|redis|mongodb
EOF
}

main() {
    local command=${1:-}
    shift || true
    if ! [[ $wait_seconds =~ ^[1-9][0-9]*$ ]]; then
        die "invalid POLYSTAT_SERVICES_WAIT '$wait_seconds': expected a whole number of seconds greater than 0"
    fi
    case "$command" in
        up) command_up ;;
        down) command_down "$@" ;;
        status) command_status ;;
        restart) command_restart "$@" ;;
        stop) command_stop "$@" ;;
        start) command_start "$@" ;;
        -h | --help | help) usage ;;
        *)
            usage
            exit 2
            ;;
    esac
}

main "$@"
