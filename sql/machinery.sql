-- rail_stream: the machinery (schema rail_stream).
--
-- The install script of the current version is assembled by the Makefile
-- from sql/machinery.sql, sql/rail_model.sql, sql/reference_data.sql,
-- sql/enrichment.sql, sql/punctuality.sql, sql/subscriptions.sql and
-- sql/alerts.sql, in that order.  Every change to them since 1.0 is also
-- in the update script sql/rail_stream--1.0--1.1.sql.

\echo Use "CREATE EXTENSION rail_stream" to load this file. \quit

-- Both schemas belong to the extension and go away with it.
CREATE SCHEMA rail_stream;
CREATE SCHEMA rail;
COMMENT ON SCHEMA rail_stream IS 'rail_stream machinery: ingest, transforms, dead letters';
COMMENT ON SCHEMA rail IS 'The Network Rail data model that rail_stream maintains';
GRANT USAGE ON SCHEMA rail_stream TO PUBLIC;
GRANT USAGE ON SCHEMA rail TO PUBLIC;

-- Messages that could not be transformed or written, with why.  Nothing is
-- dropped: the raw bytes are kept for replay after a fix.
CREATE TABLE rail_stream.dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed            text NOT NULL,
    subscription    text,
    topic           text,
    partition       integer,
    "offset"        bigint,
    kafka_timestamp timestamptz,
    key             text,
    headers         jsonb,
    value           bytea,
    message_index   integer,
    message_count   integer,
    error_message   text NOT NULL,
    error_detail    text,
    error_hint      text,
    error_context   text,
    sqlstate        text NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    written_as      regrole,
    value_length    bigint,
    value_sha256    bytea
);
COMMENT ON TABLE rail_stream.dead_letters IS
    'Messages that could not be transformed or written, with their raw bytes and error';
COMMENT ON COLUMN rail_stream.dead_letters.message_index IS
    'Position of the train message within its TRUST frame (then value holds that message alone)';
COMMENT ON COLUMN rail_stream.dead_letters.written_as IS
    'The role whose rights the message was written with; a replay runs with them';
COMMENT ON COLUMN rail_stream.dead_letters.value_length IS
    'Length of the whole message: value holds only its start when it was over rail_stream.max_message_size';
COMMENT ON COLUMN rail_stream.dead_letters.value_sha256 IS
    'SHA-256 of the whole message (NULL for an oversize argument of ingest_message stored compressed)';
-- Raw messages may hold anything: administrators read them, and remove
-- those written with rights they hold (see _may_manage below).  Rows are
-- written by rail_stream itself, as the extension's owner.
REVOKE ALL ON rail_stream.dead_letters FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.dead_letters', '');

-- The ingest path -------------------------------------------------------

CREATE FUNCTION rail_stream.ingest_message(feed text, value text, key text DEFAULT NULL)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'rs_ingest_message_text';
COMMENT ON FUNCTION rail_stream.ingest_message(text, text, text) IS
    'Run one message through the transform and upsert path of the Kafka workers; returns the rows written';

CREATE FUNCTION rail_stream.ingest_message(feed text, value bytea, key text DEFAULT NULL)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'rs_ingest_message_bytea';
COMMENT ON FUNCTION rail_stream.ingest_message(text, bytea, text) IS
    'Run one message, as raw bytes, through the transform and upsert path; returns the rows written';

