#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) on 127.0.0.1
# for rail_stream's tests and demo.  Jars come from Maven Central via mvn;
# nothing else is downloaded.
#
#   kafka.sh fetch                      resolve jars into the cache (idempotent)
#   kafka.sh start <dir> [port]         format + start a broker, print bootstrap
#   kafka.sh stop <dir>                 SIGTERM, then SIGKILL after a timeout
#   kafka.sh status <dir>               exit 0 if running, 3 if stopped
#   kafka.sh create-topic <bootstrap> <topic> <partitions>
#   kafka.sh delete-topic <bootstrap> <topic>
#   kafka.sh offsets <bootstrap> <topic>     latest offset of each partition
#   kafka.sh group <bootstrap> <group>        a consumer group's offsets and lag
#   kafka.sh classpath                  print the java -cp value
#
# Environment:
#   RAIL_STREAM_CACHE    cache root (default <repo>/.cache); jars go to
#                        $RAIL_STREAM_CACHE/kafka-<version>/lib, Maven's local
#                        repository to $RAIL_STREAM_CACHE/m2 (not ~/.m2)
#   RAIL_STREAM_M2_REPO  override Maven's local repository location
#   KAFKA_VERSION        default 4.1.2; 3.9.x also works (reload4j logging)
#   KAFKA_HEAP_OPTS      default "-Xms128m -Xmx512m"
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 90)
#   KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#   KAFKA_NUM_PARTITIONS partitions of auto-created topics (default 1)
#   KAFKA_EXTRA_PROPERTIES  lines appended to server.properties (e.g.
#                        "log.retention.ms=60000"); later keys win
#   JAVA_HOME / JAVA     java to use (default: java on PATH)
#
# Listeners, all on 127.0.0.1 and random free ports:
#   PLAINTEXT   the bootstrap address that `start` prints
#   SSL         TLS, server certificate only (no client certificates)
#   SASL_SSL    TLS plus SASL SCRAM-SHA-512, user "rail" with a random password
# The certificates come from a throwaway CA made with openssl on the first
# start (EC P-256 keys); the broker's is valid for 127.0.0.1 and localhost.
# The SCRAM user is created when the storage is formatted (--add-scram).
#
# <dir> layout: server.properties, ports, kafka.pid, kafka.log (broker
# stdout/stderr), format.log, data/ (log.dirs, incl. the KRaft metadata log),
# tls/ (the CA's and the broker's keys and certificates), and what clients
# of the secured listeners need:
#   ssl_bootstrap        127.0.0.1:<port> of the SSL listener
#   sasl_ssl_bootstrap   127.0.0.1:<port> of the SASL_SSL listener
#   ca.pem               the CA certificate (for ssl.ca.pem / ssl.ca.location)
#   sasl_username        the SCRAM-SHA-512 user
#   sasl_password        its password (mode 600)
#   kcat-ssl.conf, kcat-sasl_ssl.conf   `kcat -F` files for the two listeners
# Data, certificates and password survive stop/start; delete <dir> for a
# clean broker.
set -euo pipefail
unset CDPATH  # `cd` in $(...) must not print anything

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# log, die, usage, the Maven fetch, processes, ports
. "$REPO/test/lib.sh"

KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
CACHE=$(realpath -m "${RAIL_STREAM_CACHE:-$REPO/.cache}")
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
LIB=$KAFKA_HOME/lib
M2_REPO=${RAIL_STREAM_M2_REPO:-$CACHE/m2}

START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
NUM_PARTITIONS=${KAFKA_NUM_PARTITIONS:-1}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
if [[ -n ${JAVA:-} ]]; then :
elif [[ -n ${JAVA_HOME:-} ]]; then JAVA=$JAVA_HOME/bin/java
else JAVA=java
fi

# JVM flags for a 2-core machine: SerialGC and C1 only (TieredStopAtLevel=1)
# cut startup CPU a lot; throughput does not matter for tests.  No perf data
# file in /tmp/hsperfdata_<user>.
COMMON_JVM_OPTS=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
                 -Djava.awt.headless=true)
TOOL_JVM_OPTS=(-Xmx256m "${COMMON_JVM_OPTS[@]}")

is_kafka3() { [[ $KAFKA_VERSION == 3.* ]]; }

