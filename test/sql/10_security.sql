-- The privilege model, tried as an attacker would: an unprivileged login
-- role (mallory), non-superuser administrators (boss, other_admin: members
-- of rail_stream_admin) and a superuser (the test's own role).  Each attack
-- of the security review must fail with a clear error; each legitimate use
-- next to it must work.  The file loads what it needs and runs alone.
\i test/sql/fixtures/fresh.sql
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DO $$ BEGIN CREATE ROLE rail_stream_admin; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DROP ROLE IF EXISTS mallory;
DROP ROLE IF EXISTS boss;
DROP ROLE IF EXISTS other_admin;
RESET client_min_messages;
CREATE ROLE mallory;
CREATE ROLE boss IN ROLE rail_stream_admin;
CREATE ROLE other_admin IN ROLE rail_stream_admin;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA rail TO boss, other_admin;
CREATE TABLE public.sec_events (id int PRIMARY KEY, body text);
-- a rule of the superuser's, to be hidden from and out of reach of others
SELECT rail_stream.add_alert_rule('LEEDS', 45, 'https://hooks.example.org/rail?key=secret') > 0
    AS rule_added;
SELECT count(*) AS rules_before FROM rail_stream.alert_rules \gset
GRANT SELECT, INSERT, UPDATE, DELETE ON public.sec_events TO boss, mallory;

-- 1. Whatever the path, no subscription reaches librdkafka with a property
-- that runs a command, loads a library or reads a file, nor writes a table
-- its owner cannot write.
SET ROLE boss;
INSERT INTO rail_stream.subscriptions (name, topic, feed, kafka_properties)
VALUES ('evil', 't', 'trust', '{"sasl.kerberos.kinit.cmd": "psql -c \"ALTER ROLE boss SUPERUSER\""}');
INSERT INTO rail_stream.subscriptions (name, topic, feed, kafka_properties)
VALUES ('evil', 't', 'trust', '{"plugin.library.paths": "/tmp/evil.so"}');
INSERT INTO rail_stream.subscriptions (name, topic, feed, kafka_properties)
VALUES ('evil', 't', 'trust', '{"ssl.ca.location": "/etc/ssl/private/key.pem"}');
INSERT INTO rail_stream.subscriptions (name, topic, feed)
VALUES ('evil', 't', 'reference:rail.toc_sectors');
INSERT INTO rail_stream.subscriptions (name, topic, feed, owner)
VALUES ('evil', 't', 'trust', 'postgres');
-- an administrator uses TLS and SASL options (PEM strings, not files)
SELECT rail_stream.create_subscription('boss_sasl', 't', 'trust', NULL,
    '{"kafka": {"security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512",
                "sasl.username": "rail", "sasl.password": "s3cret-pw"}}') > 0 AS created;
-- a later UPDATE cannot sneak a forbidden property in
UPDATE rail_stream.subscriptions SET kafka_properties = '{"sasl.kerberos.kinit.cmd": "id"}'
WHERE name = 'boss_sasl';
-- a bad value is refused without being shown (it may be a password)
SELECT rail_stream.alter_subscription('boss_sasl', options => '{"kafka": {"sasl.password": ["s3cret-pw"]}}');
SELECT name, owner, kafka_properties ? 'sasl.kerberos.kinit.cmd' AS has_cmd
FROM rail_stream.subscriptions ORDER BY name;
RESET ROLE;

