#!/usr/bin/env python3
"""The alert benchmark's measurements; bench/alerts/run.sh sets the stage.

    bench/alerts/bench.py OUTDIR BROKERS RECEIVER_PORT

Needs PGHOST/PGPORT/PGUSER/PGDATABASE of a server with rail_stream
preloaded and the locations loaded, a broker, and bench/alerts/
fast_receiver.py listening on RECEIVER_PORT and logging to OUTDIR/arrivals.

1. latency: kcat produces TRUST movements, one per Kafka message, at
   ALERTS_RATE messages/s for ALERTS_SECONDS; every 100th is 50 minutes
   late at Leeds, which a rule (LEEDS, 45) sends to the receiver.  For each
   alert: produce (the line handed to kcat) -> raised (the worker's
   transaction start, alerts.created_at) -> arrived (at the receiver).
2. throughput: ALERTS_N pending alerts committed at once; alerts/s from the
   commit to the last delivered_at.  Baseline, same receiver, same run:
   curl --parallel with as many requests in flight as the sender
   (rail_stream.webhook_max_in_flight).
3. ingest during an outage: ALERTS_OUTAGE_N movements (every 20th an alert)
   produced at once, timed until all are in rail.movements, with the
   webhook up and with it refusing connections (the rule pointed at a closed
   port, so the sender retries all the while); ALERTS_REPS interleaved pairs
   after a warm-up pair; between runs the alerts are delivered.
"""
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time

OUT, BROKERS, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
RATE = int(os.environ.get("ALERTS_RATE", "1000"))
SECONDS = int(os.environ.get("ALERTS_SECONDS", "60"))
N = int(os.environ.get("ALERTS_N", "20000"))
REPS = int(os.environ.get("ALERTS_REPS", "3"))
OUTAGE_N = int(os.environ.get("ALERTS_OUTAGE_N", "30000"))
PHASES = os.environ.get("ALERTS_PHASES", "latency throughput outage").split()
URL = "http://127.0.0.1:%d/bot1:TOKEN/sendMessage" % PORT
ARRIVALS = os.path.join(OUT, "arrivals")


def psql(sql):
    return subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def wait_until(sql, timeout=600):
    deadline = time.time() + timeout
    while psql(sql) != "t":
        if time.time() > deadline:
            sys.exit("timed out waiting for: " + sql)
        time.sleep(0.1)


def arrivals():
    with open(ARRIVALS, "rb") as f:
        for line in f:
            t, body = line.split(b" ", 1)
            yield float(t), json.loads(body)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def movement(i, late):
    stanox, status, minutes = ("17132", "LATE", 50) if late else \
        (random.choice(["87219", "65630", "89445", "31033"]),
         random.choice(["ON TIME", "EARLY", "LATE"]), random.randint(0, 9))
    now_ms = 1722162000000 + i * 1000
    return json.dumps([{
        "header": {"msg_type": "0003", "msg_queue_timestamp": str(now_ms)},
        "body": {"train_id": ("L%09d" if late else "T%09d") % i,
                 "planned_event_type": "ARRIVAL", "event_type": "ARRIVAL",
                 "loc_stanox": stanox, "actual_timestamp": str(now_ms),
                 "variation_status": status, "timetable_variation": str(minutes),
                 "toc_id": "61"}}], separators=(",", ":"))


