-- Delay alerts: rules, matching, one alert per rule and movement, outbox.
\i test/sql/fixtures/fresh.sql
-- stations by name, CRS and STANOX, and the demo's bus N41220 (of the CIF
-- samples, the demo's alone)
\i test/sql/fixtures/locations.sql
\set cif_extract off
\i test/sql/fixtures/cif.sql
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set SHOW_CONTEXT never

-- The talk's three rules, and rules by CRS, STANOX and TIPLOC.
SELECT rail_stream.add_alert_rule('BEN RHYDDING', 5) AS ben_rhydding,
       rail_stream.add_alert_rule('LEEDS', 45) AS leeds,
       rail_stream.add_alert_rule('KINGS CROSS', 30) AS kings_cross;
SELECT rail_stream.add_alert_rule('LDS', 3, 'https://api.telegram.org/botTOKEN/sendMessage') AS by_crs,
       rail_stream.add_alert_rule('17132', 20, channel => 'leeds_alerts') AS by_stanox,
       rail_stream.add_alert_rule('LEEDS', 100, template => '{"msg": "{{text}}"}') AS by_tiploc_name,
       rail_stream.add_alert_rule('LEEDS', 40, 'http://hooks.example.org/rail?key=secret',
           '{"chat": "@leeds", "text": "*{{location}}* \"{{variation}}\": {{text}}", "late": "{{minutes_late}}"}')
           AS by_name_with_template;

-- Bad rules are refused.
SELECT rail_stream.add_alert_rule('X', -1);
SELECT rail_stream.add_alert_rule('X', 5, 'ftp://example.org/hook');
SELECT rail_stream.add_alert_rule('X', 5, 'https://bot:token@example.org/hook');
SELECT rail_stream.add_alert_rule('X', 5, channel => 'not a channel');
SELECT rail_stream.add_alert_rule('X', 5, template => '{not json');
SELECT rail_stream.add_alert_rule('X', 5, template => '{"n": {{minutes_late}}}');
\set VERBOSITY terse
INSERT INTO rail_stream.alert_rules (station, over_minutes, template) VALUES ('X', 5, '{oops');
\set VERBOSITY default
SELECT rail_stream.drop_alert_rule(999);

\set late50 '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"ALERT00001","planned_event_type":"ARRIVAL","event_type":"ARRIVAL","loc_stanox":"17132","actual_timestamp":"1722162000000","variation_status":"LATE","timetable_variation":"50","toc_id":"20"}}]'
\set late10 '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"ALERT00002","planned_event_type":"ARRIVAL","event_type":"ARRIVAL","loc_stanox":"17132","actual_timestamp":"1722162000000","variation_status":"LATE","timetable_variation":"10","toc_id":"20"}}]'
\set early50 '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"ALERT00003","planned_event_type":"ARRIVAL","event_type":"ARRIVAL","loc_stanox":"17132","actual_timestamp":"1722162000000","variation_status":"EARLY","timetable_variation":"50","toc_id":"20"}}]'

SET rail_stream.telegram_chat_id = '-364377679';  -- the talk's chat
SELECT rail_stream.ingest_message('trust', :'late50');
RESET rail_stream.telegram_chat_id;
SELECT rail_stream.ingest_message('trust', :'late10');
SELECT rail_stream.ingest_message('trust', :'early50');
SELECT r.station, r.over_minutes, a.msg_key, a.channel, a.state, a.message
FROM rail_stream.alerts a JOIN rail_stream.alert_rules r ON r.id = a.rule_id
ORDER BY a.msg_key, r.over_minutes;

-- Re-sent, and corrected: still one alert per rule and movement.
SELECT count(*) AS alerts_before FROM rail_stream.alerts \gset
SELECT rail_stream.ingest_message('trust', :'late50');
SELECT rail_stream.ingest_message('trust', replace(:'late50', '"50"', '"55"'));
SELECT count(*) - :alerts_before AS new_alerts FROM rail_stream.alerts;
SELECT string_agg(r.over_minutes::text, ',' ORDER BY r.over_minutes) AS rules
FROM rail_stream.alerts a JOIN rail_stream.alert_rules r ON r.id = a.rule_id
WHERE a.msg_key = 'ALERT00001/ARRIVAL/17132';

