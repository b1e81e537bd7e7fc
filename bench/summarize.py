#!/usr/bin/env python3
"""Summarize one bench/run.sh run:  bench/summarize.py bench/out/<run>

Reads results.csv, context.txt and callgrind.csv (if present) from the run
directory and prints the summary table: per measurement the median time of
the measured runs of each side with min and max, throughput at the median,
and the median (min, max) of the per-pair speed ratios
t(baseline) / t(rail_stream) -- above 1 means rail_stream is faster.
Python 3 standard library only.
"""

import csv
import os
import statistics
import sys

LEGEND = {
    "explode_text": "explode, text envelope, count(*)",
    "explode_text_cols": "explode, text envelope, msg_type+header+body",
    "explode_jsonb": "explode, jsonb envelope, count(*)",
    "ingest_notrig": "ingest, triggers off (transform+upsert)",
    "ingest": "ingest, triggers on (enrichment+counts)",
    "ingest_each": "ingest, triggers on, ingest_message per frame",
}


def rate(n, seconds):
    r = n / seconds
    return "%.1fk" % (r / 1000) if r >= 1000 else "%.0f" % r


def span(values, fmt, unit=""):
    return "%s%s [%s-%s]" % (fmt % statistics.median(values), unit, fmt % min(values), fmt % max(values))


def check(m, allruns, msgs):
    """Correctness of a measurement over every run of both sides, warm-up
    included: (valid, lines for the notes)."""
    if m.startswith("explode"):
        bad = [r for r in allruns if r["rows"] != str(msgs)]
        if bad:
            return False, ["%s: WRONG ROW COUNT in %d runs (expected %d)" % (m, len(bad), msgs)]
        return True, []
    states = {(r["rows"], r["dead"], r["md5_key"], r["md5_full"], r["md5_counts"], r["counted"])
              for r in allruns}
    if len(states) == 1 and next(iter(states))[1] == "0":
        n, _, key, full, counts, counted = next(iter(states))
        lines = ["%s: identical result in all %d runs of both sides: %s rows, 0 dead letters,"
                 " md5 key %s, full row %s%s"
                 % (m, len(allruns), n, key[:8], full[:8],
                    ", daily counts %s (sum %s)" % (counts[:8], counted) if counts else "")]
        valid = True
    else:
        lines = ["%s: RESULTS DIFFER between runs (rows, dead letters, md5s): %s" % (m, sorted(states))]
        valid = False
    # what each side cost besides time
    for v in ("baseline", "rail_stream"):
        rs = [r for r in allruns if r["variant"] == v and r["phase"] == "rep"]
        lines.append("    %-11s per run (median): WAL %.0f MB, %d MultiXacts; checkpoints req/timed"
                     " in all runs %d/%d"
                     % (v, statistics.median(float(r["wal_bytes"]) for r in rs) / 1e6,
                        statistics.median(int(r["multixacts"]) for r in rs),
                        sum(int(r["ckpt_req"]) for r in rs), sum(int(r["ckpt_timed"]) for r in rs)))
    return valid, lines


def main():
    run = sys.argv[1]
    with open(os.path.join(run, "results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    context = {}
    with open(os.path.join(run, "context.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(": ")
            context[key] = value

    print("rail_stream SQL-level benchmark, run %s" % context.get("run", "?"))
    for key in ("command", "settings", "workload", "postgres", "build", "host",
                "rail_stream.so", "load_at_start", "fdatasync", "load_warning", "so_note"):
        if key in context:
            print("  %-14s %s" % (key + ":", context[key]))
    print()

    measures = []
    for r in rows:
        if r["measure"] not in measures:
            measures.append(r["measure"])

    head = "%-46s %-22s %8s   %-22s %8s   %s" % (
        "measurement", "baseline s", "msgs/s", "rail_stream s", "msgs/s", "speed ratio rs/base")
    print(head)
    print("-" * len(head))
    notes = []
    for m in measures:
        runs = [r for r in rows if r["measure"] == m and r["phase"] == "rep"]
        side = {v: [r for r in runs if r["variant"] == v] for v in ("baseline", "rail_stream")}
        t = {v: [float(r["seconds"]) for r in side[v]] for v in side}
        if not t["baseline"] or not t["rail_stream"]:
            continue
        msgs = int(runs[0]["msgs"])
        pairs = {}
        for r in runs:
            pairs.setdefault(r["pair"], {})[r["variant"]] = float(r["seconds"])
        ratios = [p["baseline"] / p["rail_stream"] for p in pairs.values() if len(p) == 2]
        allruns = [r for r in rows if r["measure"] == m]
        valid, note = check(m, allruns, msgs)
        notes.extend(note)
        label = LEGEND.get(m)
        if label is None and m.startswith("sweep_b"):
            batch = m[len("sweep_b"):]
            label = "sweep, %d msgs, %s, 1 pair" % (
                msgs, "1 transaction" if batch == "all" else "batch " + batch)
        print("%-46s %-22s %8s   %-22s %8s   %s" % (
            label or m,
            span(t["baseline"], "%.2f"), rate(msgs, statistics.median(t["baseline"])),
            span(t["rail_stream"], "%.2f"), rate(msgs, statistics.median(t["rail_stream"])),
            (span(ratios, "%.2f", "x") if len(ratios) > 1 else "%.2fx" % ratios[0])
            if valid else "INVALID: results differ, see below"))

    cg = os.path.join(run, "callgrind.csv")
    if os.path.exists(cg):
        with open(cg, newline="") as f:
            c = list(csv.DictReader(f))
        per_row = {}
        for v in ("baseline", "rail_stream"):
            pts = sorted((int(r["rows"]), int(r["ir"])) for r in c if r["variant"] == v and r["ir"])
            if len(pts) == 2 and pts[1][0] > pts[0][0]:
                per_row[v] = (pts[1][1] - pts[0][1]) / (pts[1][0] - pts[0][0])
        if len(per_row) == 2:
            print("%-46s %-22s %8s   %-22s %8s   %.2fx" % (
                "explode, text envelope: callgrind Ir/row",
                "%.0f" % per_row["baseline"], "", "%.0f" % per_row["rail_stream"], "",
                per_row["baseline"] / per_row["rail_stream"]))
    print()
    print("Times: median [min-max] of the measured runs; speed ratio: median [min-max] over pairs of"
          " t(baseline)/t(rail_stream), above 1 = rail_stream faster.")
    print("baseline = plain SQL (jsonb_array_elements; bench/sql/baseline_upsert.sql for ingest),"
          " rail_stream = explode_movements / ingest_messages (ingest_message per frame where named).")
    print("msgs/s = TRUST movement messages per second at the median time; ingest writes them"
          " as upserts into rail.movements.")
    print()
    for n in notes:
        print(n)


if __name__ == "__main__":
    main()