-- 3. Workers run as their subscription's owner: another administrator can
-- neither redirect, move, pause nor drop it, nor touch a superuser's.
SELECT rail_stream.create_subscription('su_sub', 't', 'trust') > 0 AS created;
SET ROLE other_admin;
SELECT rail_stream.alter_subscription('boss_sasl', brokers => 'evil.example:9092');
SELECT rail_stream.alter_subscription('boss_sasl', topic => 'other');
UPDATE rail_stream.subscriptions SET brokers = 'evil.example:9092' WHERE name = 'boss_sasl';
SELECT rail_stream.drop_subscription('boss_sasl');
SELECT rail_stream.reset_offsets('boss_sasl', '{"0": 99}');
INSERT INTO rail_stream.subscription_offsets (subscription_id, partition, next_offset)
SELECT id, 0, 99 FROM rail_stream.subscriptions WHERE name = 'boss_sasl';
SELECT rail_stream.alter_subscription('su_sub', brokers => 'evil.example:9092');
SELECT rail_stream.pause_subscription('su_sub');
RESET ROLE;
-- its owner may
SET ROLE boss;
SELECT rail_stream.alter_subscription('boss_sasl', brokers => '127.0.0.1:9093');
SELECT rail_stream.reset_offsets('boss_sasl', '{"0": 5}');
RESET ROLE;
SELECT s.name, s.brokers, s.paused, o.next_offset
FROM rail_stream.subscriptions s
LEFT JOIN rail_stream.subscription_offsets o ON o.subscription_id = s.id
ORDER BY s.name;

-- 2. Trigger functions that run as the extension's owner cannot be
-- attached by anyone, and refuse to run on any other table.
SET ROLE mallory;
CREATE TEMP TABLE fake_config (station text, alert_over_mins int, webhook_url text,
                               template text, channel text);
CREATE TRIGGER t AFTER INSERT ON fake_config
    FOR EACH ROW EXECUTE FUNCTION rail_stream._sync_alert_config();
CREATE TEMP TABLE fake_movements (LIKE rail.movements);
CREATE TRIGGER t AFTER INSERT ON fake_movements
    FOR EACH ROW EXECUTE FUNCTION rail._count_movements();
CREATE TRIGGER t AFTER INSERT ON fake_movements
    FOR EACH ROW EXECUTE FUNCTION rail_stream._raise_alerts();
-- the rules, their topic table and the outbox are out of reach
INSERT INTO rail_stream.alert_rules (station, over_minutes, webhook_url)
VALUES ('LEEDS', 0, 'http://evil.example/');
SELECT rail_stream.add_alert_rule('LEEDS', 0, 'http://evil.example/');
INSERT INTO rail_stream.alert_config VALUES ('LEEDS', 0, 'http://evil.example/');
INSERT INTO rail.daily_movement_counts VALUES ('2024-07-28', '20', 'LATE', 1000);
SELECT count(*) AS rules_seen, :rules_before > 0 AS rules_exist FROM rail_stream.alert_rules;
RESET ROLE;
-- not even a superuser's trigger on another table makes a rule
CREATE TABLE public.su_config (station text, alert_over_mins int, webhook_url text,
                               template text, channel text);
CREATE TRIGGER t AFTER INSERT ON public.su_config
    FOR EACH ROW EXECUTE FUNCTION rail_stream._sync_alert_config();