# Logging backend differs: Kafka 4.x uses log4j2, 3.9 log4j 1 (reload4j).
log_jvm_opts() {
    if is_kafka3; then
        echo "-Dlog4j.configuration=file:$HERE/log4j.properties"
    else
        echo "-Dlog4j2.configurationFile=$HERE/log4j2.properties"
    fi
}

# ---------------------------------------------------------------- fetch ----

have_jars() { [[ -f $KAFKA_HOME/.complete ]]; }

cmd_fetch() { fetch_once kafka have_jars fetch_locked; }

fetch_locked() {
    local tmp logging=log4j2 t0=$SECONDS
    is_kafka3 && logging=reload4j
    tmp=$(mktemp -d "$CACHE/.kafka-$KAFKA_VERSION.XXXXXX")
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIB"
    if ! mvn_quiet -f "$HERE/pom.xml" \
            -Dkafka.version="$KAFKA_VERSION" -Dkafka.logging="$logging" \
            "$DEP_PLUGIN:copy-dependencies" \
            -DincludeScope=runtime -DoutputDirectory="$tmp/lib"; then
        rm -rf "$tmp"
        die "mvn failed to resolve Kafka $KAFKA_VERSION"
    fi
    rm -rf "$KAFKA_HOME"
    mkdir -p "$KAFKA_HOME"
    mv "$tmp/lib" "$LIB"
    rm -rf "$tmp"
    touch "$KAFKA_HOME/.complete"
    log "fetched $(find "$LIB" -name '*.jar' | wc -l) jars in $((SECONDS - t0)) s"
}

ensure_jars() {
    have_jars || cmd_fetch
    have_jars || die "no Kafka jars in $LIB"
}

cmd_classpath() {
    ensure_jars
    echo "$LIB/*"
}

# ------------------------------------------------------- process helpers ----

# Pid of the broker running on <dir>, or failure.  Checks the command line
# too, so a stale pid file whose pid was reused is not mistaken for Kafka.
running_pid() { pid_running "$1/kafka.pid" "kafka.Kafka $1/server.properties"; }

# The broker answers metadata requests and lists itself.
broker_answers() {
    local out
    out=$(kcat -L -b "$1" -m 2 2>/dev/null) || return 1
    [[ $out == *"broker 1 at"* ]]
}

# kcat reads metadata through the SSL listener, verifying the broker's
# certificate against ca.pem, and the SASL_SSL listener accepts connections.
# Not kcat over SASL_SSL: librdkafka before 2.6.1 (Debian 12 has 2.0.2)
# fails SCRAM against Kafka 4.x, whose nonce check is strict (librdkafka
# #4895); Kafka's own clients, and librdkafka >= 2.6.1, authenticate.
secured_listeners_answer() {
    local dir=$1 out aport
    for _ in {1..8}; do
        out=$(kcat -F "$dir/kcat-ssl.conf" -L -m 2 2>&1) &&
            [[ $out == *"broker 1 at"* ]] && break
        sleep 0.25
    done
    [[ $out == *"broker 1 at"* ]] || { log "kcat -F kcat-ssl.conf: $out"; return 1; }
    aport=$(<"$dir/sasl_ssl_bootstrap")
    port_in_use "${aport##*:}" || { log "nothing listens on $aport"; return 1; }
}

# Kafka Uuid: 16 random bytes, base64url without padding (22 chars).  Kafka
# itself never generates ids starting with '-' (they would look like a
# command-line option), so neither do we.  Avoids a 2 s JVM start for
# `StorageTool random-uuid`.
new_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        [[ $id == -* ]] || break
    done
    echo "$id"
}

# ---------------------------------------------------------------- start ----

