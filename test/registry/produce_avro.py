#!/usr/bin/env python3
"""Produce JSON lines from standard input to Kafka as Avro values, with
confluent-kafka's AvroSerializer and a schema registry: the Confluent wire
format (magic byte, schema id, Avro binary) that a Kafka Connect or Java
producer writes, the schema registered under "<topic>-value".

  produce_avro.py BROKERS REGISTRY_URL TOPIC SCHEMA_FILE [--key FIELD] [--envelope]

Each line is one record (a JSON object), keyed by its FIELD (as text).
With --envelope each line is a TRUST frame, sent as the text of the JMS
message record that Kafka Connect's ActiveMQ source writes (SCHEMA_FILE is
then test/registry/jms-envelope.avsc).  Prints the schema id and the number
of messages produced.
"""
import argparse
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def envelope(i, frame):
    return {
        "messageID": "ID:rail-%d" % i, "messageType": "text",
        "timestamp": 1722162000000 + i, "deliveryMode": 2,
        "correlationID": None, "replyTo": None,
        "destination": {"destinationType": "topic", "name": "TRAIN_MVT_ALL_TOC"},
        "redelivered": False, "type": None, "expiration": 0, "priority": 4,
        "properties": {"JMSXDeliveryCount": {"propertyType": "integer",
                                             "boolean": None, "byte": None,
                                             "short": None, "integer": 1,
                                             "long": None, "float": None,
                                             "double": None, "string": None}},
        "bytes": None, "map": None, "text": frame,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("brokers")
    ap.add_argument("registry")
    ap.add_argument("topic")
    ap.add_argument("schema")
    ap.add_argument("--key")
    ap.add_argument("--envelope", action="store_true")
    args = ap.parse_args()

    with open(args.schema) as f:
        schema = f.read()
    registry = SchemaRegistryClient({"url": args.registry})
    serializer = AvroSerializer(registry, schema)
    producer = Producer({"bootstrap.servers": args.brokers,
                         "enable.idempotence": True})
    ctx = SerializationContext(args.topic, MessageField.VALUE)
    failed = []
    n = 0
    for i, line in enumerate(sys.stdin):
        line = line.rstrip("\n")
        if not line:
            continue
        record = envelope(i, line) if args.envelope else json.loads(line)
        key = str(record[args.key]) if args.key else None
        producer.produce(args.topic, key=key, value=serializer(record, ctx),
                         on_delivery=lambda err, msg: err and failed.append(err))
        producer.poll(0)
        n += 1
    producer.flush(30)
    if failed:
        sys.exit("delivery failed: %s" % failed[0])
    schema_id = registry.lookup_schema(args.topic + "-value",
                                       serializer._schema).schema_id
    print(schema_id, n)


if __name__ == "__main__":
    main()
