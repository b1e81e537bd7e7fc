#!/usr/bin/env bash
# End-to-end check of test/kafka/kafka.sh against a real broker with kcat
# (librdkafka 2.0.2): fetch, start, create-topic, produce/consume counts,
# auto-create, compression, restart, and a stop/wait/start "outage".
# Runs as root or as an unprivileged user (needs a writable TMPDIR; the jar
# cache must already be fetched if RAIL_STREAM_CACHE is not writable).
#
#   test/kafka/selftest.sh            # prints "N passed, N failed"
#   KAFKA_SELFTEST_OUTAGE=20          # seconds the broker stays down (default 20)
#   KAFKA_SELFTEST_KEEP=1             # keep the broker dir (logs) afterwards
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA=$HERE/kafka.sh
OUTAGE=${KAFKA_SELFTEST_OUTAGE:-20}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rail_stream-kafka-selftest.XXXXXX")
DIR=$WORK/broker
PASS=0
FAIL=0

cleanup() {
    "$KAFKA" stop "$DIR" 2>/dev/null || true
    if [[ -n ${KAFKA_SELFTEST_KEEP:-} ]]; then
        echo "# kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

check() {  # check <description> <command...>
    local what=$1
    shift
    if "$@"; then
        PASS=$((PASS + 1)); echo "ok   - $what"
    else
        FAIL=$((FAIL + 1)); echo "FAIL - $what"
    fi
}
eq() { [[ $1 == "$2" ]] || { echo "     got '$1', want '$2'"; return 1; }; }
count() { kcat -C -e -q -b "$B" -t "$1" | wc -l; }
partitions() { kcat -L -b "$B" -t "$1" | grep -c '^    partition '; }
rss_mb() { echo $(($(awk '/VmRSS/{print $2}' "/proc/$(<"$DIR/kafka.pid")/status") / 1024)); }
segment_bytes() { cat "$DIR/data/$1-0/"*.log | wc -c; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

t0=$SECONDS
"$KAFKA" fetch
echo "# fetch: $((SECONDS - t0)) s"

t0=$(now_ms)
B=$("$KAFKA" start "$DIR")
echo "# first start (incl. format): $(since "$t0") s, bootstrap $B, RSS $(rss_mb) MB"
check "status reports running" "$KAFKA" status "$DIR"

check "create-topic t1 with 3 partitions" "$KAFKA" create-topic "$B" t1 3
check "t1 has 3 partitions" eq "$(partitions t1)" 3

seq 1 1000 | kcat -P -b "$B" -t t1
seq 1 1000 | sed 's/.*/k&:v&/' | kcat -P -K: -b "$B" -t t1
check "consume 2000 messages from t1" eq "$(count t1)" 2000
used=$(kcat -C -e -q -b "$B" -t t1 -K: -f '%p\n' | sort -u | wc -l)
check "keyed messages spread over all 3 partitions" eq "$used" 3

# Producer-side auto-create (auto.create.topics.enable=true, num.partitions).
seq 1 10 | kcat -P -b "$B" -t auto1
check "producer auto-creates auto1" eq "$(count auto1)" 10
check "auto-created topic has num.partitions=1" eq "$(partitions auto1)" 1
timeout 20 kcat -C -b "$B" -t nosuch -e -q >/dev/null 2>&1 || true
timeout 20 kcat -G selftest-nosuch -b "$B" -e -q nosuch >/dev/null 2>&1 || true
check "consumers do not auto-create topics" eq "$(partitions nosuch)" 0

# Consumer group (classic protocol) via kcat's balanced consumer.
n=$(timeout 60 kcat -G selftest-g -b "$B" -e -q -X auto.offset.reset=earliest t1 | wc -l)
check "consumer group reads 2000 from t1" eq "$n" 2000

# Compression from librdkafka 2.0.2's producer: compare bytes on disk.
seq 1 10000 | sed 's/.*/{"id":&,"payload":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}/' >"$WORK/lines"
for codec in none gzip snappy lz4 zstd; do
    kcat -P -b "$B" -t "c_$codec" -z "$codec" <"$WORK/lines"
done
sleep 1
for codec in none gzip snappy lz4 zstd; do
    echo "# codec $codec: $(segment_bytes "c_$codec") bytes on disk"
    check "consume 10000 from c_$codec" eq "$(count "c_$codec")" 10000
done
check "gzip is compressed (< 1/3 of none)" \
    test $(($(segment_bytes c_gzip) * 3)) -lt "$(segment_bytes c_none)"
echo "# RSS after load: $(rss_mb) MB"

# Restart on the same dir: same address, data kept.
t0=$(now_ms)
"$KAFKA" stop "$DIR"
echo "# stop: $(since "$t0") s"
check "status reports stopped" bash -c "! '$KAFKA' status '$DIR' >/dev/null"
t0=$(now_ms)
B2=$("$KAFKA" start "$DIR")
echo "# restart: $(since "$t0") s"
check "restart keeps bootstrap address" eq "$B2" "$B"
check "restart keeps t1 data" eq "$(count t1)" 2000

# Outage: broker down for $OUTAGE s, then back on the same dir.
"$KAFKA" stop "$DIR"
check "broker port closed during outage" \
    bash -c "! (exec 3<>/dev/tcp/${B%:*}/${B#*:}) 2>/dev/null"
sleep "$OUTAGE"
B3=$("$KAFKA" start "$DIR")
check "after ${OUTAGE}s outage: same address" eq "$B3" "$B"
check "after outage: t1 data kept" eq "$(count t1)" 2000
seq 1 500 | kcat -P -b "$B" -t t1
check "after outage: produce works" eq "$(count t1)" 2500
n=$(timeout 60 kcat -G selftest-g -b "$B" -e -q t1 | wc -l)
check "after outage: group resumes from committed offsets" eq "$n" 500

# Hard kill (SIGKILL) and start again: log recovery.
kill -KILL "$(<"$DIR/kafka.pid")"
sleep 1
B4=$("$KAFKA" start "$DIR")
check "after SIGKILL: same address" eq "$B4" "$B"
check "after SIGKILL: t1 data kept" eq "$(count t1)" 2500

"$KAFKA" stop "$DIR"
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