INSERT INTO public.su_config VALUES ('LEEDS', 0, 'http://evil.example/', NULL, 'rail_stream_alerts');
DROP TABLE public.su_config;
SELECT count(*) AS rules, count(*) = :rules_before AS no_rule_made FROM rail_stream.alert_rules;
-- no function that runs as its owner is executable by PUBLIC; the internal
-- functions that are only check their caller or compute (the API functions
-- and policies call them with the caller's rights)
SELECT p.oid::regprocedure AS security_definer_for_public
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'rail_stream'
WHERE p.prosecdef AND has_function_privilege('mallory', p.oid, 'EXECUTE');
SELECT p.oid::regprocedure AS internal_for_public
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'rail_stream'
WHERE p.proname LIKE '\_%' AND has_function_privilege('mallory', p.oid, 'EXECUTE')
ORDER BY p.oid::regprocedure::text;

-- 4. ingest_message needs the rights that the feed needs, and only those
-- who may read dead letters leave them: for anyone else the error is
-- raised, so nobody fills a table they can neither read nor empty.
SET ROLE mallory;
SELECT rail_stream.ingest_message('trust', '[]', 'no-rights');
SELECT rail_stream.ingest_message('json:public.sec_events', 'not json', 'garbage');
SELECT rail_stream.ingest_messages('json:public.sec_events', ARRAY['not json'], ARRAY['garbage-batch']);
RESET ROLE;
ALTER TABLE public.sec_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY low_ids ON public.sec_events USING (true) WITH CHECK (id < 100);
SET ROLE boss;
SELECT rail_stream.ingest_message('json:public.sec_events', '{"id": 1, "body": "allowed"}', 'ok');
-- 9. a row that a policy refuses is a dead letter, not an error
SELECT rail_stream.ingest_message('json:public.sec_events', '{"id": 500, "body": "refused"}', 'rls');
RESET ROLE;
SELECT key, sqlstate, error_message, written_as FROM rail_stream.dead_letters
WHERE key IN ('no-rights', 'garbage', 'garbage-batch', 'rls', 'ok');
-- a superuser's replay writes with boss's rights: the policy refuses again
SELECT * FROM rail_stream.replay_dead_letters(ids => ARRAY(
    SELECT id FROM rail_stream.dead_letters WHERE key = 'rls'));
SELECT id, body FROM public.sec_events ORDER BY id;
-- an administrator who may not act for boss leaves it, and cannot force it
SET ROLE other_admin;
SELECT * FROM rail_stream.replay_dead_letters();
SELECT rail_stream._replay_dead_letter(id) FROM rail_stream.dead_letters WHERE key = 'rls';
DELETE FROM rail_stream.dead_letters WHERE key = 'rls';
RESET ROLE;
-- 7. an administrator who may replays it, once the policy is fixed
GRANT boss TO other_admin;
ALTER POLICY low_ids ON public.sec_events WITH CHECK (id < 1000);
SET ROLE other_admin;
SELECT count(*) AS dead_letters_visible FROM rail_stream.dead_letters;
SELECT * FROM rail_stream.replay_dead_letters();
RESET ROLE;
SELECT id, body FROM public.sec_events ORDER BY id;
SELECT count(*) AS left_over FROM rail_stream.dead_letters WHERE key = 'rls';
REVOKE boss FROM other_admin;

-- What the written role's code sets during a replay does not outlive it:
-- a trigger that changes search_path cannot make the superuser who replays
-- run boss's functions afterwards.
CREATE SCHEMA boss_schema AUTHORIZATION boss;
SET ROLE boss;
CREATE TABLE boss_schema.ev (id int PRIMARY KEY, body text);
CREATE TABLE boss_schema.armed (x int);
CREATE FUNCTION boss_schema.trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM boss_schema.armed) THEN
        RAISE EXCEPTION 'not yet' USING ERRCODE = 'check_violation';
    END IF;
    PERFORM pg_catalog.set_config('search_path', 'boss_schema, pg_catalog', false);
    RETURN NEW;
END $$;
CREATE TRIGGER t BEFORE INSERT ON boss_schema.ev FOR EACH ROW EXECUTE FUNCTION boss_schema.trg();
SELECT rail_stream.ingest_message('json:boss_schema.ev', '{"id": 1, "body": "x"}', 'setter');
INSERT INTO boss_schema.armed VALUES (1);
RESET ROLE;
SHOW search_path;
SELECT * FROM rail_stream.replay_dead_letters(ids => ARRAY(
    SELECT id FROM rail_stream.dead_letters WHERE key = 'setter'));
SHOW search_path;
DROP SCHEMA boss_schema CASCADE;
DELETE FROM rail_stream.dead_letters WHERE key = 'setter';

-- 5. Settings may hold credentials: an administrator sees only the
-- subscriptions it may manage.
SET ROLE other_admin;
SELECT name, kafka_properties ->> 'sasl.password' AS password
FROM rail_stream.subscriptions ORDER BY name;
RESET ROLE;
-- SASL mechanisms that run commands or fetch URLs are refused
SET ROLE boss;
SELECT rail_stream.alter_subscription('boss_sasl', options => '{"kafka": {"sasl.mechanisms": "GSSAPI"}}');
RESET ROLE;