# A throwaway CA and a broker certificate for 127.0.0.1 and localhost, made
# once per <dir>: a restarted broker keeps them, so clients that trust its
# CA still do.  EC keys take milliseconds, and openssl 3 writes them in
# unencrypted PKCS#8, which Kafka's PEM key store reads (KIP-651): no
# keytool (a JVM start) needed.  The key store is the key, then the chain.
make_certificates() {
    local dir=$1 tls=$1/tls
    [[ -f $tls/broker-keystore.pem && -f $dir/ca.pem ]] && return 0
    command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
    rm -rf "$tls"
    mkdir -p "$tls"
    chmod 700 "$tls"
    if ! {
        openssl req -x509 -new -noenc -newkey ec \
            -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 3650 \
            -subj "/CN=rail_stream test CA $(random_word 8)" \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign &&
        openssl req -new -noenc -newkey ec \
            -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout "$tls/broker.key" -out "$tls/broker.csr" \
            -subj /CN=localhost &&
        openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" \
            -CAkey "$tls/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
            -days 3650 -out "$tls/broker.pem" -extfile <(printf '%s\n' \
                'subjectAltName=IP:127.0.0.1,DNS:localhost' \
                'basicConstraints=critical,CA:FALSE' \
                'keyUsage=critical,digitalSignature,keyEncipherment' \
                'extendedKeyUsage=serverAuth')
    } >"$tls/openssl.log" 2>&1; then
        cat "$tls/openssl.log" >&2
        die "could not make the test certificates"
    fi
    cat "$tls/broker.key" "$tls/broker.pem" "$tls/ca.pem" >"$tls/broker-keystore.pem"
    cp "$tls/ca.pem" "$dir/ca.pem"
}

# What clients of the SSL and SASL_SSL listeners need, as files in <dir>.
write_client_files() {
    local dir=$1 sport=$2 aport=$3
    echo "127.0.0.1:$sport" >"$dir/ssl_bootstrap"
    echo "127.0.0.1:$aport" >"$dir/sasl_ssl_bootstrap"
    printf '%s\n' "bootstrap.servers=127.0.0.1:$sport" \
        security.protocol=ssl "ssl.ca.location=$dir/ca.pem" \
        >"$dir/kcat-ssl.conf"
    [[ -f $dir/sasl_password ]] || return 0
    (
        umask 077
        printf '%s\n' "bootstrap.servers=127.0.0.1:$aport" \
            security.protocol=sasl_ssl "ssl.ca.location=$dir/ca.pem" \
            sasl.mechanisms=SCRAM-SHA-512 \
            "sasl.username=$(<"$dir/sasl_username")" \
            "sasl.password=$(<"$dir/sasl_password")" \
            >"$dir/kcat-sasl_ssl.conf"
    )
}

write_server_properties() {
    local dir=$1 port=$2 cport=$3 sport=$4 aport=$5
    cat >"$dir/server.properties" <<EOF
# Generated by test/kafka/kafka.sh; rewritten on every start.
# One combined broker+controller node with a static quorum of itself
# (controller.quorum.voters), so 'format' needs no --standalone flag.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,SSL://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$aport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SSL://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$aport
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
log.dirs=$dir/data

# TLS of the SSL and SASL_SSL listeners: a PEM key store (unencrypted key,
# then the certificate chain); clients are not asked for certificates.
ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/broker-keystore.pem
ssl.client.auth=none
# SASL_SSL takes SCRAM-SHA-512 only; 'format --add-scram' stored the user
# in the KRaft metadata.  The broker side of SCRAM wants a JAAS entry.
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# Single node: internal topics with replication factor 1 and one partition
# (the default 50 __consumer_offsets partitions slow down the first join).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
# First consumer-group join without the default 3 s wait for more members.
group.initial.rebalance.delay.ms=0
# Lets tests use session.timeout.ms below the default minimum of 6000.
group.min.session.timeout.ms=1000

# librdkafka producers create a missing topic on first produce (producer
# default allow.auto.create.topics=true); it gets num.partitions.  librdkafka
# consumers default to allow.auto.create.topics=false: no auto-create.
auto.create.topics.enable=true
num.partitions=$NUM_PARTITIONS
default.replication.factor=1

# Small-machine tuning.  The log cleaner allocates its dedupe buffer on the
# heap at startup (default 128 MiB), which must shrink with a small -Xmx.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=16777216
EOF
    if ! is_kafka3; then
        cat >>"$dir/server.properties" <<EOF

# Kafka 4.x share groups (KIP-932) internal topic; unknown to 3.9.
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
EOF
    fi
    if [[ -n ${KAFKA_EXTRA_PROPERTIES:-} ]]; then
        printf '\n# From KAFKA_EXTRA_PROPERTIES (later keys win).\n%s\n' \
            "$KAFKA_EXTRA_PROPERTIES" >>"$dir/server.properties"
    fi
}

