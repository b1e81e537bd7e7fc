#!/usr/bin/env bash
# Apicurio Registry on 127.0.0.1, in memory, for the Avro tests: a real
# schema registry with the Confluent-compatible API at
# http://127.0.0.1:<port>/apis/ccompat/v7.  Built from Maven Central by mvn
# (app/pom.xml: the registry's application jar, made runnable by Quarkus's
# Maven plugin); nothing else is downloaded.
#
#   registry.sh fetch          build the runnable registry (idempotent)
#   registry.sh start <dir>    start it, print its port
#   registry.sh stop <dir>     SIGTERM, then SIGKILL after a timeout
#   registry.sh url <dir>      the Confluent-compatible API's URL
#
# Environment:
#   RAIL_STREAM_CACHE     cache root (default <repo>/.cache); the registry goes
#                         to $RAIL_STREAM_CACHE/apicurio-2.4.2, Maven's local
#                         repository to $RAIL_STREAM_CACHE/m2
#   REGISTRY_START_TIMEOUT  seconds to wait for the API (default 120)
#
# <dir> layout: port, registry.pid, registry.log.  Schemas live in memory:
# a restart empties the registry.
set -euo pipefail
unset CDPATH

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# log, die, usage, the Maven fetch, processes, ports
. "$REPO/test/lib.sh"

VERSION=2.4.2
CACHE=$(realpath -m "${RAIL_STREAM_CACHE:-$REPO/.cache}")
HOME_DIR=$CACHE/apicurio-$VERSION
M2_REPO=${RAIL_STREAM_M2_REPO:-$CACHE/m2}
START_TIMEOUT=${REGISTRY_START_TIMEOUT:-120}
RUNNER=rail-stream-test-registry-$VERSION.Final-runner.jar

have_app() { [[ -f $HOME_DIR/.complete ]]; }

cmd_fetch() { fetch_once apicurio have_app fetch_locked; }

fetch_locked() {
    local tmp t0=$SECONDS
    tmp=$(mktemp -d "$CACHE/.apicurio-$VERSION.XXXXXX")
    log "building Apicurio Registry $VERSION from Maven Central into $HOME_DIR"
    cp -r "$HERE/app/." "$tmp/"
    # the registry's own jar is indexed, so that Quarkus finds its beans;
    # the parent POM's checks (checkstyle, enforcer) are for its sources
    if ! (cd "$tmp" && mvn_quiet -DskipTests -Dcheckstyle.skip -Denforcer.skip \
            -Dmaven.javadoc.skip -Dmaven.source.skip \
            -Dquarkus.index-dependency.app.group-id=io.apicurio \
            -Dquarkus.index-dependency.app.artifact-id=apicurio-registry-app \
            package); then
        rm -rf "$tmp"
        die "mvn failed to build Apicurio Registry $VERSION"
    fi
    rm -rf "$HOME_DIR"
    mkdir -p "$HOME_DIR"
    mv "$tmp/target/$RUNNER" "$tmp/target/lib" "$HOME_DIR/"
    rm -rf "$tmp"
    touch "$HOME_DIR/.complete"
    log "built in $((SECONDS - t0)) s"
}

running_pid() { pid_running "$1/registry.pid" "-Drail_stream.registry=$1 "; }

api_answers() { curl -sf "http://127.0.0.1:$1/apis/ccompat/v7/subjects" >/dev/null; }

cmd_start() {
    [[ $# -eq 1 ]] || die "usage: start <dir>"
    local dir=$1 port pid rc=0 t0=$SECONDS
    have_app || cmd_fetch
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    running_pid "$dir" >/dev/null && die "a registry is already running on $dir"
    port=$(free_port)
    echo "$port" >"$dir/port"
    # setsid: its own session, so a signal to the caller's group misses it;
    # SerialGC and C1 only: less startup CPU on a small machine
    setsid java -Drail_stream.registry="$dir" -Xmx256m -XX:+UseSerialGC \
        -XX:TieredStopAtLevel=1 -Dquarkus.profile=prod \
        -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
        -jar "$HOME_DIR/$RUNNER" >>"$dir/registry.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/registry.pid"
    wait_ready "$pid" "$START_TIMEOUT" api_answers "$port" || rc=$?
    if ((rc == 0)); then
        log "registry pid $pid ready in $((SECONDS - t0)) s"
        echo "$port"
        return 0
    fi
    tail -n 30 "$dir/registry.log" >&2
    cmd_stop "$dir"
    die "the registry did not answer on port $port within $START_TIMEOUT s"
}

cmd_stop() {
    [[ $# -eq 1 ]] || die "usage: stop <dir>"
    stop_server "$1" registry.pid 30
}

cmd_url() {
    [[ $# -eq 1 ]] || die "usage: url <dir>"
    echo "http://127.0.0.1:$(<"$1/port")/apis/ccompat/v7"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        fetch) cmd_fetch "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        url) cmd_url "$@" ;;
        *) usage ;;
    esac
}

main "$@"