def latency():
    psql("SELECT rail_stream.add_alert_rule('LEEDS', 45, '%s', "
         "'{\"text\": \"{{text}}\", \"train\": \"{{train_id}}\"}')" % URL)
    psql("SELECT rail_stream.create_subscription('bench', 'alerts_bench', 'trust')")
    time.sleep(3)
    kcat = subprocess.Popen(["kcat", "-P", "-b", BROKERS, "-t", "alerts_bench"],
                            stdin=subprocess.PIPE, text=True)
    sent = {}
    start = time.time()
    total = RATE * SECONDS
    for i in range(total):
        due = start + i / RATE
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        late = i % 100 == 0
        kcat.stdin.write(movement(i, late) + "\n")
        if i % 10 == 0 or late:
            kcat.stdin.flush()
        if late:
            sent["L%09d" % i] = time.time()
    kcat.stdin.close()
    kcat.wait()
    produce_s = time.time() - start
    wait_until("SELECT count(*) = %d FROM rail.movements" % total)
    ingest_s = time.time() - start
    wait_until("SELECT count(*) = %d AND bool_and(state = 'delivered') "
               "FROM rail_stream.alerts" % len(sent))
    time.sleep(0.5)     # the receiver flushes its log every 0.2 s
    raised = {}
    for line in psql("SELECT payload->>'train_id', extract(epoch FROM created_at) "
                     "FROM rail_stream.alerts").splitlines():
        train, t = line.split("|")
        raised[train] = float(t)
    arrived = {}
    for t, body in arrivals():
        if "train" in body:
            arrived.setdefault(body["train"], t)
    total_ms = [(arrived[k] - sent[k]) * 1000 for k in sent]
    ingest_ms = [(raised[k] - sent[k]) * 1000 for k in sent]
    sender_ms = [(arrived[k] - raised[k]) * 1000 for k in sent]
    return {
        "messages": total, "alerts": len(sent),
        "produce_rate": total / produce_s, "ingest_rate": total / ingest_s,
        "total_p50": pct(total_ms, 50), "total_p99": pct(total_ms, 99),
        "total_max": max(total_ms),
        "raised_p50": pct(ingest_ms, 50), "raised_p99": pct(ingest_ms, 99),
        "sender_p50": pct(sender_ms, 50), "sender_p99": pct(sender_ms, 99),
        "duplicates": sum(1 for _ in arrivals()) - len(arrived),
    }


def sender_run(rep):
    rule = psql("SELECT rail_stream.add_alert_rule('BENCH%d', 0, '%s')" % (rep, URL))
    out = psql("""
        BEGIN;
        INSERT INTO rail_stream.alerts (rule_id, msg_key, channel, message, payload,
                                        body, state, next_attempt_at)
        SELECT %s, 'bench/' || g, 'rail_stream_alerts', 'm', '{}',
               json_build_object('chat_id', '-1', 'text', 'alert ' || g)::text,
               'pending', now()
        FROM generate_series(1, %d) g;
        COMMIT;
        SELECT extract(epoch FROM clock_timestamp());""" % (rule, N))
    committed = float(out.splitlines()[-1])
    wait_until("SELECT bool_and(state = 'delivered') FROM rail_stream.alerts "
               "WHERE rule_id = %s" % rule)
    last = float(psql("SELECT extract(epoch FROM max(delivered_at)) FROM rail_stream.alerts "
                      "WHERE rule_id = %s" % rule))
    return N / (last - committed)


def curl_run(in_flight):
    config = os.path.join(OUT, "curl.cfg")
    with open(config, "w") as f:
        f.write("next\n".join(
            'url = "%s"\nheader = "Content-Type: application/json"\n'
            'header = "Idempotency-Key: %d"\n'
            'data = "{\\"chat_id\\":\\"-1\\",\\"text\\":\\"alert %d\\"}"\n'
            'output = "/dev/null"\n' % (URL, g, g) for g in range(N)))
    start = time.time()
    subprocess.run(["curl", "-s", "--no-progress-meter", "--parallel", "--parallel-immediate",
                    "--parallel-max", str(in_flight), "-K", config], check=True)
    return N / (time.time() - start)