# Choose ports: explicit argument, else the ports of the previous run on this
# dir (so a restarted broker keeps its bootstrap address), else random.
# The file holds "port cport sport aport": PLAINTEXT, CONTROLLER, SSL and
# SASL_SSL (one written before the secured listeners existed has two).
choose_ports() {
    local dir=$1 want=$2 port='' cport='' sport='' aport='' p
    local -a taken
    [[ -f $dir/ports ]] && read -r port cport sport aport <"$dir/ports"
    [[ -n $want ]] && port=$want
    [[ -n $port ]] || port=$(free_port)
    port_in_use "$port" && die "port $port is already in use"
    taken=("$port")
    for p in cport sport aport; do
        if [[ -z ${!p} || " ${taken[*]} " == *" ${!p} "* ]] || port_in_use "${!p}"; then
            printf -v "$p" '%s' "$(free_port "${taken[@]}")"
        fi
        taken+=("${!p}")
    done
    echo "$port $cport $sport $aport" >"$dir/ports"
    echo "$port $cport $sport $aport"
}

# Format the storage, with the SASL_SSL listener's SCRAM user in the first
# metadata; the user's name and password go to files in <dir>.
format_storage() {
    local dir=$1
    if [[ -f $dir/data/meta.properties ]]; then
        [[ -f $dir/sasl_password ]] ||
            log "warning: $dir was formatted without a SCRAM user; delete it for SASL_SSL"
        return 0
    fi
    log "formatting KRaft storage in $dir/data"
    echo rail >"$dir/sasl_username"
    (umask 077; random_word 24 >"$dir/sasl_password")
    # --ignore-formatted: harmless if a half-finished earlier start formatted.
    # The password is on the tool's command line for a moment, as with
    # kafka-storage.sh: a throwaway test secret.
    if ! "$JAVA" "${TOOL_JVM_OPTS[@]}" "$(log_jvm_opts)" -cp "$LIB/*" \
            kafka.tools.StorageTool format -t "$(new_cluster_id)" \
            -c "$dir/server.properties" --ignore-formatted \
            --add-scram "SCRAM-SHA-512=[name=$(<"$dir/sasl_username"),password=$(<"$dir/sasl_password")]" \
            >"$dir/format.log" 2>&1; then
        cat "$dir/format.log" >&2
        die "kafka-storage format failed"
    fi
}

launch_broker() {
    local dir=$1
    # setsid: own session, so Ctrl-C or a process-group kill aimed at the
    # caller does not hit the broker; `kafka.sh stop` is the way to end it.
    # In a non-interactive script the background child is not a group
    # leader, so setsid execs java directly and $! is java's pid.
    # log4j2.shutdownHookEnabled=false: Kafka's own shutdown hook logs after
    # log4j2's hook ran, which printed "Unable to register Log4j shutdown
    # hook because JVM is shutting down" on every stop.
    # shellcheck disable=SC2086  # HEAP_OPTS is split into words on purpose
    setsid "$JAVA" $HEAP_OPTS "${COMMON_JVM_OPTS[@]}" \
        -XX:+ExitOnOutOfMemoryError "$(log_jvm_opts)" \
        -Dlog4j2.shutdownHookEnabled=false \
        -Dkafka.logs.dir="$dir" -cp "$LIB/*" \
        kafka.Kafka "$dir/server.properties" \
        >>"$dir/kafka.log" 2>&1 </dev/null &
    echo $! >"$dir/kafka.pid"
}

wait_broker() {
    local dir=$1 bootstrap=$2 rc=0
    # the pid, not running_pid: right after the fork the child may not have
    # exec'd java yet, so its command line is still bash's
    wait_ready "$(<"$dir/kafka.pid")" "$START_TIMEOUT" broker_answers "$bootstrap" || rc=$?
    if ((rc == 2)); then
        tail -n 30 "$dir/kafka.log" >&2
        rm -f "$dir/kafka.pid"
        die "broker exited during startup (see $dir/kafka.log)"
    elif ((rc == 1)); then
        log "broker did not answer on $bootstrap within $START_TIMEOUT s; stopping it"
        tail -n 30 "$dir/kafka.log" >&2
        cmd_stop "$dir"
        exit 1
    fi
    secured_listeners_answer "$dir" && return 0
    tail -n 30 "$dir/kafka.log" >&2
    cmd_stop "$dir"
    die "the SSL or SASL_SSL listener does not answer kcat (see $dir/kafka.log)"
}

