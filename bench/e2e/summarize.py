#!/usr/bin/env python3
"""Summarise a bench/e2e/run.sh result directory.

    summarize.py OUTDIR          (reads results.csv and context.txt)

Speeds are TRUST movement messages per second.  The ratio of a pair is
baseline seconds / rail_stream seconds (> 1: rail_stream is faster); the
headline is the median of the per-pair ratios.  Python 3 standard library.
"""

import csv
import os
import statistics
import sys


def fmt_rate(x):
    return "%.1fk" % (x / 1000.0)


def med_range(xs, f="%.2f"):
    if not xs:
        return "-"
    return (f + " [" + f + "-" + f + "]") % (statistics.median(xs), min(xs), max(xs))


def mib(kb):
    return "%.1f MiB" % (int(kb) / 1024.0) if kb not in ("", None) else "-"


def main():
    out = sys.argv[1]
    ctx = {}
    with open(os.path.join(out, "context.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition(": ")
            ctx[k] = v
    with open(os.path.join(out, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["s"] = float(r["seconds"])
        r["msgs"] = int(r["messages"])

    print("rail_stream end-to-end ingest benchmark, run %s" % ctx.get("run"))
    for k in ("command", "settings", "workload", "kafka_messages", "expected_rows", "git",
              "postgres", "kafka", "kcat", "jq", "worker librdkafka",
              "worker librdkafka settings", "host", "fdatasync", "load_before", "load_at_start",
              "other_busy_processes_at_start", "load_warning", "so_note", "total_runtime_s"):
        if k in ctx:
            print("  %-28s %s" % (k + ":", ctx[k]))
    print()

    headlines = []
    baseline_median = {}
    for measure, title in (("triggers_on", "triggers ON (enrichment + daily counts)"),
                           ("triggers_off", "triggers OFF (transform + upsert only)")):
        runs = [r for r in rows if r["measure"] == measure and r["phase"] == "rep"]
        if not runs:
            continue
        base = [r for r in runs if r["variant"] == "baseline"]
        rs = [r for r in runs if r["variant"] == "rail_stream"]
        pairs = {}
        for r in runs:
            pairs.setdefault(r["pair"], {})[r["variant"]] = r
        ratios = [p["baseline"]["s"] / p["rail_stream"]["s"]
                  for p in pairs.values() if "baseline" in p and "rail_stream" in p]
        msgs = runs[0]["msgs"]
        expected = int(runs[0]["expected_rows"])
        bs = [r["s"] for r in base]
        rss = [r["s"] for r in rs]
        cfg = "batch_size %s, parallelism %s" % (rs[0]["batch_size"], rs[0]["parallelism"]) if rs else ""
        print("%s: %d messages, %d pair(s)" % (title, msgs, len(ratios)))
        if bs:
            baseline_median[(runs[0]["triggers"], msgs)] = statistics.median(bs)
            print("  baseline (kcat | jq | psql \\copy + one INSERT ON CONFLICT):")
            print("    seconds %s -> %s msgs/s at the median" % (med_range(bs), fmt_rate(msgs / statistics.median(bs))))
            print("    of which kcat|jq|COPY phase: %s s; backend CPU %s s, client CPU (kcat+jq+psql) %s s, "
                  "backend peak RssAnon %s, client max RSS %s"
                  % (med_range([float(r["phase1_s"]) for r in base]),
                     med_range([float(r["server_cpu_s"]) for r in base]),
                     med_range([float(r["client_cpu_s"]) for r in base]),
                     mib(max(int(r["server_rss_anon_peak_kb"] or 0) for r in base)),
                     mib(max(int(r["client_maxrss_kb"] or 0) for r in base))))
        if rss:
            print("  rail_stream (%s):" % cfg)
            print("    seconds %s -> %s msgs/s at the median" % (med_range(rss), fmt_rate(msgs / statistics.median(rss))))
            anon = max(int(r["server_rss_anon_peak_kb"] or 0) for r in rs)
            hwm = max(int(r["server_vmhwm_kb"] or 0) for r in rs)
            cpu = [float(r["server_cpu_s"]) for r in rs]
            print("    first batch committed after %s s; worker CPU %s s (%.1f us/msg); "
                  "worker peak RssAnon %s, VmHWM %s"
                  % (med_range([float(r["phase1_s"]) for r in rs if r["phase1_s"]]),
                     med_range(cpu), statistics.median(cpu) / msgs * 1e6, mib(anon), mib(hwm)))
        if ratios:
            print("  speed ratio rail_stream/baseline per pair: %s; median %.2fx"
                  % (", ".join("%.2fx" % x for x in ratios), statistics.median(ratios)))
        print("  WAL per run (MB): baseline %s, rail_stream %s; forced checkpoints: %s"
              % (med_range([float(r["wal_mb"]) for r in base], "%.0f"),
                 med_range([float(r["wal_mb"]) for r in rs], "%.0f"),
                 sum(int(r["ckpt_req"]) for r in runs)))
        errs = [(r["variant"], r["pair"], r["server_errors"]) for r in runs if r["server_errors"] not in ("", "0")]
        if errs:
            print("  SERVER ERRORS during: %s (see server.log)" % ", ".join("%s pair %s: %s" % e for e in errs))
        # correctness: every run of this trigger mode leaves the same rows
        keys = {(r["rows"], r["dead"], r["md5_key"], r["md5_full"], r["md5_counts"], r["counted"])
                for r in rows if r["triggers"] == runs[0]["triggers"] and r["msgs"] == msgs
                and r["phase"] != "warmup"}
        ok = len(keys) == 1 and int(next(iter(keys))[0]) == expected
        if ok:
            k = next(iter(keys))
            print("  check: identical in all runs: %s rows (expected %d), %s dead letters, md5 key %s, "
                  "full row %s%s" % (k[0], expected, k[1], k[2], k[3],
                                     ", daily counts %s (sum %s)" % (k[4], k[5]) if k[4] else ""))
        else:
            print("  CHECK FAILED: runs differ or rows != %d: %s" % (expected, sorted(keys)))
        if ratios and rs and bs:
            headlines.append("%s, %d msgs: rail_stream %s msgs/s vs baseline %s msgs/s: %.2fx (median of %d "
                             "pair(s); %s); worker peak RssAnon %s, VmHWM %s; rows %s"
                             % (measure.replace("_", " "), msgs, fmt_rate(msgs / statistics.median(rss)),
                                fmt_rate(msgs / statistics.median(bs)), statistics.median(ratios), len(ratios),
                                cfg, mib(anon), mib(hwm), "identical" if ok else "DIFFER"))
        print()

    extra = [r for r in rows if r["measure"] == "extra"]
    if extra:
        print("extra rail_stream runs (one each; ratio against the median baseline of the same trigger mode and size, unpaired):")
        for r in extra:
            b = baseline_median.get((r["triggers"], r["msgs"]))
            print("  batch_size %-6s parallelism %-2s triggers %-3s %d msgs %8.2f s  %7s msgs/s  %s  peak RssAnon %s, VmHWM %s, "
                  "CPU %s s  rows/md5 %s/%s%s"
                  % (r["batch_size"], r["parallelism"], r["triggers"], r["msgs"], r["s"], fmt_rate(r["msgs"] / r["s"]),
                     "%.2fx" % (b / r["s"]) if b else "  -  ", mib(r["server_rss_anon_peak_kb"]),
                     mib(r["server_vmhwm_kb"]), r["server_cpu_s"], r["rows"], r["md5_full"],
                     "  SERVER ERRORS: %s (worker batches failed and were retried; see server.log)" % r["server_errors"]
                     if r["server_errors"] not in ("", "0") else ""))
        print()

    prof = [r for r in rows if r["measure"] == "perf"]
    if prof:
        print("profiled rail_stream runs (perf record on the worker, perf_*.txt; slower than unprofiled):")
        for r in prof:
            print("  triggers %-3s %d msgs %8.2f s  %7s msgs/s  CPU %s s  rows/md5 %s/%s"
                  % (r["triggers"], r["msgs"], r["s"], fmt_rate(r["msgs"] / r["s"]), r["server_cpu_s"],
                     r["rows"], r["md5_full"]))
        print()

    warm = [r for r in rows if r["phase"] == "warmup"]
    if warm:
        print("warm-up (discarded): " + "; ".join(
            "%s %.2f s, %s rows, md5 %s" % (r["variant"], r["s"], r["rows"], r["md5_full"]) for r in warm))
        print()

    for h in headlines:
        print("HEADLINE " + h)


if __name__ == "__main__":
    main()
