# Helpers shared by the scripts that run the tests' servers
# (test/kafka/kafka.sh, test/stomp/artemis.sh).  Sourced, not run:
#
#   . "$REPO/test/lib.sh"
#
# The sourcing script sets CACHE (the cache root) and M2_REPO (Maven's
# local repository) before calling the Maven helpers.  Messages carry the
# name of the script that was run ("kafka.sh: ...").
#
#   log MESSAGE / die MESSAGE      on standard error; die exits with 1
#   usage                          the running script's header comment, exit 2
#   fetch_once NAME HAVE FETCH     run FETCH unless HAVE succeeds, under a lock
#                                  ($CACHE/.NAME-fetch.lock), so that parallel
#                                  runs fetch once
#   mvn_quiet ARG...               mvn, quiet, into $M2_REPO; its output on
#                                  standard error, its exit status
#   alive PID                      the process exists and is not a zombie
#   wait_gone PID SECONDS          until the process is gone; 1 on timeout
#   wait_ready PID SECONDS CMD...  until CMD succeeds: 0; 1 on timeout, 2 if
#                                  the process exited first
#   stop_pid PID SECONDS           SIGTERM, SIGKILL after SECONDS
#   pid_running PIDFILE PATTERN    the pid in PIDFILE if its command line
#                                  contains PATTERN (not a reused pid)
#   port_in_use PORT               something listens on 127.0.0.1:PORT
#   free_port [PORT...]            a free port, none of the arguments
#   random_word LENGTH             letters and digits

# Maven 3.8.7's super-POM does not pin maven-dependency-plugin; pin it.
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2
    exit 2
}

# ---------------------------------------------------------------- Maven ----

fetch_once() {
    local name=$1 have=$2 fetch=$3
    "$have" && return 0
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.$name-fetch.lock"
    flock 9
    "$have" || "$fetch"
    exec 9>&-
}

# -Dmaven.repo.local keeps downloads in the cache, not in ~/.m2 (which may
# not exist or be writable, e.g. for the postgres user).  Debian's Maven
# 3.8.7 prints bare ESC[0m sequences even with -B -q; the sed strips them
# (the callers' pipefail keeps mvn's exit status).
mvn_quiet() {
    mvn -B -q -ntp -Dmaven.repo.local="$M2_REPO" "$@" 2>&1 |
        sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2
}

# ------------------------------------------------------------ processes ----

# Reads /proc rather than kill -0, so that it works for another user's
# process too.
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        alive "$pid" || return 0
        sleep 0.2
    done
    return 1
}

wait_ready() {
    local pid=$1 deadline=$((SECONDS + $2))
    shift 2
    while ((SECONDS < deadline)); do
        alive "$pid" || return 2
        "$@" && return 0
        sleep 0.3
    done
    return 1
}

stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$2"; then
        log "pid $pid still alive after $2 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
    fi
}

# A server script's "stop <dir>": stop the server running in dir (as the
# script's running_pid finds it), then remove its pid file:
# stop_server <dir> <pid file name> <timeout>
stop_server() {
    local dir pid
    dir=$(cd "$1" 2>/dev/null && pwd -P) || { log "no such dir"; return 0; }
    if pid=$(running_pid "$dir"); then
        stop_pid "$pid" "$3"
        log "stopped pid $pid"
    else
        log "not running"
    fi
    rm -f "$dir/$2"
}

pid_running() {
    local pid cmdline
    [[ -f $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$2"* ]] || return 1
    echo "$pid"
}

# ---------------------------------------------------------------- ports ----

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A random port from 20000 up to the kernel's ephemeral range, which
# outgoing connections take their local ports from: such a port is not
# listened on, so port_in_use misses it, yet a server cannot bind it
# ("Address already in use", seen once in a Kafka start).  Racy with
# other processes choosing ports, but good enough for tests.
free_port() {
    local low=32768 high port
    read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    ((low > 21000)) || low=45000
    for _ in {1..100}; do
        port=$((20000 + RANDOM % (low - 20000)))
        [[ " $* " == *" $port "* ]] && continue
        port_in_use "$port" || { echo "$port"; return; }
    done
    die "no free port found"
}

random_word() {
    local word=''
    while ((${#word} < $1)); do
        word+=$(head -c 64 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9')
    done
    echo "${word:0:$1}"
}