-- A train that starts at the station does not alert there: an activation
-- of the demo's bus N41220, which runs from LEEDS.
SELECT rail_stream.ingest_message('trust',
    '[{"header":{"msg_type":"0001","msg_queue_timestamp":"1566460800000"},"body":{"train_id":"17N41222","train_uid":"N41220","schedule_type":"N","schedule_start_date":"2019-08-22","sched_origin_stanox":"17132","toc_id":"20"}},
      {"header":{"msg_type":"0003","msg_queue_timestamp":"1566464400000"},"body":{"train_id":"17N41222","planned_event_type":"DEPARTURE","event_type":"DEPARTURE","loc_stanox":"17132","actual_timestamp":"1566468000000","variation_status":"LATE","timetable_variation":"60","toc_id":"20"}}]');
SELECT origin_tiploc, loc_tiploc, variation FROM rail.movements WHERE train_id = '17N41222';
SELECT count(*) AS alerts_for_a_train_starting_there FROM rail_stream.alerts
WHERE msg_key LIKE '17N41222/%';

-- A rolled-back movement leaves no alert.
BEGIN;
SELECT rail_stream.ingest_message('trust', replace(:'late50', 'ALERT00001', 'ALERT00009'));
SELECT count(*) FROM rail_stream.alerts WHERE msg_key LIKE 'ALERT00009/%';
ROLLBACK;
SELECT count(*) FROM rail_stream.alerts WHERE msg_key LIKE 'ALERT00009/%';

-- The payload carries the details, for LISTEN and for the sender.
SELECT jsonb_pretty(payload - 'rule_id') FROM rail_stream.alerts
WHERE channel = 'leeds_alerts';

-- The webhook request of each alert with a webhook is fixed when it is
-- raised: Telegram's sendMessage by default, else the rule's template with
-- the payload's fields, escaped inside its JSON strings.  Each alert has its
-- own idempotency key, sent on every attempt.
SELECT r.station, a.state, a.body, a.attempts, a.next_attempt_at IS NOT NULL AS due
FROM rail_stream.alerts a JOIN rail_stream.alert_rules r ON r.id = a.rule_id
WHERE a.body IS NOT NULL ORDER BY a.id;
SELECT a.body::jsonb->>'text' FROM rail_stream.alerts a
JOIN rail_stream.alert_rules r ON r.id = a.rule_id WHERE r.template IS NOT NULL;
SELECT count(DISTINCT idempotency_key) = count(*) AS keys_unique FROM rail_stream.alerts;

-- Delivery health per endpoint shows the host, never the token.
SELECT endpoint, pending, sending, delivered, failed, last_error FROM rail_stream.webhook_health
ORDER BY endpoint;

-- Failed alerts can be sent again, from the first attempt.
UPDATE rail_stream.alerts SET state = 'failed', attempts = 10, next_attempt_at = NULL
WHERE state = 'pending';
SELECT rail_stream.retry_failed_alerts();
SELECT state, attempts, next_attempt_at IS NOT NULL AS due FROM rail_stream.alerts
WHERE body IS NOT NULL ORDER BY id;

-- Rules and alerts (webhook URLs hold tokens) are not for everyone.
SET client_min_messages = warning;
DROP ROLE IF EXISTS rs_viewer;  -- left by an earlier run (roles outlive databases)
RESET client_min_messages;
CREATE ROLE rs_viewer;
SET ROLE rs_viewer;
SELECT count(*) FROM rail_stream.alert_rules;
SELECT count(*) FROM rail_stream.alerts;
SELECT count(*) FROM rail_stream.webhook_health;
SELECT rail_stream.retry_failed_alerts();
SELECT rail_stream.add_alert_rule('YORK', 5);
RESET ROLE;
DROP ROLE rs_viewer;

-- Rules from the talk's alert_config topic, as kcat -K: sends it: the Kafka
-- key is the station; a tombstone removes the rule.
SELECT rail_stream.ingest_message('reference:rail_stream.alert_config',
    '{"STATION":"BEN RHYDDING","ALERT_OVER_MINS":"5"}', 'BEN RHYDDING');
SELECT rail_stream.ingest_message('reference:rail_stream.alert_config',
    '{"STATION":"HULL","ALERT_OVER_MINS":"7"}', 'HULL');
SELECT rail_stream.ingest_message('reference:rail_stream.alert_config',
    '{"STATION":"HULL","ALERT_OVER_MINS":"9"}', 'HULL');
SELECT station, over_minutes, channel FROM rail_stream.alert_rules
WHERE config_station IS NOT NULL ORDER BY station;
SELECT rail_stream.ingest_message('reference:rail_stream.alert_config', NULL::text, 'HULL');
SELECT station, over_minutes FROM rail_stream.alert_rules
WHERE config_station IS NOT NULL ORDER BY station;

SELECT rail_stream.drop_alert_rule(id) FROM rail_stream.alert_rules WHERE station = 'KINGS CROSS';
SELECT count(*) FROM rail_stream.alert_rules;
