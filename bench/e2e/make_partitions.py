#!/usr/bin/env python3
"""Split bench/gen_trust.py's TRUST stream into per-partition Kafka messages.

    make_partitions.py IN.ndjson OUTDIR PARTITIONS [--seed N]

IN is bench/gen_trust.py output: one ActiveMQ envelope {"text":"[...]"} per
line, each holding a frame of up to 32 TRUST train messages.  Frames mix
many trains, so a re-report (same key train_id/planned_event_type/
loc_stanox, a later correction) sits in another frame than its original.
Spread over several Kafka partitions as they are, the original and its
correction could land in different partitions, and which one is "latest"
would depend on how a consumer interleaves partitions: no two consumers
would have to agree on the final rows.

So, like a feed keyed by train_id, every train message goes to partition
crc32(train_id) % PARTITIONS, keeping its order in the stream, and each
partition's messages are framed again the way gen_trust.py frames them
(70 % full frames of 32, the rest 1..31), in envelopes of the same shape.
Per-train (hence per-key) order then holds within a partition, and "latest"
is well defined for every consumer that keeps partition order.

Writes OUTDIR/p<i>.ndjson (one Kafka message per line) and OUTDIR/meta.sh,
shell variables: E2E_MESSAGES, E2E_ROWS (distinct keys), E2E_FRAMES,
E2E_BYTES (envelope bytes), E2E_PARTITION_FRAMES (space-separated).
Python 3 standard library only; deterministic for a given input and seed.
"""

import argparse
import json
import os
import random
import zlib

FRAME_MAX = 32
COMPACT = (",", ":")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("outdir")
    ap.add_argument("partitions", type=int)
    ap.add_argument("--seed", type=int, default=20261125)
    args = ap.parse_args()
    nparts = args.partitions
    os.makedirs(args.outdir, exist_ok=True)

    rnd = random.Random(args.seed)
    outs = [open(os.path.join(args.outdir, "p%d.ndjson" % p), "w") for p in range(nparts)]
    pending = [[] for _ in range(nparts)]      # messages of the open frame
    target = [0] * nparts                      # size the open frame will get
    frames = [0] * nparts
    nbytes = 0
    messages = 0
    keys = set()

    def frame_size():
        return FRAME_MAX if rnd.random() < 0.7 else rnd.randint(1, FRAME_MAX - 1)

    def flush(p):
        nonlocal nbytes
        line = json.dumps({"text": "[" + ",".join(pending[p]) + "]"},
                          separators=COMPACT) + "\n"
        outs[p].write(line)
        nbytes += len(line) - 1
        frames[p] += 1
        pending[p] = []

    with open(args.input) as f:
        for line in f:
            for m in json.loads(json.loads(line)["text"]):
                b = m["body"]
                keys.add((b["train_id"], b["planned_event_type"], b["loc_stanox"]))
                p = zlib.crc32(b["train_id"].encode()) % nparts
                if not pending[p]:
                    target[p] = frame_size()
                pending[p].append(json.dumps(m, separators=COMPACT))
                messages += 1
                if len(pending[p]) == target[p]:
                    flush(p)
    for p in range(nparts):
        if pending[p]:
            flush(p)
        outs[p].close()

    with open(os.path.join(args.outdir, "meta.sh"), "w") as m:
        m.write("E2E_MESSAGES=%d\nE2E_ROWS=%d\nE2E_FRAMES=%d\nE2E_BYTES=%d\n"
                "E2E_PARTITION_FRAMES='%s'\n"
                % (messages, len(keys), sum(frames), nbytes,
                   " ".join(str(n) for n in frames)))
    print("make_partitions: %d messages, %d distinct keys, %d Kafka messages "
          "(%s per partition), %.0f MB"
          % (messages, len(keys), sum(frames), "/".join(map(str, frames)), nbytes / 1e6))


if __name__ == "__main__":
    main()
