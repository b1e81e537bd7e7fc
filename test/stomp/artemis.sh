#!/usr/bin/env bash
# Single Apache ActiveMQ Artemis broker on 127.0.0.1 with a STOMP acceptor,
# for the feeder's tests (docker/feeder).  The distribution comes from Maven
# Central via mvn (org.apache.activemq:apache-artemis:<v>:tar.gz:bin);
# nothing else is downloaded.
#
#   artemis.sh fetch                 fetch and unpack the distribution (idempotent)
#   artemis.sh start <dir>           create an instance on first use, start it,
#                                    print the STOMP port
#   artemis.sh stop <dir>            SIGTERM, then SIGKILL after a timeout
#   artemis.sh restart <dir>         stop, then start on the same ports
#   artemis.sh status <dir>          exit 0 if running, 3 if stopped
#   artemis.sh queue-stat <dir>      the broker's queues and their message
#                                    counts ("artemis queue stat", a JVM start)
#
# Environment:
#   RAIL_STREAM_CACHE    cache root (default <repo>/.cache); the distribution
#                        goes to $RAIL_STREAM_CACHE/artemis-<version>, Maven's
#                        local repository to $RAIL_STREAM_CACHE/m2
#   RAIL_STREAM_M2_REPO  override Maven's local repository location
#   ARTEMIS_VERSION      default 2.40.0 (needs Java 17)
#   ARTEMIS_USER, ARTEMIS_PASSWORD   the one user (default rail / a random
#                        word, kept in <dir>/user and <dir>/password)
#   ARTEMIS_HEAP         default -Xms64m -Xmx384m
#   ARTEMIS_START_TIMEOUT  seconds to wait for the STOMP port (default 90)
#   ARTEMIS_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#
# <dir> layout: broker/ (the instance: etc/, data/ with the journal, log/),
# ports ("stomp core"), user, password, artemis.pid, artemis.log (stdout and
# stderr).  Messages of durable subscriptions survive stop/start (the
# journal is in broker/data); delete <dir> for a clean broker.
#
# The STOMP acceptor maps "/topic/NAME" to a multicast address NAME and
# "/queue/NAME" to an anycast one, as ActiveMQ Classic and Network Rail's
# broker name their destinations.
set -euo pipefail
unset CDPATH

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# log, die, usage, the Maven fetch, processes, ports
. "$REPO/test/lib.sh"

ARTEMIS_VERSION=${ARTEMIS_VERSION:-2.40.0}
CACHE=$(realpath -m "${RAIL_STREAM_CACHE:-$REPO/.cache}")
ARTEMIS_HOME=$CACHE/artemis-$ARTEMIS_VERSION
M2_REPO=${RAIL_STREAM_M2_REPO:-$CACHE/m2}
START_TIMEOUT=${ARTEMIS_START_TIMEOUT:-90}
STOP_TIMEOUT=${ARTEMIS_STOP_TIMEOUT:-30}
HEAP=${ARTEMIS_HEAP:--Xms64m -Xmx384m}

# ---------------------------------------------------------------- fetch ----

have_dist() { [[ -f $ARTEMIS_HOME/.complete ]]; }

cmd_fetch() { fetch_once artemis have_dist fetch_locked; }

fetch_locked() {
    local tmp t0=$SECONDS
    tmp=$(mktemp -d "$CACHE/.artemis-$ARTEMIS_VERSION.XXXXXX")
    log "fetching Artemis $ARTEMIS_VERSION from Maven Central into $ARTEMIS_HOME"
    # No POM needed: dependency:copy takes the artifact's coordinates.
    if ! mvn_quiet "$DEP_PLUGIN:copy" \
            -Dartifact="org.apache.activemq:apache-artemis:$ARTEMIS_VERSION:tar.gz:bin" \
            -DoutputDirectory="$tmp"; then
        rm -rf "$tmp"
        die "mvn failed to fetch Artemis $ARTEMIS_VERSION"
    fi
    tar -xzf "$tmp"/apache-artemis-*-bin.tar.gz -C "$tmp" ||
        { rm -rf "$tmp"; die "could not unpack the Artemis distribution"; }
    rm -rf "$ARTEMIS_HOME"
    mv "$tmp/apache-artemis-$ARTEMIS_VERSION" "$ARTEMIS_HOME"
    rm -rf "$tmp"
    touch "$ARTEMIS_HOME/.complete"
    log "fetched in $((SECONDS - t0)) s"
}

ensure_dist() {
    have_dist || cmd_fetch
    have_dist || die "no Artemis distribution in $ARTEMIS_HOME"
}

# ------------------------------------------------------- process helpers ----

# Pid of the broker running on <dir>, checked against its command line so a
# reused pid is not taken for the broker.
running_pid() { pid_running "$1/artemis.pid" "-Dartemis.instance=$1/broker "; }

# The STOMP port answers a CONNECT with the instance's user by CONNECTED.
stomp_answers() {
    local port=$1 dir=$2 reply
    reply=$(
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf 'CONNECT\naccept-version:1.2\nhost:localhost\nlogin:%s\npasscode:%s\n\n\0' \
            "$(<"$dir/user")" "$(<"$dir/password")" >&3
        timeout 5 head -c 9 <&3
    ) 2>/dev/null || return 1
    [[ $reply == CONNECTED ]]
}

# Ready: the STOMP port answers.  The script execs java: its pid goes to
# artemis.pid as soon as it has, so that stop finds a broker still starting.
broker_ready() {
    local dir=$1 pid=$2 stomp=$3
    if [[ ! -f $dir/artemis.pid ]] &&
            [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"-Dartemis.instance="* ]]; then
        echo "$pid" >"$dir/artemis.pid"
    fi
    port_in_use "$stomp" && stomp_answers "$stomp" "$dir"
}

