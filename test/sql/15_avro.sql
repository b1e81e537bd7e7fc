-- Avro values (src/avro_decode.c, src/schema_registry.c): the JSON that an
-- Avro value becomes (decode_avro(), the same mapping an Avro feed reads),
-- what a value that breaks its schema costs, the schema registries and who
-- may use them, the feed options, and what an Avro feed does with a value
-- that is not in the wire format or a registry that cannot be reached.
-- Values made with fastavro's schemaless_writer; the path through a real
-- registry and Kafka is test/t/086_avro.pl.
\i test/sql/fixtures/fresh.sql
\set SHOW_CONTEXT never
\set reading '{"type":"record","name":"Reading","fields":[{"name":"id","type":"long"},{"name":"station","type":"string"},{"name":"late","type":["null","int"]},{"name":"ok","type":"boolean"},{"name":"speed","type":"double"},{"name":"ratio","type":"float"},{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["ARRIVAL","DEPARTURE"]}},{"name":"raw","type":"bytes"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"attrs","type":{"type":"map","values":"int"}},{"name":"code","type":{"type":"fixed","name":"Code","size":2}}]}'
\set node '{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}'

-- 1. Every type: records and maps as objects, union branches as their
-- value, enums as symbols, bytes and fixed as bytea's hex text, NaN and the
-- infinities as strings
SELECT jsonb_pretty(rail_stream.decode_avro(
    '\x9593d89fee471c4b696e67732043726f737320c3a9020e0100000000000029400000803e02060001ff04026106622263000402780202790300415a',
    :'reading'));
SELECT rail_stream.decode_avro('\x00000000000000000000f87f000080ff000000000000', :'reading');
-- a recursive schema
SELECT rail_stream.decode_avro('\x020204020600', :'node');
-- bytes land in bytea as they were
SELECT (rail_stream.decode_avro(
    '\x9593d89fee471c4b696e67732043726f737320c3a9020e0100000000000029400000803e02060001ff04026106622263000402780202790300415a',
    :'reading') ->> 'raw')::bytea AS raw;

-- 2. A value that breaks its schema is an error, whatever the bytes;
-- memory stays bounded
SELECT rail_stream.decode_avro('\x020204020600'::bytea || '\x00', :'node');
SELECT rail_stream.decode_avro('\x0202040206', :'node');
SELECT rail_stream.decode_avro('\x0204', :'node');
SELECT rail_stream.decode_avro('\x04', '{"type":"enum","name":"K","symbols":["A","B"]}');
SELECT rail_stream.decode_avro('\x02ff', '"string"');
SELECT rail_stream.decode_avro('\x01', '"string"');
SELECT rail_stream.decode_avro('\xffffffffffffffffffff01', '"long"');
SELECT rail_stream.decode_avro('\x02', '"boolean"');
-- an array of 2^40 nulls takes six bytes
SELECT rail_stream.decode_avro('\x80808080804000', '{"type":"array","items":"null"}');
SELECT rail_stream.decode_avro('\x00', '{"type":"record","name":"R"}');

-- 3. Registries: administrators name them; their credentials are seen by
-- the members of their owner only; a feed names one its writer may use
SET client_min_messages = warning;
DO $$ BEGIN CREATE ROLE rail_stream_admin; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DROP ROLE IF EXISTS avro_mallory;
DROP ROLE IF EXISTS avro_admin;
DROP ROLE IF EXISTS avro_other;
RESET client_min_messages;
CREATE ROLE avro_mallory;
CREATE ROLE avro_admin IN ROLE rail_stream_admin;
CREATE ROLE avro_other IN ROLE rail_stream_admin;
CREATE TABLE public.avro_readings (id bigint PRIMARY KEY, station text, late int);
GRANT SELECT, INSERT, UPDATE ON public.avro_readings TO avro_admin, avro_other, avro_mallory;

SET ROLE avro_mallory;
SELECT rail_stream.create_schema_registry('mine', 'http://127.0.0.1:8081');
INSERT INTO rail_stream.schema_registries (name, url) VALUES ('mine', 'http://127.0.0.1:8081');
RESET ROLE;
SET ROLE avro_admin;
SELECT rail_stream.create_schema_registry('local', 'http://127.0.0.1:1/apis/ccompat/v7/',
    'reader', 's3cret');