def throughput():
    in_flight = int(psql("SHOW rail_stream.webhook_max_in_flight"))
    pairs = []
    for rep in range(REPS + 1):     # the first pair warms up, and is dropped
        pairs.append((sender_run(rep), curl_run(in_flight)))
    pairs = pairs[1:]
    return {
        "in_flight": in_flight, "n": N, "pairs": pairs,
        "sender_median": statistics.median(p[0] for p in pairs),
        "curl_median": statistics.median(p[1] for p in pairs),
        "ratio_median": statistics.median(p[0] / p[1] for p in pairs),
    }


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def ingest_run(first, url):
    psql("UPDATE rail_stream.alert_rules SET webhook_url = '%s' WHERE station = 'LEEDS'" % url)
    path = os.path.join(OUT, "outage.ndjson")
    with open(path, "w") as f:
        for i in range(first, first + OUTAGE_N):
            f.write(movement(i, i % 20 == 0) + "\n")
    before = int(psql("SELECT count(*) FROM rail.movements"))
    start = time.time()
    subprocess.run(["kcat", "-P", "-b", BROKERS, "-t", "alerts_bench", "-l", path], check=True)
    wait_until("SELECT count(*) >= %d FROM rail.movements" % (before + OUTAGE_N))
    seconds = time.time() - start
    psql("UPDATE rail_stream.alert_rules SET webhook_url = '%s' WHERE station = 'LEEDS'" % URL)
    psql("SELECT rail_stream.retry_failed_alerts()")
    psql("UPDATE rail_stream.alerts SET next_attempt_at = now() WHERE state = 'pending'")
    wait_until("SELECT bool_and(state = 'delivered') FROM rail_stream.alerts")
    return OUTAGE_N / seconds


def outage():
    down = "http://127.0.0.1:%d/bot1:TOKEN/sendMessage" % closed_port()
    pairs = []
    first = 10_000_000
    for rep in range(REPS + 1):     # the first pair warms up, and is dropped
        up_rate = ingest_run(first, URL)
        down_rate = ingest_run(first + OUTAGE_N, down)
        first += 2 * OUTAGE_N
        pairs.append((up_rate, down_rate))
    pairs = pairs[1:]
    return {"n": OUTAGE_N, "pairs": pairs,
            "ratio_median": statistics.median(d / u for u, d in pairs)}


def print_outage(out):
    print("ingest during a webhook outage, %d movements per run, %d pairs after a warm-up pair:"
          % (out["n"], len(out["pairs"])))
    for u, d in out["pairs"]:
        print("  webhook up %6.0f msgs/s   refusing %6.0f msgs/s   %.2fx" % (u, d, d / u))
    print("  median ratio %.2fx" % out["ratio_median"], flush=True)


def print_latency(lat):
    print("alert latency, %d movements at %d msgs/s produced (%.0f/s achieved, %.0f/s ingested), "
          "%d alerts:" % (lat["messages"], RATE, lat["produce_rate"], lat["ingest_rate"],
                          lat["alerts"]))
    print("  kcat produce -> receiver   p50 %7.1f ms   p99 %7.1f ms   max %7.1f ms"
          % (lat["total_p50"], lat["total_p99"], lat["total_max"]))
    print("  kcat produce -> raised     p50 %7.1f ms   p99 %7.1f ms   (ingest: batch and commit)"
          % (lat["raised_p50"], lat["raised_p99"]))
    print("  raised -> receiver         p50 %7.1f ms   p99 %7.1f ms   (sender)"
          % (lat["sender_p50"], lat["sender_p99"]))
    print("  duplicate arrivals: %d" % lat["duplicates"], flush=True)


def print_throughput(thr):
    print("sender throughput, %d alerts, %d in flight, %d pairs after a warm-up pair:"
          % (thr["n"], thr["in_flight"], len(thr["pairs"])))
    for s, c in thr["pairs"]:
        print("  rail_stream %7.0f alerts/s   curl --parallel %7.0f req/s   %.2fx" % (s, c, s / c))
    print("  median: rail_stream %.0f alerts/s, curl %.0f req/s, ratio %.2fx"
          % (thr["sender_median"], thr["curl_median"], thr["ratio_median"]), flush=True)


def main():
    random.seed(42)
    result = {}
    if "latency" in PHASES:
        result["latency"] = latency()
        print_latency(result["latency"])
    if "throughput" in PHASES:
        result["throughput"] = throughput()
        print_throughput(result["throughput"])
    if "outage" in PHASES:
        if "latency" not in PHASES:
            psql("SELECT rail_stream.add_alert_rule('LEEDS', 45, '%s')" % URL)
            psql("SELECT rail_stream.create_subscription('bench', 'alerts_bench', 'trust')")
        result["outage"] = outage()
        print_outage(result["outage"])
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