# ---------------------------------------------------------------- start ----

# "artemis create" writes the instance (broker.xml, users, JVM profile) once.
create_instance() {
    local dir=$1 stomp=$2 core=$3
    [[ -f $dir/broker/etc/broker.xml ]] && return 0
    [[ -f $dir/user ]] || echo "${ARTEMIS_USER:-rail}" >"$dir/user"
    [[ -f $dir/password ]] ||
        (umask 077; echo "${ARTEMIS_PASSWORD:-$(random_word 20)}" >"$dir/password")
    log "creating a broker instance in $dir/broker"
    if ! "$ARTEMIS_HOME/bin/artemis" create "$dir/broker" --silent --force \
            --user "$(<"$dir/user")" --password "$(<"$dir/password")" \
            --require-login --host 127.0.0.1 --default-port "$core" \
            --no-web --no-amqp-acceptor --no-hornetq-acceptor \
            --no-mqtt-acceptor --nio --no-autotune \
            >"$dir/create.log" 2>&1; then
        cat "$dir/create.log" >&2
        die "artemis create failed"
    fi
}

# Put the chosen ports into broker.xml, prefix-map /topic/ and /queue/ on the
# STOMP acceptor, and set the heap of the instance's JVM.
rewrite_config() {
    local dir=$1 stomp=$2 core=$3 xml=$dir/broker/etc/broker.xml
    # idempotent: a second start rewrites the same values
    sed -i -E \
        -e "s#(<acceptor name=\"stomp\">)tcp://[^?]*\\?(anycastPrefix=/queue/;multicastPrefix=/topic/;)?#\\1tcp://127.0.0.1:$stomp?anycastPrefix=/queue/;multicastPrefix=/topic/;#" \
        -e "s#(<acceptor name=\"artemis\">tcp://)[^:]+:[0-9]+#\\1127.0.0.1:$core#" \
        "$xml"
    grep -q "tcp://127.0.0.1:$stomp?" "$xml" || die "no STOMP acceptor in $xml"
    # SerialGC and C1 only: less startup CPU on a small machine
    sed -i -E -e "s#-XX:\\+UseG1GC -XX:\\+UseStringDeduplication#-XX:+UseSerialGC -XX:TieredStopAtLevel=1#" \
        -e "s#-Xms[0-9]+[mMgG] -Xmx[0-9]+[mMgG]#$HEAP#" \
        "$dir/broker/etc/artemis.profile"
}

choose_ports() {
    local dir=$1 stomp='' core=''
    [[ -f $dir/ports ]] && read -r stomp core <"$dir/ports"
    [[ -n $stomp ]] && ! port_in_use "$stomp" || stomp=$(free_port)
    [[ -n $core && $core != "$stomp" ]] && ! port_in_use "$core" ||
        core=$(free_port "$stomp")
    echo "$stomp $core" >"$dir/ports"
    echo "$stomp $core"
}

cmd_start() {
    [[ $# -eq 1 ]] || die "usage: start <dir>"
    local dir=$1 stomp core pid rc=0 t0=$SECONDS
    ensure_dist
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    running_pid "$dir" >/dev/null && die "a broker is already running on $dir"
    read -r stomp core <<<"$(choose_ports "$dir")"
    create_instance "$dir" "$stomp" "$core"
    rewrite_config "$dir" "$stomp" "$core"
    printf '\n=== artemis.sh start %s ===\n' "$(date -Is)" >>"$dir/artemis.log"
    # setsid: its own session, so a signal to the caller's group misses it.
    setsid "$dir/broker/bin/artemis" run >>"$dir/artemis.log" 2>&1 </dev/null &
    pid=$!
    wait_ready "$pid" "$START_TIMEOUT" broker_ready "$dir" "$pid" "$stomp" || rc=$?
    if ((rc == 0)); then
        echo "$pid" >"$dir/artemis.pid"
        log "broker pid $pid ready in $((SECONDS - t0)) s"
        echo "$stomp"
        return 0
    fi
    tail -n 30 "$dir/artemis.log" >&2
    ((rc == 2)) && die "broker exited during startup (see $dir/artemis.log)"
    echo "$pid" >"$dir/artemis.pid"
    cmd_stop "$dir"
    die "broker did not answer on STOMP port $stomp within $START_TIMEOUT s"
}

cmd_stop() {
    [[ $# -eq 1 ]] || die "usage: stop <dir>"
    stop_server "$1" artemis.pid "$STOP_TIMEOUT"
}

cmd_restart() {
    [[ $# -eq 1 ]] || die "usage: restart <dir>"
    cmd_stop "$1"
    cmd_start "$1"
}

cmd_status() {
    [[ $# -eq 1 ]] || die "usage: status <dir>"
    local dir=$1 pid stomp core
    dir=$(cd "$dir" 2>/dev/null && pwd -P) || { echo stopped; return 3; }
    pid=$(running_pid "$dir") || { echo stopped; return 3; }
    read -r stomp core <"$dir/ports"
    echo "running pid=$pid stomp=127.0.0.1:$stomp"
}

cmd_queue_stat() {
    [[ $# -eq 1 ]] || die "usage: queue-stat <dir>"
    local dir=$1 stomp core
    dir=$(cd "$dir" && pwd -P)
    running_pid "$dir" >/dev/null || die "no broker running on $dir"
    read -r stomp core <"$dir/ports"
    "$dir/broker/bin/artemis" queue stat --silent \
        --user "$(<"$dir/user")" --password "$(<"$dir/password")" \
        --url "tcp://127.0.0.1:$core"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        fetch) cmd_fetch "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        restart) cmd_restart "$@" ;;
        status) cmd_status "$@" ;;
        queue-stat) cmd_queue_stat "$@" ;;
        *) usage ;;
    esac
}

main "$@"