-- 6. A template is filled in one pass: placeholders inside values stay as
-- they are, and the body is bounded.
SELECT length(rail_stream.alert_body('{"text": "{{text}} {{text}} {{station}}"}',
    jsonb_build_object('text', repeat('{{text}}', 1000), 'station', '{{text}}'))) AS one_pass_length;
SELECT length(b) <= 65536 AS bounded, b::jsonb IS NOT NULL AS valid_json
FROM rail_stream.alert_body('{"a": "{{text}}", "b": "{{text}}"}',
    jsonb_build_object('text', repeat('é"\', 40000))) AS b;
SELECT rail_stream.alert_body('{"t": "{{text}} {{missing}} {{minutes_late}} {{ok}}"}',
    '{"text": "line\nbreak \"quoted\"", "minutes_late": 5, "ok": true}');

-- 11. Telegram gets plain text: no Markdown to break on "_" or "*".
SELECT rail_stream.alert_body(NULL, '{"text": "Train at St_Pancras *late*"}')::jsonb ? 'parse_mode'
    AS has_parse_mode;

-- 8. A NOTIFY payload over 8000 bytes (pg_notify refuses one) is cut to
-- the alert's ids; the movement and its alert are kept.
SELECT rail_stream.add_alert_rule('99999', 0) > 0 AS rule_added;
SELECT rail_stream.ingest_message('trust', format(
    '[{"header":{"msg_type":"0003","msg_queue_timestamp":"1722158477000"},"body":{"train_id":"%s","planned_event_type":"ARRIVAL","event_type":"ARRIVAL","loc_stanox":"99999","actual_timestamp":"1722162000000","variation_status":"LATE","timetable_variation":"7","toc_id":"%s"}}]',
    'LONG01', repeat('9', 9000)), 'long-notify') AS rows;
SELECT count(*) AS alerts, max(length(payload::text)) > 8000 AS full_payload_kept
FROM rail_stream.alerts WHERE msg_key LIKE 'LONG01/%';

-- 14. Punctuality views for TOCs that share a name, and for no TOC
SELECT rail_stream.create_punctuality_view('public.unmapped', ARRAY['41', '57', '20']);
SELECT attname FROM pg_attribute WHERE attrelid = 'public.unmapped'::regclass AND attnum > 0
ORDER BY attnum;
SELECT rail_stream.create_punctuality_view('public.nothing', ARRAY[NULL]::text[]);

-- 15. A dashboard's role, a member of rail_stream_monitor, watches every
-- subscription and the webhooks' health; it reads no credential, rule,
-- alert or dead letter, and changes nothing.  mallory sees none of it.
SET client_min_messages = warning;
DO $$ BEGIN CREATE ROLE rail_stream_monitor; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DROP ROLE IF EXISTS watcher;
RESET client_min_messages;
CREATE ROLE watcher IN ROLE rail_stream_monitor;
SET ROLE watcher;
SELECT subscription, state FROM rail_stream.subscription_status
WHERE subscription IN ('boss_sasl', 'su_sub') ORDER BY 1;
SELECT (SELECT count(*) FROM rail_stream.subscriptions) AS subscriptions_read,
       (SELECT count(*) FROM rail_stream.alert_rules) AS rules_read,
       (SELECT count(*) FROM rail_stream.alerts) AS alerts_read;
SELECT count(*) AS dead_letters_read FROM rail_stream.dead_letters;
SELECT rail_stream.pause_subscription('su_sub');
RESET ROLE;
SET ROLE mallory;
SELECT count(*) AS status_rows_mallory_sees FROM rail_stream.subscription_status
WHERE subscription IN ('boss_sasl', 'su_sub');
RESET ROLE;
DROP ROLE watcher;

-- 16. An alert rule's Kafka properties reach the alert sender's producer:
-- whatever the path, none runs a command, loads a library or reads a file,
-- nor turns off what the sender relies on.  Only administrators make such
-- rules, and only they read them (the properties hold passwords).
SET ROLE boss;
SELECT rail_stream.add_alert_rule('LEEDS', 0, kafka_topic => 'evil',
    kafka_properties => '{"sasl.kerberos.kinit.cmd": "psql -c \"ALTER ROLE boss SUPERUSER\""}');
SELECT rail_stream.add_alert_rule('LEEDS', 0, kafka_topic => 'evil',
    kafka_properties => '{"plugin.library.paths": "/tmp/evil.so"}');
SELECT rail_stream.add_alert_rule('LEEDS', 0, kafka_topic => 'evil',
    kafka_properties => '{"ssl.ca.location": "/etc/ssl/private/key.pem"}');
SELECT rail_stream.add_alert_rule('LEEDS', 0, kafka_topic => 'evil',
    kafka_properties => '{"sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.token.endpoint.url": "http://evil.example/"}');
SELECT rail_stream.add_alert_rule('LEEDS', 0, kafka_topic => 'evil',
    kafka_properties => '{"enable.idempotence": "false", "acks": "0"}');
INSERT INTO rail_stream.alert_rules (station, over_minutes, kafka_topic, kafka_properties)
VALUES ('LEEDS', 0, 'evil', '{"plugin.library.paths": "/tmp/evil.so"}');
-- an administrator uses TLS and SASL settings (PEM strings, not files)
SELECT rail_stream.add_alert_rule('LEEDS', 45, kafka_topic => 'boss_alerts',
    kafka_properties => '{"security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512",
                          "sasl.username": "alerts", "sasl.password": "s3cret-pw"}') > 0 AS rule_added;
-- a later UPDATE cannot sneak a forbidden property in, on this rule or another
UPDATE rail_stream.alert_rules SET kafka_properties = kafka_properties || '{"ssl.key.location": "/etc/shadow"}'
WHERE kafka_topic = 'boss_alerts';
UPDATE rail_stream.alert_rules SET kafka_topic = 'evil', webhook_url = NULL,
    kafka_properties = '{"sasl.kerberos.kinit.cmd": "id"}'
WHERE station = 'LEEDS' AND kafka_topic IS NULL;
SELECT kafka_topic, kafka_properties ->> 'sasl.password' AS password
FROM rail_stream.alert_rules WHERE kafka_topic IS NOT NULL;
RESET ROLE;
-- no role without the admin role makes, changes or reads one
SET ROLE mallory;
SELECT rail_stream.add_alert_rule('LEEDS', 0, kafka_topic => 'evil');
INSERT INTO rail_stream.alert_rules (station, over_minutes, kafka_topic)
VALUES ('LEEDS', 0, 'evil');
UPDATE rail_stream.alert_rules SET kafka_brokers = 'evil.example:9092' WHERE kafka_topic IS NOT NULL;
SELECT count(*) AS kafka_rules_seen FROM rail_stream.alert_rules WHERE kafka_topic IS NOT NULL;
RESET ROLE;
SELECT station, kafka_topic, kafka_brokers, kafka_properties ? 'ssl.key.location' AS has_file
FROM rail_stream.alert_rules WHERE kafka_topic IS NOT NULL;
DELETE FROM rail_stream.alert_rules WHERE kafka_topic = 'boss_alerts';

DROP VIEW public.unmapped;
DROP TABLE public.sec_events;
SELECT rail_stream.drop_subscription(name) FROM rail_stream.subscriptions
WHERE name IN ('boss_sasl', 'su_sub');
DELETE FROM rail_stream.alert_rules WHERE station = '99999';
DELETE FROM rail_stream.dead_letters WHERE written_as::text IN ('mallory', 'boss', 'other_admin');
DROP OWNED BY mallory, boss, other_admin;
DROP ROLE mallory, boss, other_admin;