CREATE FUNCTION rail_stream.ingest_messages(feed text, messages text[], keys text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'rs_ingest_messages';
COMMENT ON FUNCTION rail_stream.ingest_messages(text, text[], text[]) IS
    'Run many messages through the transform and upsert path as a worker''s batch (one statement per table per batch_size messages); returns the rows written';

CREATE FUNCTION rail_stream.ingest_messages(feed text, messages bytea[], keys text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'rs_ingest_messages';
COMMENT ON FUNCTION rail_stream.ingest_messages(text, bytea[], text[]) IS
    'Run many messages, as raw bytes, through the transform and upsert path as a worker''s batch; returns the rows written';

-- Transforms ------------------------------------------------------------

CREATE FUNCTION rail_stream.explode_movements(envelope text,
    OUT msg_type text, OUT header jsonb, OUT body jsonb)
RETURNS SETOF record
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'rs_explode_movements_text';
COMMENT ON FUNCTION rail_stream.explode_movements(text) IS
    'One row per train message of a TRUST frame, bare or in its ActiveMQ connector envelope';

CREATE FUNCTION rail_stream.explode_movements(envelope jsonb,
    OUT msg_type text, OUT header jsonb, OUT body jsonb)
RETURNS SETOF record
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'rs_explode_movements_jsonb';
COMMENT ON FUNCTION rail_stream.explode_movements(jsonb) IS
    'One row per train message of a TRUST frame, bare or in its ActiveMQ connector envelope';

CREATE FUNCTION rail_stream.decode_power_type(code text) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_decode_power_type';
COMMENT ON FUNCTION rail_stream.decode_power_type(text) IS
    'CIF power type code to its name (EMU: Electric Multiple Unit); NULL if unlisted';

CREATE FUNCTION rail_stream.decode_train_status(code text) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_decode_train_status';
COMMENT ON FUNCTION rail_stream.decode_train_status(text) IS
    'CIF train status code to its name; NULL if unlisted';

CREATE FUNCTION rail_stream.decode_train_category(code text) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_decode_train_category';
COMMENT ON FUNCTION rail_stream.decode_train_category(text) IS
    'CIF train category code to "group: description"; NULL if unlisted';

CREATE FUNCTION rail_stream.decode_seating_class(code text) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_decode_seating_class';
COMMENT ON FUNCTION rail_stream.decode_seating_class(text) IS
    'CIF train class (B or blank: first and standard, S: standard only)';

CREATE FUNCTION rail_stream.decode_sleepers(code text) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_decode_sleepers';
COMMENT ON FUNCTION rail_stream.decode_sleepers(text) IS
    'CIF sleeper code to the sleeping accommodation offered; NULL if unlisted';

CREATE FUNCTION rail_stream.decode_reservations(code text) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_decode_reservations';
COMMENT ON FUNCTION rail_stream.decode_reservations(text) IS
    'CIF reservation code to its meaning; NULL if unlisted';

CREATE FUNCTION rail_stream.variation_text(variation_status text, minutes integer) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_variation_text_sql';
COMMENT ON FUNCTION rail_stream.variation_text(text, integer) IS
    'The talk''s VARIATION text: ON TIME, 5 MINS LATE, 2 MINS EARLY; NULL for OFF ROUTE';

CREATE FUNCTION rail_stream.platform_text(platform text) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_platform_text_sql';
COMMENT ON FUNCTION rail_stream.platform_text(text) IS
    'A TRUST platform (space-padded, as " 1") as "Platform 1"; NULL when blank';

CREATE FUNCTION rail_stream.correct_schedule_type(schedule_type text) RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_correct_schedule_type_sql';
COMMENT ON FUNCTION rail_stream.correct_schedule_type(text) IS
    'The STP indicator of an activation''s schedule_type, with the feed''s documented O/P swap undone';

CREATE FUNCTION rail_stream.schedule_key(train_uid text, schedule_start_date date, stp_indicator text)
RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_schedule_key_sql';
COMMENT ON FUNCTION rail_stream.schedule_key(text, date, text) IS
    'The schedule key uid/start_date/stp_indicator shared by schedules and activations';

CREATE FUNCTION rail_stream.trust_event_time(milliseconds bigint) RETURNS timestamptz
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'rs_trust_event_time';
COMMENT ON FUNCTION rail_stream.trust_event_time(bigint) IS
    'A TRUST event time (UK wall-clock time written as epoch milliseconds) as the instant it names';

CREATE FUNCTION rail_stream.tumbling_window_counts(
    relation regclass, time_column name, width interval,
    group_columns name[] DEFAULT '{}',
    "from" timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
    OUT window_start timestamptz, OUT window_end timestamptz,
    OUT group_values text[], OUT count bigint)
RETURNS SETOF record
LANGUAGE c CALLED ON NULL INPUT STABLE
AS 'MODULE_PATHNAME', 'tumbling_window_counts';
COMMENT ON FUNCTION rail_stream.tumbling_window_counts(regclass, name, interval, name[], timestamptz, timestamptz) IS
    'Row counts per fixed window of time_column (aligned in the session TimeZone) and per group';
