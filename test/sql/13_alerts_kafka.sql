-- Alerts to Kafka: rules that name a topic, their validation, and the
-- outbox rows they leave for the sender (test/t/045_alerts_kafka.pl sends
-- them to a real broker).
\i test/sql/fixtures/fresh.sql
\i test/sql/fixtures/locations.sql
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set SHOW_CONTEXT never

-- The talk's alert stream as a topic on the default brokers, and a topic on
-- brokers of its own, over SASL_SSL, with the talk's {"MESSAGE": ...} value.
SELECT rail_stream.add_alert_rule('LEEDS', 45, kafka_topic => 'rail_alerts') AS plain \gset
SELECT rail_stream.add_alert_rule('17132', 30, template => '{"MESSAGE": "{{text}}"}',
    kafka_topic => 'TRAINS_DELAYED_ALERT_TG', kafka_brokers => 'kafka1:9093,kafka2:9093',
    kafka_properties => '{"security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512",
                          "sasl.username": "alerts", "sasl.password": "s3cret",
                          "socket.keepalive.enable": true}') AS secured \gset
-- property values are kept as the strings librdkafka takes
SELECT station, webhook_url, kafka_topic, kafka_brokers, kafka_properties
FROM rail_stream.alert_rules ORDER BY id;

-- Bad Kafka rules are refused, through the API and past it.
SELECT rail_stream.add_alert_rule('X', 5, 'https://hooks.example.org/rail', kafka_topic => 'alerts');
SELECT rail_stream.add_alert_rule('X', 5, kafka_brokers => 'kafka1:9092');
SELECT rail_stream.add_alert_rule('X', 5, kafka_properties => '{"security.protocol": "ssl"}');
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => 'no spaces');
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => '..');
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => repeat('t', 250));
-- a consumer's fetch setting, and the producer's own settings
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => 'a',
    kafka_properties => '{"fetch.wait.max.ms": "10"}');
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => 'a',
    kafka_properties => '{"enable.idempotence": "false"}');
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => 'a',
    kafka_properties => '{"acks": "1"}');
-- values librdkafka refuses, and values that are no setting (not shown)
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => 'a',
    kafka_properties => '{"security.protocol": "carrier-pigeon"}');
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => 'a',
    kafka_properties => '{"sasl.password": ["s3cret"]}');
SELECT rail_stream.add_alert_rule('X', 5, kafka_topic => 'a',
    kafka_properties => '["security.protocol"]');
\set VERBOSITY terse
INSERT INTO rail_stream.alert_rules (station, over_minutes, webhook_url, kafka_topic)
VALUES ('X', 5, 'https://hooks.example.org/rail', 'alerts');
INSERT INTO rail_stream.alert_rules (station, over_minutes, kafka_properties)
VALUES ('X', 5, '{"security.protocol": "ssl"}');
UPDATE rail_stream.alert_rules SET kafka_properties = '{"debug": "all", "linger.ms": "0"}'
WHERE id = :plain;
\set VERBOSITY default
SELECT count(*) AS rules FROM rail_stream.alert_rules;

-- A late movement at Leeds: one outbox row per rule, due now.  The record's
-- value is the alert's payload, or the rule's template filled with it; its
-- key names the rule and the movement.
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"KAFKA00001","planned_event_type":"ARRIVAL","event_type":"ARRIVAL","loc_stanox":"17132","actual_timestamp":"1722162000000","variation_status":"LATE","timetable_variation":"50","toc_id":"61"}}]');
SELECT a.rule_id = :plain AS plain_rule, a.rule_id || '/' || a.msg_key = format('%s/KAFKA00001/ARRIVAL/17132', a.rule_id) AS keyed,
       a.state, a.attempts, a.next_attempt_at IS NOT NULL AS due,
       a.body::jsonb = a.payload AS body_is_payload, a.body::jsonb
FROM rail_stream.alerts a ORDER BY a.rule_id;

-- Health shows each topic on its brokers, never its properties.
SELECT endpoint, pending, delivered, failed FROM rail_stream.webhook_health ORDER BY endpoint;
SELECT rail_stream.alert_endpoint(NULL, 'rail_alerts', 'k1:9092') AS kafka,
       rail_stream.alert_endpoint('https://api.telegram.org/botTOKEN/sendMessage', NULL) AS webhook,
       rail_stream.alert_endpoint(NULL, NULL) AS neither;

-- A rule may move from a topic to a webhook, not have both.
\set VERBOSITY terse
UPDATE rail_stream.alert_rules SET webhook_url = 'https://hooks.example.org/rail' WHERE id = :plain;
\set VERBOSITY default
UPDATE rail_stream.alert_rules SET kafka_topic = NULL, kafka_brokers = NULL,
    kafka_properties = '{}', webhook_url = 'https://hooks.example.org/rail'
WHERE id = :secured;
SELECT id = :secured AS secured, webhook_url, kafka_topic, kafka_properties
FROM rail_stream.alert_rules ORDER BY id;
