#!/usr/bin/env python3
"""Summarise a bench/e2e/run.sh result directory.

    summarize.py OUTDIR          (reads results.csv and context.txt)

Speeds are TRUST movement messages per second.  The ratio of a pair is
baseline seconds / rail_stream seconds (> 1: rail_stream is faster), for
each baseline of the pair (jq, sql, setbased: E2E_BASELINES); the headline
is the median of the per-pair ratios, one per baseline and trigger mode.  Python 3 standard library.
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


# The baselines of run.sh (E2E_BASELINES), by their variant in results.csv:
# label, pipeline, client processes.  "baseline" is the jq one, as in the
# results of earlier runs.
BASELINES = {
    "baseline": ("jq", "kcat | jq | psql \\copy + one INSERT ON CONFLICT, baseline.sql", "kcat+jq+psql"),
    "baseline_sql": ("sql", "kcat | psql \\copy of the frames + one INSERT exploding them, "
                     "ON CONFLICT, baseline_sql.sql", "kcat+psql"),
    "baseline_setbased": ("setbased", "kcat | psql \\copy of the frames; triggers disabled, one statement "
                          "with the enrichment joins and the daily counts, baseline_setbased.sql", "kcat+psql"),
}


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
        rs = [r for r in runs if r["variant"] == "rail_stream"]
        pairs = {}
        for r in runs:
            pairs.setdefault(r["pair"], {})[r["variant"]] = r
        variants = [v for v in BASELINES if any(r["variant"] == v for r in runs)]
        msgs = runs[0]["msgs"]
        expected = int(runs[0]["expected_rows"])
        rss = [r["s"] for r in rs]
        cfg = "batch_size %s, parallelism %s" % (rs[0]["batch_size"], rs[0]["parallelism"]) if rs else ""
        print("%s: %d messages, %d pair(s)" % (title, msgs, len(pairs)))
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
            print("    WAL per run (MB): %s" % med_range([float(r["wal_mb"]) for r in rs], "%.0f"))
        ratios_of = {}
        for v in variants:
            base = [r for r in runs if r["variant"] == v]
            bs = [r["s"] for r in base]
            ratios = [p[v]["s"] / p["rail_stream"]["s"]
                      for p in pairs.values() if v in p and "rail_stream" in p]
            ratios_of[v] = (ratios, bs)
            baseline_median[(v, runs[0]["triggers"], msgs)] = statistics.median(bs)
            label, pipe, clients = BASELINES[v]
            print("  baseline %s (%s):" % (label, pipe))
            print("    seconds %s -> %s msgs/s at the median" % (med_range(bs), fmt_rate(msgs / statistics.median(bs))))
            print("    of which kcat|COPY phase: %s s; backend CPU %s s, client CPU (%s) %s s, "
                  "backend peak RssAnon %s, client max RSS %s; WAL per run (MB) %s"
                  % (med_range([float(r["phase1_s"]) for r in base]),
                     med_range([float(r["server_cpu_s"]) for r in base]), clients,
                     med_range([float(r["client_cpu_s"]) for r in base]),
                     mib(max(int(r["server_rss_anon_peak_kb"] or 0) for r in base)),
                     mib(max(int(r["client_maxrss_kb"] or 0) for r in base)),
                     med_range([float(r["wal_mb"]) for r in base], "%.0f")))
            if ratios:
                print("    speed ratio rail_stream/baseline %s per pair: %s; median %.2fx"
                      % (label, ", ".join("%.2fx" % x for x in ratios), statistics.median(ratios)))
        print("  forced checkpoints: %s" % sum(int(r["ckpt_req"]) for r in runs))
        errs = [(r["variant"], r["pair"], r["server_errors"]) for r in runs if r["server_errors"] not in ("", "0")]
        if errs:
            print("  SERVER ERRORS during: %s (see server.log)" % ", ".join("%s pair %s: %s" % e for e in errs))
        # correctness: every run of this trigger mode, on every side, leaves the same rows
        keys = {(r["rows"], r["dead"], r["md5_key"], r["md5_full"], r["md5_counts"], r["counted"])
                for r in rows if r["triggers"] == runs[0]["triggers"] and r["msgs"] == msgs
                and r["phase"] != "warmup"}
        ok = len(keys) == 1 and int(next(iter(keys))[0]) == expected
        if ok:
            k = next(iter(keys))
            print("  check: identical in all runs (%s): %s rows (expected %d), %s dead letters, md5 key %s, "
                  "full row %s%s" % (", ".join([BASELINES[v][0] for v in variants] + (["rail_stream"] if rs else [])),
                                     k[0], expected, k[1], k[2], k[3],
                                     ", daily counts %s (sum %s)" % (k[4], k[5]) if k[4] else ""))
        else:
            print("  CHECK FAILED: runs differ or rows != %d: %s" % (expected, sorted(keys)))
        for v in variants:
            ratios, bs = ratios_of[v]
            if ratios and rss:
                headlines.append("%s, %d msgs: rail_stream %s msgs/s vs baseline %s %s msgs/s: %.2fx (median of %d "
                                 "pair(s); %s); worker peak RssAnon %s, VmHWM %s; rows %s"
                                 % (measure.replace("_", " "), msgs, fmt_rate(msgs / statistics.median(rss)),
                                    BASELINES[v][0], fmt_rate(msgs / statistics.median(bs)),
                                    statistics.median(ratios), len(ratios), cfg, mib(anon), mib(hwm),
                                    "identical" if ok else "DIFFER"))
        print()

    extra = [r for r in rows if r["measure"] == "extra"]
    if extra:
        print("extra rail_stream runs (one each; ratio against the median of each baseline of the same trigger mode "
              "and size, unpaired):")
        for r in extra:
            vs = ", ".join("%s %.2fx" % (BASELINES[v][0], baseline_median[(v, r["triggers"], r["msgs"])] / r["s"])
                           for v in BASELINES if (v, r["triggers"], r["msgs"]) in baseline_median) or "-"
            # main thread: CPU / waiting for a CPU / asleep (results of older
            # runs have no such columns)
            sched = ("  main thread %s/%s/%s s cpu/runq/sleep" % (r["main_cpu_s"], r["main_runq_s"], r["main_sleep_s"])
                     if r.get("main_sleep_s") else "")
            print("  batch_size %-6s parallelism %-2s triggers %-3s %d msgs %8.2f s  %7s msgs/s  vs %s  peak RssAnon %s, VmHWM %s, "
                  "CPU %s s%s  rows/md5 %s/%s%s"
                  % (r["batch_size"], r["parallelism"], r["triggers"], r["msgs"], r["s"], fmt_rate(r["msgs"] / r["s"]),
                     vs, mib(r["server_rss_anon_peak_kb"]),
                     mib(r["server_vmhwm_kb"]), r["server_cpu_s"], sched, r["rows"], r["md5_full"],
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
