#!/usr/bin/env python3
"""Build the seed corpus of the fuzzer (test/fuzz/corpus) from data/.

Each seed is one input of fuzz_driver.c: a first byte naming the target,
then the message.  t: a TRUST frame; A: a TRUST frame as the Avro JMS
message record of test/registry/jms-envelope.avsc; c: one CIF record; v:
one VSTP message; r, e, p, l:
"key\\nvalue" for reference:cancellation_reasons and the json: tables of
run.sh (no newline: a tombstone); a: "template\\0payload".  The seeds are
real messages from data/ (whole frames, single messages, a sample of the
CIF extract's record kinds) plus a few hand-written generic messages and
templates, so that the fuzzer starts from inputs that get past parsing.

Run it again after data/ changes: python3 test/fuzz/make_corpus.py
"""
import json
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "data")
OUT = os.path.join(ROOT, "test", "fuzz", "corpus")

seeds = {}


def avro_long(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro_string(s):
    b = s.encode() if isinstance(s, str) else s
    return avro_long(len(b)) + b


def jms_envelope(i, frame):
    """A TRUST frame in the JMS message record of jms-envelope.avsc"""
    return (avro_string("ID:rail-%d" % i) + avro_string("text")
            + avro_long(1722162000000 + i) + avro_long(2)
            + avro_long(0)                                  # correlationID null
            + avro_long(0)                                  # replyTo null
            + avro_long(1) + avro_string("topic") + avro_string("TRAIN_MVT_ALL_TOC")
            + b"\x00"                                       # redelivered false
            + avro_long(0)                                  # type null
            + avro_long(0) + avro_long(4)                   # expiration, priority
            + avro_long(1) + avro_string("JMSXDeliveryCount")  # one property
            + avro_string("integer") + avro_long(0) * 3
            + avro_long(1) + avro_long(1) + avro_long(0) * 4
            + avro_long(0)                                  # end of the map
            + avro_long(0) + avro_long(0)                   # bytes, map null
            + avro_long(1) + avro_string(frame))            # text


def seed(name, target, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    seeds[name] = target.encode() + payload


# TRUST: whole frames, and each message type alone in a frame
for f in sorted(os.listdir(os.path.join(DATA, "trust"))):
    if f.endswith(".json"):
        with open(os.path.join(DATA, "trust", f), "rb") as fh:
            raw = fh.read().strip()
        seed("trust-" + f[:-5], "t", raw)
        seeds["avro-" + f[:-5]] = b"A" + jms_envelope(len(seeds), raw)
        for i, msg in enumerate(json.loads(raw)):
            if f.startswith("trust_examples"):
                seed("trust-%s-%s" % (msg["header"]["msg_type"], i), "t",
                     json.dumps([msg], separators=(",", ":")))

# CIF: every record of the small files; of the large extract, the header,
# a few TIPLOCs, one schedule of each STP indicator and the end record
for f in sorted(os.listdir(os.path.join(DATA, "cif"))):
    with open(os.path.join(DATA, "cif", f), "rb") as fh:
        lines = [l.strip() for l in fh if l.strip()]
    small = len(lines) < 100
    tiplocs = 0
    stp = set()
    for i, line in enumerate(lines):
        rec = json.loads(line)
        kind = next(iter(rec))
        if not small:
            if kind == "TiplocV1":
                tiplocs += 1
                if tiplocs > 3:
                    continue
            elif kind == "JsonScheduleV1":
                s = rec[kind].get("CIF_stp_indicator")
                if s in stp:
                    continue
                stp.add(s)
        seed("cif-%s-%d" % (f.rsplit(".", 1)[0], i), "c", line)

# VSTP: every message of the samples
for f in sorted(os.listdir(os.path.join(DATA, "vstp"))):
    with open(os.path.join(DATA, "vstp", f), "rb") as fh:
        for i, line in enumerate(l.strip() for l in fh if l.strip()):
            seed("vstp-%s-%d" % (f.rsplit(".", 1)[0], i), "v", line)

# reference: the kcat -K: form, key and value; then a tombstone
with open(os.path.join(DATA, "reference", "canx_reason_code.dat"), "rb") as fh:
    for i, line in enumerate(fh):
        if i >= 4:
            break
        key, value = line.rstrip(b"\n").split(b":", 1)
        seeds["reference-%d" % i] = b"r" + key + b"\n" + value
seed("reference-tombstone", "r", "AA")

# json: tables of run.sh
seed("events-1", "e", '7\n{"id": 7, "name": "Leeds", "n": 1.5e3, '
     '"at": "2024-07-28 10:00:00+01", "d": "2024-07-28", "flag": true, '
     '"doc": {"a": [1, 2, {"b": null}]}, "raw": [1, "x"], '
     '"tags": "{a,b}", "big": "9007199254740993", "ratio": -0.25, '
     '"span": "1 day 02:00", "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", '
     '"t": "23:59:59", "ch": "abc", "c": "x", "b": "\\\\xdeadbeef", '
     '"MIXEDCASE": "upper"}')
seed("events-keyonly", "e", '8\n{"name": ""}')
seed("events-tombstone", "e", "7")
seed("readings-1", "p", '\n{"site": "A", "at": "2024-07-28 10:00+01", "value": 1.5}')
seed("readings-tombstone", "p", '{"site":"A","at":"2024-07-28 09:00Z"}')
seed("log-1", "l", 'k\n{"body": {"x": 1}, "note": "n"}')

# templates, with the default payload of fuzz_driver.c or their own
seed("template-1", "a", '{"msg": "{{text}}"}')
seed("template-2", "a", '{"chat": "@leeds", "text": "*{{station}}* '
     '\\"{{variation}}\\": {{text}}", "late": "{{late}}", "d": "{{detail}}", '
     '"x": "{{none}} {{missing}} {{ {{}}"}')
seed("template-3", "a", '{"n": {{variation}}}\0{"variation": 12.50, '
     '"text": "a\\"b\\\\c\\u0001\u00e9\u20ac\U0001F686"}')

shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
for name, data in sorted(seeds.items()):
    with open(os.path.join(OUT, name), "wb") as fh:
        fh.write(data)
print("%d seeds in %s" % (len(seeds), os.path.relpath(OUT, ROOT)))