SELECT rail_stream.create_schema_registry('local', 'http://127.0.0.1:2');
SELECT rail_stream.create_schema_registry('bad name', 'http://127.0.0.1:2');
SELECT rail_stream.create_schema_registry('creds', 'http://user:pw@127.0.0.1:2');
SELECT rail_stream.create_schema_registry('file', 'file:///etc/passwd');
SELECT rail_stream.alter_schema_registry('local', password => 'n3w');
SELECT rail_stream.alter_schema_registry('local', url => 'ftp://127.0.0.1');
SELECT rail_stream.alter_schema_registry('nowhere', url => 'http://127.0.0.1');
SELECT name, url, username, password, owner FROM rail_stream.schema_registries;
RESET ROLE;
SET ROLE avro_mallory;
SELECT count(*) AS registries_mallory_sees FROM rail_stream.schema_registries;
UPDATE rail_stream.schema_registries SET url = 'http://evil.example.org';
SELECT rail_stream._feed_name('json:public.avro_readings {"value_format": "avro", "schema_registry": "local"}');
RESET ROLE;
SET ROLE avro_other;
SELECT count(*) AS registries_other_admin_sees FROM rail_stream.schema_registries;
SELECT rail_stream.drop_schema_registry('local');
SELECT rail_stream.alter_schema_registry('local', url => 'http://evil.example.org');
SELECT rail_stream._feed_name('json:public.avro_readings {"value_format": "avro", "schema_registry": "local"}');
RESET ROLE;

-- 4. The feed options, checked and written back in one form
SELECT rail_stream._feed_name('json:avro_readings {"schema_registry": "local", "value_format": "avro"}');
SELECT rail_stream._feed_name('trust {"value_format": "avro", "schema_registry": "local"}');
SELECT rail_stream._feed_name('json:avro_readings {"value_format": "json"}');
SELECT rail_stream._feed_name('json:avro_readings {"value_format": "xml"}');
SELECT rail_stream._feed_name('json:avro_readings {"value_format": "avro"}');
SELECT rail_stream._feed_name('json:avro_readings {"schema_registry": "local"}');
SELECT rail_stream._feed_name('json:avro_readings {"value_format": "avro", "schema_registry": "nowhere"}');
-- a subscription takes them as options too, into its feed
SELECT rail_stream.create_subscription('avro_readings', 'readings', 'json:public.avro_readings',
    '127.0.0.1:9', '{"value_format": "avro", "schema_registry": "local",
                     "metadata": {"late": "partition"}}') > 0 AS created;
SELECT feed FROM rail_stream.subscriptions WHERE name = 'avro_readings';
SELECT rail_stream.alter_subscription('avro_readings', options => '{"value_format": "json"}');
SELECT feed FROM rail_stream.subscriptions WHERE name = 'avro_readings';
SELECT rail_stream.create_subscription('avro_twice', 'readings',
    'json:public.avro_readings {"value_format": "avro", "schema_registry": "local"}',
    '127.0.0.1:9', '{"value_format": "avro"}');
SELECT rail_stream.drop_subscription('avro_readings');

-- 5. A value that is not in the wire format is a dead letter; a registry
-- that cannot be reached is an error and keeps nothing, for a retry
\set feed 'json:public.avro_readings {"value_format": "avro", "schema_registry": "local"}'
SELECT rail_stream.ingest_message(:'feed', convert_to('{"id": 1}', 'UTF8'));
SELECT rail_stream.ingest_message(:'feed', '\x0000'::bytea);
SELECT error_message, error_hint, sqlstate FROM rail_stream.dead_letters ORDER BY id;
-- (terse: curl's message says how many milliseconds it took)
\set VERBOSITY terse
SELECT rail_stream.ingest_message(:'feed', '\x000000000102'::bytea, 'k');
\set VERBOSITY default
SELECT count(*) AS dead_letters FROM rail_stream.dead_letters;
SELECT count(*) AS readings FROM public.avro_readings;

-- 6. Dropping a registry stops its feeds
SELECT rail_stream.drop_schema_registry('local');
SELECT rail_stream._feed_name(:'feed');
SELECT rail_stream.drop_schema_registry('local');
SELECT rail_stream.drop_schema_registry('local', if_exists => true);
