#!/usr/bin/env python3
"""Generate synthetic TRUST 0003 (train movement) frames for the benchmark.

    bench/gen_trust.py [MESSAGES] [--seed N] [--out FILE] [--array]

Writes NDJSON: one ActiveMQ connector envelope per line,
    {"text":"[{\"header\":{...},\"body\":{...}}, ...]"}
i.e. a JSON object whose "text" member is the TRUST frame (a JSON array of
up to 32 {header, body} train messages) as a string, which is what the Kafka
ActiveMQ source connector produces.  Load it with

    \\copy t(line) FROM 'file' WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')

(the CSV trick keeps COPY from interpreting the JSON's backslashes).

With --array it writes the same messages, in the same order, as one JSON
array of TRUST messages, one per line, as the samples in data/trust/ are:
the day that the feeder replays on today's clock (docker/feeder/replay.c).

The messages are shaped like the real 2024-07-28 frame in
data/trust/trust_frame_2024-07-28_matnich89_part1.json (the current feed
format):
  * every value is a JSON string, and empty fields are omitted entirely
    (no gbtt_timestamp or platform at non-passenger timing points, no
    line_ind on most reports, ...);
  * body event times (actual/planned/gbtt) are UK wall-clock time written as
    epoch milliseconds "as if UTC" (the day is 2024-07-28, British Summer
    Time, so they run an hour ahead of the instant), while the header's
    msg_queue_timestamp is the real UTC instant;
  * STANOX codes are real ones from data/reference/ukrail_locations.csv
    (5-digit codes only, so the enrichment lookup finds them), and toc_id is
    a real TRUST sector code from data/reference/toc_codes.tsv.

Trains run through a handful of stations of one STANOX area, and the whole
day's reports are sent in msg_queue_timestamp order, so a frame mixes many
trains as the live feed does.  About 10 % of the messages are re-reports: a
later correction (correction_ind "true", a different actual_timestamp) of a
movement already sent, with the same key (train_id, planned_event_type,
loc_stanox), arriving up to 20,000 messages after the original.  So N
messages upsert into N - N/10 rows.

Python 3 standard library only; the output depends only on the arguments
(fixed seed), so every run benchmarks the same bytes.
"""

import argparse
import bisect
import csv
import datetime as dt
import json
import os
import random
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCATIONS = os.path.join(REPO, "data", "reference", "ukrail_locations.csv")
TOCS = os.path.join(REPO, "data", "reference", "toc_codes.tsv")

DAY = dt.date(2024, 7, 28)          # a BST day, like the real sample frame
BST = dt.timedelta(hours=1)         # UK local - UTC on that day
REREPORT_SHARE = 0.10               # share of messages that are corrections
REREPORT_WINDOW = 20000             # a correction comes within this many messages
FRAME_MAX = 32                      # train messages per TRUST frame


def load_stanox_areas():
    """Real 5-digit STANOX codes grouped by area (first two digits), with
    whether the location is a passenger station (has a CRS code)."""
    seen = {}
    with open(LOCATIONS, newline="") as f:
        for row in csv.DictReader(f):
            stanox = row["stanox"]
            if len(stanox) != 5 or not stanox.isdigit():
                continue
            station = row["crs"] not in ("", "null")
            seen[stanox] = seen.get(stanox, False) or station
    areas = {}
    for stanox in sorted(seen):
        areas.setdefault(stanox[:2], []).append((stanox, seen[stanox]))
    # an area needs enough locations for a journey
    return {a: locs for a, locs in areas.items() if len(locs) >= 6}


