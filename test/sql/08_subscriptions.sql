-- The subscription API from SQL.  Without shared_preload_libraries no worker
-- runs: subscriptions are stored and shown as stopped.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\i test/sql/fixtures/fresh.sql
\set SHOW_CONTEXT never

SELECT rail_stream.create_subscription('trust', 'networkrail_TRAIN_MVT', 'trust') > 0 AS created;
SELECT rail_stream.create_subscription('cif', 'CIF_FULL_DAILY', 'cif', '127.0.0.1:9092',
    '{"start": "latest", "batch_size": 500, "batch_ms": 250, "parallelism": 2,
      "kafka": {"fetch.wait.max.ms": 50, "client.rack": "r1"}}') > 0 AS created;
SELECT rail_stream.create_subscription('canx', 'canx_reason_code', 'reference:cancellation_reasons',
    NULL, '{"start": "2024-07-28 10:00+01"}') > 0 AS created;
SELECT name, topic, feed, brokers, start_position, batch_size, batch_ms, parallelism,
       kafka_properties, owner, enabled, paused, config_version
FROM rail_stream.subscriptions ORDER BY id;

-- Bad calls name what is wrong.
SELECT rail_stream.create_subscription('trust', 'other', 'trust');
SELECT rail_stream.create_subscription('bad name!', 't', 'trust');
SELECT rail_stream.create_subscription('x', 't', 'trains');
SELECT rail_stream.create_subscription('x', 't', 'json:no_such_table');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"batchsize": 10}');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"batch_size": 0}');
-- the limits are the parameters' (src/guc.h), and the table keeps them too
SELECT rail_stream._option_limits();
INSERT INTO rail_stream.subscriptions (name, topic, feed, batch_size)
VALUES ('x', 't', 'trust', 100001);
INSERT INTO rail_stream.subscriptions (name, topic, feed, parallelism)
VALUES ('x', 't', 'trust', 257);
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"batch_ms": "fast"}');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"parallelism": 1.5}');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"start": "yesterday-ish"}');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"kafka": {"no.such.property": "1"}}');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"kafka": {"enable.auto.commit": "true"}}');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"kafka": {"plugin.library.paths": "/tmp/evil.so"}}');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"kafka": {"security.protocol": "carrier-pigeon"}}');
SELECT rail_stream.create_subscription('x', 't', 'trust', NULL, '{"kafka": ["a"]}');
SELECT rail_stream.create_subscription('x', NULL, 'trust');

-- Alter, pause, resume, reset, each visible in the table and the status.
SELECT rail_stream.alter_subscription('cif', options => '{"batch_size": 2000}');
SELECT rail_stream.pause_subscription('trust');
SELECT rail_stream.reset_offsets('cif', '{"0": 1200, "1": 0}');
SELECT rail_stream.reset_offsets('canx', 'earliest');
SELECT name, start_position, batch_size, paused, config_version
FROM rail_stream.subscriptions ORDER BY id;
SELECT subscription, topic, partition, state, committed_offset, lag, pid
FROM rail_stream.subscription_status ORDER BY subscription, partition;
SELECT rail_stream.reset_offsets('cif', '{"zero": 1}');
SELECT rail_stream.reset_offsets('cif', 'sometime');
SELECT rail_stream.resume_subscription('trust');
SELECT rail_stream.pause_subscription('nope');

-- Only superusers and rail_stream_admin members manage subscriptions; the
-- settings (which may hold credentials) are hidden from everyone else.
-- (roles outlive databases: those an earlier run left go first, and
-- rail_stream_admin may be left by 10_security)
SET client_min_messages = warning;
DROP ROLE IF EXISTS rs_user, rs_admin;
RESET client_min_messages;
CREATE ROLE rs_user;
DO $$ BEGIN CREATE ROLE rail_stream_admin; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE ROLE rs_admin IN ROLE rail_stream_admin;
SET ROLE rs_user;
SELECT rail_stream.create_subscription('mine', 't', 'trust');
SELECT rail_stream.drop_subscription('trust');
SELECT count(*) AS visible FROM rail_stream.subscriptions;
SELECT count(*) AS visible FROM rail_stream.subscription_status;
SELECT count(*) FROM rail_stream.dead_letters;
RESET ROLE;

-- An admin's subscription runs as the admin, who must be able to write its
-- feed's tables.
CREATE TABLE public.events (id int PRIMARY KEY, body text);
SET ROLE rs_admin;
SELECT rail_stream.create_subscription('events', 'events', 'json:public.events');
SELECT rail_stream.create_subscription('admin_trust', 't', 'trust');
RESET ROLE;
GRANT SELECT, INSERT, UPDATE ON public.events TO rs_admin;
SET ROLE rs_admin;
SELECT rail_stream.create_subscription('events', 'events', 'json:public.events');
RESET ROLE;
GRANT DELETE ON public.events TO rs_admin;
SET ROLE rs_admin;
SELECT rail_stream.create_subscription('events', 'events', 'json:public.events') > 0 AS created;
SELECT name, owner FROM rail_stream.subscriptions ORDER BY id;
SELECT subscription, state FROM rail_stream.subscription_status ORDER BY 1, 2;
-- an administrator cannot hand a subscription (and its worker) to another role
UPDATE rail_stream.subscriptions SET owner = 'postgres' WHERE name = 'events';
INSERT INTO rail_stream.subscriptions (name, topic, feed, owner) VALUES ('sneaky', 't', 'trust', 'postgres');
RESET ROLE;

SELECT rail_stream.drop_subscription('events');
SELECT rail_stream.drop_subscription('events');
SELECT rail_stream.drop_subscription('events', if_exists => true);
SELECT count(*) FROM rail_stream.subscription_offsets;
SELECT rail_stream.drop_subscription(name) FROM rail_stream.subscriptions;
SELECT count(*) FROM rail_stream.subscription_offsets;
DROP TABLE public.events;
DROP ROLE rs_user, rs_admin, rail_stream_admin;
