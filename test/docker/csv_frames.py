#!/usr/bin/env python3
"""TRUST frames from data/trust/movements_flat_2023-05-27_part1.csv.

That sample holds 300 real movement bodies flattened to CSV, with their
timestamps already written as "YYYY-MM-DD HH:MM:SS" (see data/README.md).
The dashboards need a busy stretch of time, so the test (and nothing else)
turns them back into the feed's form: one JSON array of {header, body}
per frame, FRAME messages each, one frame per line; empty fields are
omitted as the current feed does, timestamps become epoch milliseconds of
the same wall-clock time (TRUST's convention), the header says msg_type
0003 with the actual time as its queue time.  Values are otherwise
unchanged.
"""
import csv
import datetime as dt
import json
import sys

FRAME = 50
TIMESTAMPS = ("gbtt_timestamp", "planned_timestamp", "original_loc_timestamp",
              "actual_timestamp")


def ms(text):
    t = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return str(int(t.timestamp() * 1000))


def main(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    msgs = []
    for r in rows:
        body = {k: (ms(v) if k in TIMESTAMPS else v) for k, v in r.items() if v != ""}
        header = {"msg_type": "0003",
                  "original_data_source": "SMART", "msg_queue_timestamp": body["actual_timestamp"],
                  "source_system_id": "TRUST"}
        msgs.append({"header": header, "body": body})
    for i in range(0, len(msgs), FRAME):
        print(json.dumps(msgs[i:i + FRAME], separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/trust/movements_flat_2023-05-27_part1.csv")