def load_toc_ids():
    """TRUST toc_ids (two-digit sector codes) and a weight for each: the
    whitelisted passenger operators run most of the reported trains."""
    weights = {}
    with open(TOCS, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            code = row["Sector Code"][:2]
            if not code.isdigit():
                continue
            w = 10 if row["Whitelisted"].startswith("Y") else 1
            weights[code] = max(weights.get(code, 0), w)
    codes = sorted(weights)
    return codes, [weights[c] for c in codes]


def ms(t):
    """A naive datetime as epoch milliseconds (as if it were UTC), as text."""
    return str(int((t - dt.datetime(1970, 1, 1)).total_seconds() * 1000))


def variation(actual, planned):
    """TRUST's timetable_variation (whole minutes) and variation_status."""
    seconds = (actual - planned).total_seconds()
    minutes = int(abs(seconds) // 60)
    if minutes == 0:
        return "0", "ON TIME"
    return str(minutes), "LATE" if seconds > 0 else "EARLY"


class Generator:
    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.areas = load_stanox_areas()
        self.area_names = sorted(self.areas)
        self.tocs, self.toc_weights = load_toc_ids()
        self.train_ids = set()

    def train_id(self, area):
        """A TRUST train_id: origin area, headcode, call code, day of month."""
        r = self.rnd
        while True:
            headcode = "%s%s%02d" % (r.choice("1122223456789"),
                                     r.choice("ABCDEFGHIJKLMNOPRSTUVWYZ"),
                                     r.randrange(100))
            tid = "%s%s%s%s%02d" % (area, headcode, r.choice("MMMMCOPX"),
                                    r.choice("0123456789ABCDEFGHIJ"), DAY.day)
            if tid not in self.train_ids:
                self.train_ids.add(tid)
                return tid, headcode

    def train(self):
        """All movement reports of one train, as (queue_time_utc, message)."""
        r = self.rnd
        area = r.choice(self.area_names)
        tid, headcode = self.train_id(area)
        passenger = headcode[0] in "129"
        locs = self.areas[area]
        stations = [loc for loc in locs if loc[1]]
        if passenger and len(stations) >= 4:
            locs = stations             # passenger trains report at stations
        n = min(len(locs), r.randint(4, 16))
        start = r.randrange(len(locs) - n + 1)
        route = locs[start:start + n]
        if r.random() < 0.5:
            route.reverse()
        toc = r.choices(self.tocs, self.toc_weights)[0]
        service = "%08d" % r.randrange(10000000, 99999999)
        direction = r.choice(("UP", "DOWN"))
        file_address = r.choice(("51C", "MFJ", "MC4", "MM5")) if r.random() < 0.05 else None
        # planned times on the half minute, from 05:00 to 23:30 local
        planned = dt.datetime.combine(DAY, dt.time(5)) + dt.timedelta(
            seconds=30 * r.randrange(0, 37 * 60))
        delay = r.choice((-2, -1, -1, 0, 0, 0, 1, 2, 5)) * 60   # seconds
        out = []
        for i, (stanox, station) in enumerate(route):
            if i:
                planned += dt.timedelta(seconds=30 * r.randint(2, 16))
            events = []
            if i > 0:
                events.append("DESTINATION" if i == n - 1 else "ARRIVAL")
            if i < n - 1:
                events.append("DEPARTURE")
            for ev in events:
                if ev == "DEPARTURE" and i > 0:
                    planned += dt.timedelta(seconds=30 * r.randint(1, 2))  # dwell
                # the delay drifts: recovery and new delays about balance
                delay = min(1800, max(-300, delay + r.choice((-60, -30, 0, 0, 0, 0, 30, 60))))
                actual = planned + dt.timedelta(seconds=delay)
                actual = actual.replace(second=0)                  # whole minutes
                out.append(self.message(
                    tid=tid, stanox=stanox, ev=ev, planned=planned, actual=actual,
                    station=station and passenger, toc=toc, service=service,
                    direction=direction, file_address=file_address,
                    next_stanox=route[i + 1][0] if i < n - 1 else None,
                    terminated=(ev == "DESTINATION")))
        return out

    def message(self, tid, stanox, ev, planned, actual, station, toc, service,
                direction, file_address, next_stanox, terminated):
        r = self.rnd
        dmp = r.random() < 0.4                       # delay monitoring point
        offroute = r.random() < 0.005
        header = {"msg_type": "0003"}
        # queue time: the real UTC instant, a little after the report
        queue = actual - BST + dt.timedelta(seconds=r.randint(-90, 30))
        header["msg_queue_timestamp"] = ms(queue)
        source = r.random()
        if source < 0.85:
            header["source_system_id"] = "TRUST"
            header["original_data_source"] = "SMART"
            event_source = "AUTOMATIC"
        elif source < 0.95:
            header["user_id"] = "GPSI%02d" % r.randrange(1, 20)
            header["source_system_id"] = "TRUST"
            header["original_data_source"] = "GPS"
            event_source = "AUTOMATIC"
        else:
            header["source_dev_id"] = "L%s" % r.choice(("SF3", "SG1", "NE2", "BR4"))
            header["user_id"] = "#QHPA%03d" % r.randrange(1, 100)
            header["source_system_id"] = "TRUST DA"
            header["original_data_source"] = "TRUST DA"
            event_source = "MANUAL"

        body = {"train_id": tid, "actual_timestamp": ms(actual), "loc_stanox": stanox}
        if station:
            body["gbtt_timestamp"] = ms(planned.replace(second=0))
        if not offroute:
            body["planned_timestamp"] = ms(planned)
        body["planned_event_type"] = ev
        body["event_type"] = "ARRIVAL" if ev == "DESTINATION" else ev
        body["event_source"] = event_source
        body["correction_ind"] = "false"
        body["offroute_ind"] = "true" if offroute else "false"
        if not offroute:
            body["direction_ind"] = direction
        if r.random() < 0.45:
            body["line_ind"] = r.choice("DUSCMF")
        if station:
            body["platform"] = " %d" % r.randint(1, 8)
        if not offroute:
            body["route"] = "0" if body["event_type"] == "ARRIVAL" else str(r.randint(1, 3))
        body["train_service_code"] = service
        body["division_code"] = toc
        body["toc_id"] = toc
        if offroute:
            body["timetable_variation"], body["variation_status"] = "0", "OFF ROUTE"
        else:
            body["timetable_variation"], body["variation_status"] = variation(actual, planned)
        if next_stanox and not offroute:
            body["next_report_stanox"] = next_stanox
            body["next_report_run_time"] = str(r.randint(1, 8))
        body["train_terminated"] = "true" if terminated else "false"
        body["delay_monitoring_point"] = "true" if dmp else "false"
        if file_address:
            body["train_file_address"] = file_address
        if not offroute:
            body["reporting_stanox"] = stanox if dmp else "00000"
            body["auto_expected"] = "true"
        return queue, {"header": header, "body": body}

    def correction(self, original, queue):
        """A later re-report of the same movement: a manual correction of the
        actual time, so its variation may change too."""
        r = self.rnd
        header = {"msg_type": "0003", "msg_queue_timestamp": ms(queue),
                  "source_dev_id": "L%s" % r.choice(("SF3", "SG1", "NE2", "BR4")),
                  "user_id": "#QHPA%03d" % r.randrange(1, 100),
                  "source_system_id": "TRUST DA",
                  "original_data_source": "TRUST DA"}
        body = dict(original["body"])
        actual = dt.datetime(1970, 1, 1) + dt.timedelta(
            milliseconds=int(body["actual_timestamp"]))
        actual += dt.timedelta(minutes=r.choice((-3, -2, -1, 1, 2, 4, 7)))
        body["actual_timestamp"] = ms(actual)
        body["event_source"] = "MANUAL"
        body["correction_ind"] = "true"
        if "planned_timestamp" in body:
            planned = dt.datetime(1970, 1, 1) + dt.timedelta(
                milliseconds=int(body["planned_timestamp"]))
            body["timetable_variation"], body["variation_status"] = variation(actual, planned)
        return {"header": header, "body": body}


def generate(total, seed):
    g = Generator(seed)
    rereports = int(round(total * REREPORT_SHARE))
    base_count = total - rereports

    # Enough trains for the base messages, sent in queue-time order
    base = []
    while len(base) < base_count:
        base.extend(g.train())
    base.sort(key=lambda qm: qm[0])
    base = base[:base_count]

    # Corrections: distinct originals, each re-sent 1..20,000 messages later
    # (position p + fraction: it follows the p-th base message)
    picks = g.rnd.sample(range(base_count), rereports)
    corrections = []
    for p in picks:
        after = min(base_count - 1, p + g.rnd.randint(1, REREPORT_WINDOW))
        queue = base[after][0]
        corrections.append((after + g.rnd.random(), g.correction(base[p][1], queue)))
    corrections.sort(key=lambda pc: pc[0])

    stream = [(float(i), m) for i, (_, m) in enumerate(base)]
    merged = []
    keys = [pc[0] for pc in corrections]
    # merge the two position-ordered lists
    j = 0
    for pos, m in stream:
        merged.append(m)
        k = bisect.bisect_left(keys, pos + 1.0, lo=j)
        merged.extend(c for _, c in corrections[j:k])
        j = k
    merged.extend(c for _, c in corrections[j:])
    assert len(merged) == total

    # Frames: mostly full (32), some partial, as a busy feed sends them
    frames, i = [], 0
    while i < total:
        size = FRAME_MAX if g.rnd.random() < 0.7 else g.rnd.randint(1, FRAME_MAX - 1)
        frames.append(merged[i:i + size])
        i += size
    return frames, base_count, rereports


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("messages", nargs="?", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=20240728)
    ap.add_argument("--out", default="-", help="output file (default stdout)")
    ap.add_argument("--array", action="store_true",
                    help="one JSON array of the messages instead of envelopes")
    args = ap.parse_args()
    if args.messages < 1:
        ap.error("MESSAGES must be positive")

    frames, rows, rereports = generate(args.messages, args.seed)
    out = sys.stdout if args.out == "-" else open(args.out, "w")
    compact = (",", ":")
    if args.array:
        out.write("[\n")
        out.write(",\n".join(json.dumps(m, separators=compact)
                             for frame in frames for m in frame))
        out.write("\n]\n")
        shape = "as one array"
    else:
        msg_bytes = 0
        for frame in frames:
            text = json.dumps(frame, separators=compact)
            msg_bytes += len(text) - 1 - len(frame)   # brackets and commas
            out.write(json.dumps({"text": text}, separators=compact))
            out.write("\n")
        shape = "in %d frames, %.0f B/message" % (len(frames), msg_bytes / args.messages)
    if out is not sys.stdout:
        out.close()
    print("gen_trust: %d messages (%d re-reports, %d distinct keys) %s, seed %d"
          % (args.messages, rereports, rows, shape, args.seed), file=sys.stderr)


if __name__ == "__main__":
    main()
