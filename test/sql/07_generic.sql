-- reference: and json: feeds: JSON objects into keyed tables, as kcat -K:
-- loads the talk's reference topics.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\i test/sql/fixtures/fresh.sql

-- canx_reason_code.dat is "CODE:{json}": the key fills the primary key.
TRUNCATE rail.cancellation_reasons;
CREATE TEMP TABLE dat (n serial, line text);
\copy dat (line) FROM 'data/reference/canx_reason_code.dat' WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')
SELECT sum(w) AS written
FROM (SELECT rail_stream.ingest_message('reference:cancellation_reasons',
                                        substr(line, strpos(line, ':') + 1),
                                        split_part(line, ':', 1)) AS w
      FROM dat ORDER BY n) s;
SELECT count(*) = (SELECT count(*) FROM dat) AS every_code_landed
FROM rail.cancellation_reasons;
SELECT * FROM rail.cancellation_reasons WHERE canx_reason_code IN ('AA', 'YI', 'TG')
ORDER BY 1;

-- Any table with a primary key; member names match columns (or ignoring
-- case), unknown members are ignored, missing columns keep their value.
CREATE TABLE public.alert_config (
    station text PRIMARY KEY,
    alert_over_mins integer NOT NULL,
    note text DEFAULT 'from kafka',
    tags jsonb
);
SELECT rail_stream.ingest_message('json:public.alert_config',
    '{"STATION":"BEN RHYDDING","ALERT_OVER_MINS":"5","colour":"red"}', 'BEN RHYDDING');
SELECT rail_stream.ingest_message('json:alert_config',
    '{"STATION":"LEEDS","ALERT_OVER_MINS":45,"tags":["busy",{"platforms":17}]}');
SELECT rail_stream.ingest_message('json:alert_config', '{"ALERT_OVER_MINS":"30"}', 'KINGS CROSS');
SELECT * FROM public.alert_config ORDER BY station;
-- an update touches only the members given
SELECT rail_stream.ingest_message('json:alert_config', '{"station":"LEEDS","alert_over_mins":40}');
SELECT * FROM public.alert_config WHERE station = 'LEEDS';
-- a tombstone (no value) deletes the row with the key
SELECT rail_stream.ingest_message('json:alert_config', NULL::text, 'BEN RHYDDING') AS deleted;
SELECT station FROM public.alert_config ORDER BY station;

-- Composite keys: the key is a JSON object.
CREATE TABLE public.readings (site text, at timestamptz, value numeric,
                              PRIMARY KEY (site, at));
SELECT rail_stream.ingest_message('json:readings', '{"site":"A","at":"2024-07-28 10:00+01","value":1.5}');
SELECT rail_stream.ingest_message('json:readings', NULL::text, '{"site":"A","at":"2024-07-28 09:00Z"}') AS deleted;
SELECT count(*) FROM public.readings;

-- Bad messages for these feeds go to the dead letters too.
TRUNCATE rail_stream.dead_letters;
SELECT rail_stream.ingest_message('json:alert_config', '["LEEDS", 45]', 'array');
SELECT rail_stream.ingest_message('json:alert_config', '{"station":"YORK","alert_over_mins":"soon"}', 'not-int');
SELECT rail_stream.ingest_message('json:alert_config', '{"alert_over_mins":3}', NULL);
SELECT rail_stream.ingest_message('json:alert_config', '{"station":"YORK","alert_over_mins":null}', 'not-null');
SELECT rail_stream.ingest_message('json:alert_config', NULL::text, NULL);
SELECT rail_stream.ingest_message('json:readings', NULL::text, 'A');
SELECT key, sqlstate, error_message FROM rail_stream.dead_letters ORDER BY id;

-- A target table without a primary key is refused up front.
CREATE TABLE public.no_key (a int);
SELECT rail_stream.ingest_message('json:no_key', '{"a":1}');

-- A table whose key is generated is an append-only log: every message is a
-- new row, even the same message twice.
CREATE TABLE public.raw_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                             text text, received timestamptz DEFAULT now());
SELECT rail_stream.ingest_message('json:raw_log', '{"text":"[1]"}'),
       rail_stream.ingest_message('json:raw_log', '{"text":"[1]"}');
SELECT id, text FROM public.raw_log ORDER BY id;

-- After a fix, dead letters replay through their feed: the one that failed
-- on NOT NULL lands, the others fail again and are kept.
ALTER TABLE public.alert_config ALTER COLUMN alert_over_mins DROP NOT NULL;
SELECT * FROM rail_stream.replay_dead_letters();
SELECT station, alert_over_mins FROM public.alert_config WHERE station = 'YORK';
SELECT key, sqlstate FROM rail_stream.dead_letters ORDER BY id;

-- The JSON parser: an integer beyond int64 keeps every digit (numeric
-- column, jsonb); escapes decode, surrogate pairs included; a repeated key
-- keeps its first place and its last value, in small and large objects; a
-- lone surrogate is refused.
CREATE TABLE public.parsed (id text PRIMARY KEY, n numeric, doc jsonb, s text);
SELECT rail_stream.ingest_message('json:parsed',
    '{"id":"big","n":-123456789012345678901234567890,"doc":{"i":98765432109876543210,"r":1.5e3,"z":-0},"s":"\ud83d\ude84 caf\u00e9 \"q\" \/ /"}');
SELECT rail_stream.ingest_message('json:parsed',
    '{"id":"dup","n":1,"s":"first","doc":{"a":1,"b":2,"a":3},"n":2,"s":"last"}');
SELECT rail_stream.ingest_message('json:parsed',
    '{"id":"many",' || string_agg(format('"k%s":%s', g, g), ',') || ',"n":7,"s":"x","n":8}')
FROM generate_series(1, 40) g;
SELECT id, n, doc, s FROM public.parsed ORDER BY id;
-- (errors raised directly, leaving no dead letters behind)
SELECT * FROM rail_stream.explode_movements('[{"header":{"msg_type":"\ud83d x"}}]');
SELECT * FROM rail_stream.explode_movements('[{"header":{"msg_type":"\ude84"}}]');
SELECT * FROM rail_stream.explode_movements('[{"header":{"msg_type":"a	b"}}]');
SELECT * FROM rail_stream.explode_movements('[{"header":{"msg_type":1e999}}]');
SELECT * FROM rail_stream.explode_movements('[{"header":{"msg_type":"0003"}} x]');