cmd_start() {
    [[ $# -ge 1 && $# -le 2 ]] || die "usage: start <dir> [port]"
    local dir=$1 want=${2:-} ports port cport sport aport t0=$SECONDS
    command -v kcat >/dev/null || die "kcat not found (apt-get install kcat)"
    ensure_jars
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    if running_pid "$dir" >/dev/null; then
        die "a broker is already running on $dir (pid $(<"$dir/kafka.pid"))"
    fi
    rm -f "$dir/kafka.pid"
    ports=$(choose_ports "$dir" "$want")
    read -r port cport sport aport <<<"$ports"
    make_certificates "$dir"
    write_server_properties "$dir" "$port" "$cport" "$sport" "$aport"
    format_storage "$dir"
    write_client_files "$dir" "$sport" "$aport"
    printf '\n=== kafka.sh start %s (Kafka %s) ===\n' "$(date -Is)" \
        "$KAFKA_VERSION" >>"$dir/kafka.log"
    launch_broker "$dir"
    wait_broker "$dir" "127.0.0.1:$port"
    log "broker pid $(<"$dir/kafka.pid") ready in $((SECONDS - t0)) s"
    echo "127.0.0.1:$port"
}

# ----------------------------------------------------------- stop/status ----

cmd_stop() {
    [[ $# -eq 1 ]] || die "usage: stop <dir>"
    # SIGTERM = controlled shutdown (flushes logs, writes a clean-shutdown
    # marker so the next start skips log recovery).
    stop_server "$1" kafka.pid "$STOP_TIMEOUT"
}

cmd_status() {
    [[ $# -eq 1 ]] || die "usage: status <dir>"
    local dir=$1 pid port cport
    dir=$(cd "$dir" 2>/dev/null && pwd -P) || { echo stopped; return 3; }
    if ! pid=$(running_pid "$dir"); then
        echo stopped
        return 3
    fi
    read -r port cport <"$dir/ports"
    if broker_answers "127.0.0.1:$port"; then
        echo "running pid=$pid bootstrap=127.0.0.1:$port"
    else
        echo "running pid=$pid bootstrap=127.0.0.1:$port (not answering)"
    fi
}

# ---------------------------------------------------------------- admin ----

# Kafka's own kafka-topics tool.  Main class is org.apache.kafka.tools.
# TopicCommand in both 3.9 and 4.x (kafka.admin.TopicCommand is gone).
topic_command() {
    local bootstrap=$1
    shift
    ensure_jars
    "$JAVA" "${TOOL_JVM_OPTS[@]}" "$(log_jvm_opts)" -cp "$LIB/*" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" "$@"
}

# Fails if the topic already exists.
cmd_create_topic() {
    [[ $# -eq 3 ]] || die "usage: create-topic <bootstrap> <topic> <partitions>"
    topic_command "$1" --create --topic "$2" --partitions "$3" --replication-factor 1
}

# Deletes a topic and all its messages.
cmd_delete_topic() {
    [[ $# -eq 2 ]] || die "usage: delete-topic <bootstrap> <topic>"
    topic_command "$1" --delete --topic "$2"
}

# Kafka's own GetOffsetShell: "topic:partition:offset" lines with each
# partition's latest offset (its high watermark).
cmd_offsets() {
    [[ $# -eq 2 ]] || die "usage: offsets <bootstrap> <topic>"
    local bootstrap=$1 topic=$2
    ensure_jars
    "$JAVA" "${TOOL_JVM_OPTS[@]}" "$(log_jvm_opts)" -cp "$LIB/*" \
        org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$bootstrap" \
        --topic "$topic" --time -1
}

# Kafka's own kafka-consumer-groups: a group's committed offsets and lag.
cmd_group() {
    [[ $# -eq 2 ]] || die "usage: group <bootstrap> <group>"
    local bootstrap=$1 group=$2
    ensure_jars
    "$JAVA" "${TOOL_JVM_OPTS[@]}" "$(log_jvm_opts)" -cp "$LIB/*" \
        org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
        --bootstrap-server "$bootstrap" --describe --group "$group"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        fetch) cmd_fetch "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        create-topic) cmd_create_topic "$@" ;;
        delete-topic) cmd_delete_topic "$@" ;;
        offsets) cmd_offsets "$@" ;;
        group) cmd_group "$@" ;;
        classpath) cmd_classpath ;;
        *) usage ;;
    esac
}

main "$@"
