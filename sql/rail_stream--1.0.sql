-- rail_stream 1.0: the machinery (schema rail_stream).
--
-- The install script is assembled by the Makefile from sql/machinery.sql,
-- sql/rail_model.sql, sql/reference_data.sql, sql/enrichment.sql and
-- sql/punctuality.sql, in that order.

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
    failed_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE rail_stream.dead_letters IS
    'Messages that could not be transformed or written, with their raw bytes and error';
COMMENT ON COLUMN rail_stream.dead_letters.message_index IS
    'Position of the train message within its TRUST frame (then value holds that message alone)';
-- Raw messages may hold anything: readable by the admin role only.
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

-- The rail data model (schema rail) --------------------------------------
--
-- One table per feed record, keyed as the talk keys its ksqlDB tables, so
-- that a re-sent or corrected message updates its row.  TRUST times are
-- timestamptz (body event times converted from UK wall-clock time) with the
-- raw epoch milliseconds beside them in <name>_ms.  Columns after the feed's
-- own are derived by the transforms or filled by the enrichment triggers.

CREATE TABLE rail.activations (
    train_id                text NOT NULL PRIMARY KEY,
    msg_type                text NOT NULL,
    source_dev_id           text,
    user_id                 text,
    original_data_source    text,
    msg_queue_timestamp     timestamptz,
    msg_queue_timestamp_ms  bigint,
    source_system_id        text,
    schedule_source         text,
    train_file_address      text,
    schedule_end_date       date,
    tp_origin_timestamp     date,
    creation_timestamp      timestamptz,
    creation_timestamp_ms   bigint,
    tp_origin_stanox        text,
    origin_dep_timestamp    timestamptz,
    origin_dep_timestamp_ms bigint,
    train_service_code      text,
    toc_id                  text,
    d1266_record_number     text,
    train_call_type         text,
    train_uid               text,
    train_call_mode         text,
    schedule_type           text,
    sched_origin_stanox     text,
    schedule_wtt_id         text,
    schedule_start_date     date,
    extra_fields            jsonb,
    -- derived: the STP indicator with the feed's O/P swap undone, and the key
    stp_indicator           text,
    schedule_key            text,
    -- enrichment
    toc_name                text,
    sched_origin_name       text,
    sched_origin_tiploc     text,
    sched_origin_lat        double precision,
    sched_origin_lon        double precision,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX ON rail.activations (schedule_key);
COMMENT ON TABLE rail.activations IS 'TRUST 0001: a train_id activated against a schedule (latest per train_id)';

CREATE TABLE rail.cancellations (
    train_id                text NOT NULL,
    canx_timestamp          timestamptz NOT NULL,
    canx_timestamp_ms       bigint NOT NULL,
    loc_stanox              text NOT NULL,
    msg_type                text NOT NULL,
    source_dev_id           text,
    user_id                 text,
    original_data_source    text,
    msg_queue_timestamp     timestamptz,
    msg_queue_timestamp_ms  bigint,
    source_system_id        text,
    train_file_address      text,
    train_service_code      text,
    orig_loc_stanox         text,
    toc_id                  text,
    dep_timestamp           timestamptz,
    dep_timestamp_ms        bigint,
    division_code           text,
    canx_reason_code        text,
    orig_loc_timestamp      timestamptz,
    orig_loc_timestamp_ms   bigint,
    canx_type               text,
    extra_fields            jsonb,
    -- enrichment
    toc_name                text,
    canx_reason             text,
    canx_abbrev             text,
    loc_name                text,
    loc_tiploc              text,
    loc_lat                 double precision,
    loc_lon                 double precision,
    schedule_key            text,
    train_uid               text,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (train_id, canx_timestamp_ms, loc_stanox)
);
COMMENT ON TABLE rail.cancellations IS 'TRUST 0002: train cancellations, with reason and location';

CREATE TABLE rail.movements (
    train_id                text NOT NULL,
    planned_event_type      text NOT NULL,
    loc_stanox              text NOT NULL,
    msg_type                text NOT NULL,
    source_dev_id           text,
    user_id                 text,
    original_data_source    text,
    msg_queue_timestamp     timestamptz,
    msg_queue_timestamp_ms  bigint,
    source_system_id        text,
    event_type              text,
    gbtt_timestamp          timestamptz,
    gbtt_timestamp_ms       bigint,
    original_loc_stanox     text,
    planned_timestamp       timestamptz,
    planned_timestamp_ms    bigint,
    timetable_variation     integer,
    original_loc_timestamp  timestamptz,
    original_loc_timestamp_ms bigint,
    current_train_id        text,
    delay_monitoring_point  boolean,
    next_report_run_time    integer,
    reporting_stanox        text,
    actual_timestamp        timestamptz,
    actual_timestamp_ms     bigint,
    correction_ind          boolean,
    event_source            text,
    train_file_address      text,
    platform                text,
    division_code           text,
    train_terminated        boolean,
    offroute_ind            boolean,
    variation_status        text,
    train_service_code      text,
    toc_id                  text,
    auto_expected           boolean,
    direction_ind           text,
    route                   text,
    next_report_stanox      text,
    line_ind                text,
    extra_fields            jsonb,
    -- derived: the talk's MSG_KEY, VARIATION, LATE_IND and PLATFORM
    msg_key                 text GENERATED ALWAYS AS
                                (train_id || '/' || planned_event_type || '/' || loc_stanox) STORED,
    variation               text,
    late_ind                boolean,
    platform_text           text,
    -- enrichment: location, TOC, activation and schedule
    loc_name                text,
    loc_tiploc              text,
    loc_crs                 text,
    loc_lat                 double precision,
    loc_lon                 double precision,
    toc_name                text,
    schedule_key            text,
    train_uid               text,
    power_type              text,
    train_category          text,
    schedule_num_stops      integer,
    origin_tiploc           text,
    origin_name             text,
    origin_public_departure time,
    destination_tiploc      text,
    destination_name        text,
    destination_public_arrival time,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (train_id, planned_event_type, loc_stanox)
);
CREATE INDEX ON rail.movements (actual_timestamp);
COMMENT ON TABLE rail.movements IS
    'TRUST 0003: train movements, enriched; keyed by the talk''s MSG_KEY train_id/planned_event_type/loc_stanox';

CREATE TABLE rail.reinstatements (
    train_id                text NOT NULL,
    reinstatement_timestamp timestamptz NOT NULL,
    reinstatement_timestamp_ms bigint NOT NULL,
    msg_type                text NOT NULL,
    source_dev_id           text,
    user_id                 text,
    original_data_source    text,
    msg_queue_timestamp     timestamptz,
    msg_queue_timestamp_ms  bigint,
    source_system_id        text,
    current_train_id        text,
    dep_timestamp           timestamptz,
    dep_timestamp_ms        bigint,
    loc_stanox              text,
    original_loc_timestamp  timestamptz,
    original_loc_timestamp_ms bigint,
    original_loc_stanox     text,
    toc_id                  text,
    division_code           text,
    train_service_code      text,
    train_file_address      text,
    extra_fields            jsonb,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (train_id, reinstatement_timestamp_ms)
);
COMMENT ON TABLE rail.reinstatements IS 'TRUST 0005: cancelled trains reinstated';

CREATE TABLE rail.changes_of_origin (
    train_id                text NOT NULL,
    coo_timestamp           timestamptz NOT NULL,
    coo_timestamp_ms        bigint NOT NULL,
    msg_type                text NOT NULL,
    source_dev_id           text,
    user_id                 text,
    original_data_source    text,
    msg_queue_timestamp     timestamptz,
    msg_queue_timestamp_ms  bigint,
    source_system_id        text,
    current_train_id        text,
    reason_code             text,
    dep_timestamp           timestamptz,
    dep_timestamp_ms        bigint,
    loc_stanox              text,
    original_loc_timestamp  timestamptz,
    original_loc_timestamp_ms bigint,
    original_loc_stanox     text,
    toc_id                  text,
    division_code           text,
    train_service_code      text,
    train_file_address      text,
    extra_fields            jsonb,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (train_id, coo_timestamp_ms)
);
COMMENT ON TABLE rail.changes_of_origin IS 'TRUST 0006: trains starting from another location than scheduled';

CREATE TABLE rail.changes_of_identity (
    train_id                text NOT NULL,
    event_timestamp         timestamptz NOT NULL,
    event_timestamp_ms      bigint NOT NULL,
    msg_type                text NOT NULL,
    source_dev_id           text,
    user_id                 text,
    original_data_source    text,
    msg_queue_timestamp     timestamptz,
    msg_queue_timestamp_ms  bigint,
    source_system_id        text,
    current_train_id        text,
    revised_train_id        text,
    train_file_address      text,
    train_service_code      text,
    extra_fields            jsonb,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (train_id, event_timestamp_ms)
);
COMMENT ON TABLE rail.changes_of_identity IS 'TRUST 0007: trains given a new train_id';

CREATE TABLE rail.changes_of_location (
    train_id                text NOT NULL,
    event_timestamp         timestamptz NOT NULL,
    event_timestamp_ms      bigint NOT NULL,
    msg_type                text NOT NULL,
    source_dev_id           text,
    user_id                 text,
    original_data_source    text,
    msg_queue_timestamp     timestamptz,
    msg_queue_timestamp_ms  bigint,
    source_system_id        text,
    current_train_id        text,
    loc_stanox              text,
    dep_timestamp           timestamptz,
    dep_timestamp_ms        bigint,
    original_loc_stanox     text,
    original_loc_timestamp  timestamptz,
    original_loc_timestamp_ms bigint,
    train_file_address      text,
    train_service_code      text,
    extra_fields            jsonb,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (train_id, event_timestamp_ms)
);
COMMENT ON TABLE rail.changes_of_location IS 'TRUST 0008: trains calling at another location than scheduled';

-- SCHEDULE (CIF) -----------------------------------------------------------

CREATE TABLE rail.cif_headers (
    extract_timestamp       timestamptz NOT NULL,
    sequence                integer NOT NULL,
    metadata_type           text,
    classification          text,
    owner                   text,
    sender_organisation     text,
    sender_application      text,
    sender_component        text,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (extract_timestamp, sequence)
);
COMMENT ON TABLE rail.cif_headers IS 'JsonTimetableV1: the header of each SCHEDULE extract loaded';

CREATE TABLE rail.tiplocs (
    tiploc_code             text NOT NULL PRIMARY KEY,
    transaction_type        text,
    nalco                   text,
    stanox                  text,
    crs_code                text,
    description             text,
    tps_description         text,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX ON rail.tiplocs (stanox);
COMMENT ON TABLE rail.tiplocs IS 'TiplocV1: timing points of the SCHEDULE feed';

CREATE TABLE rail.associations (
    main_train_uid          text NOT NULL,
    assoc_train_uid         text NOT NULL,
    assoc_start_date        date NOT NULL,
    location                text NOT NULL,
    stp_indicator           text NOT NULL,
    transaction_type        text,
    assoc_end_date          date,
    assoc_days              text,
    category                text,
    date_indicator          text,
    base_location_suffix    text,
    assoc_location_suffix   text,
    diagram_type            text,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (main_train_uid, assoc_train_uid, assoc_start_date, location, stp_indicator)
);
COMMENT ON TABLE rail.associations IS 'JsonAssociationV1: joins, divides and next workings';

CREATE TABLE rail.schedules (
    schedule_key            text NOT NULL PRIMARY KEY,
    train_uid               text NOT NULL,
    schedule_start_date     date NOT NULL,
    stp_indicator           text NOT NULL,
    transaction_type        text,
    schedule_end_date       date,
    schedule_days_runs      text,
    bank_holiday_running    text,
    train_status            text,
    atoc_code               text,
    applicable_timetable    text,
    traction_class          text,
    uic_code                text,
    signalling_id           text,
    train_category          text,
    headcode                text,
    course_indicator        integer,
    train_service_code      text,
    business_sector         text,
    power_type              text,
    timing_load             text,
    speed                   integer,
    operating_characteristics text,
    train_class             text,
    sleepers                text,
    reservations            text,
    connection_indicator    text,
    catering_code           text,
    service_branding        text,
    -- derived: the talk's decodes, stops, origin and destination
    train_status_desc       text,
    power_type_desc         text,
    train_category_desc     text,
    seating_classes         text,
    sleeping_accommodation  text,
    reservations_desc       text,
    num_stops               integer NOT NULL DEFAULT 0,
    origin_tiploc           text,
    origin_departure        time,
    origin_public_departure time,
    origin_platform         text,
    destination_tiploc      text,
    destination_arrival     time,
    destination_public_arrival time,
    destination_platform    text,
    -- enrichment
    origin_name             text,
    origin_lat              double precision,
    origin_lon              double precision,
    destination_name        text,
    destination_lat         double precision,
    destination_lon         double precision,
    ingested_at             timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE rail.schedules IS
    'JsonScheduleV1: schedules keyed by uid/start_date/stp_indicator, decoded, with origin and destination';

CREATE TABLE rail.schedule_locations (
    schedule_key            text NOT NULL REFERENCES rail.schedules ON DELETE CASCADE,
    seq                     integer NOT NULL,
    location_type           text,
    record_identity         text,
    tiploc_code             text NOT NULL,
    tiploc_instance         text,
    arrival                 time,
    departure               time,
    pass                    time,
    public_arrival          time,
    public_departure        time,
    platform                text,
    line                    text,
    path                    text,
    engineering_allowance   text,
    pathing_allowance       text,
    performance_allowance   text,
    PRIMARY KEY (schedule_key, seq)
);
COMMENT ON TABLE rail.schedule_locations IS 'Calling points of each schedule, in running order (seq from 1)';

-- Reference data -----------------------------------------------------------

CREATE TABLE rail.locations (
    location_id             integer NOT NULL PRIMARY KEY,
    name                    text,
    description             text,
    tiploc                  text,
    crs                     text,
    nlc                     text,
    stanox                  text,
    notes                   text,
    longitude               double precision,
    latitude                double precision,
    is_off_network          boolean,
    timing_point_type       text
);
CREATE INDEX ON rail.locations (stanox);
CREATE INDEX ON rail.locations (tiploc);
CREATE INDEX ON rail.locations (crs);
COMMENT ON TABLE rail.locations IS
    'Location master (CORPUS codes with coordinates), loaded from ukrail_locations.csv through rail.locations_csv';

-- The CSV's twelve columns, as text: \copy into this view loads rail.locations.
CREATE VIEW rail.locations_csv AS
    SELECT location_id::text, name, description, tiploc, crs, nlc, stanox, notes,
           longitude::text, latitude::text, is_off_network::text AS "isOffNetwork",
           timing_point_type AS "timingPointType"
    FROM rail.locations;
COMMENT ON VIEW rail.locations_csv IS
    'Load target: \copy rail.locations_csv FROM ''ukrail_locations.csv'' WITH (FORMAT csv, HEADER)';

CREATE TABLE rail.tocs (
    toc_row                 integer NOT NULL PRIMARY KEY,
    company_name            text NOT NULL,
    business_code           text,
    sector_code             text,
    atoc_code               text,
    whitelisted             text,
    -- TRUST toc_id: the sector code without the table's footnote marks
    toc_id                  text GENERATED ALWAYS AS (substring(sector_code FROM '^[0-9]{2}')) STORED
);
CREATE INDEX ON rail.tocs (toc_id);
CREATE INDEX ON rail.tocs (atoc_code);
COMMENT ON TABLE rail.tocs IS
    'Train operating companies: business code (feed names), sector code (TRUST toc_id), ATOC code (CIF atoc_code)';

CREATE TABLE rail.cancellation_reasons (
    canx_reason_code        text NOT NULL PRIMARY KEY,
    canx_reason             text,
    canx_abbrev             text
);
COMMENT ON TABLE rail.cancellation_reasons IS 'Delay Attribution Guide reason codes, as in canx_reason_code.dat';

-- The feed tables hold the users' data: pg_dump must dump their rows.
SELECT pg_catalog.pg_extension_config_dump('rail.activations', '');
SELECT pg_catalog.pg_extension_config_dump('rail.cancellations', '');
SELECT pg_catalog.pg_extension_config_dump('rail.movements', '');
SELECT pg_catalog.pg_extension_config_dump('rail.reinstatements', '');
SELECT pg_catalog.pg_extension_config_dump('rail.changes_of_origin', '');
SELECT pg_catalog.pg_extension_config_dump('rail.changes_of_identity', '');
SELECT pg_catalog.pg_extension_config_dump('rail.changes_of_location', '');
SELECT pg_catalog.pg_extension_config_dump('rail.cif_headers', '');
SELECT pg_catalog.pg_extension_config_dump('rail.tiplocs', '');
SELECT pg_catalog.pg_extension_config_dump('rail.associations', '');
SELECT pg_catalog.pg_extension_config_dump('rail.schedules', '');
SELECT pg_catalog.pg_extension_config_dump('rail.schedule_locations', '');
SELECT pg_catalog.pg_extension_config_dump('rail.locations', '');
-- Generated by data/make_reference_sql.py from data/reference/; do not edit.

-- Open Rail Data wiki "TOC Codes" table, in its order (85 rows).
INSERT INTO rail.tocs (toc_row, company_name, business_code, sector_code, atoc_code, whitelisted) VALUES
(1, 'Virtual European Paths', 'EU', '?', 'EU', '?'),
(2, 'Alliance Rail', 'ZB', '14', 'AR', 'N'),
(3, 'Northern Trains', 'ED', '23', 'NT', 'Y'),
(4, 'Transport for Wales', 'HL', '71', 'AW', 'Y'),
(5, 'c2c', 'HT', '79', 'CC', 'Y'),
(6, 'Caledonian Sleeper', 'ES', '35', 'CS', 'Y'),
(7, 'Chiltern Railways', 'HO', '74', 'CH', 'Y'),
(8, 'CrossCountry', 'EH', '27', 'XC', 'Y'),
(9, 'DC Rail', 'PO', '34', 'ZZ', 'Y'),
(10, 'East Midlands Railway', 'EM', '28', 'EM', 'Y'),
(11, 'Eurostar', 'GA', '06', 'ES', 'Y'),
(12, 'Unmapped (was First Capital Connect)', 'EG', '26', 'FC', 'Y'),
(13, 'Hull Trains', 'PF', '55', 'HT', 'Y'),
(14, 'Unmapped (was Gatwick Express)', 'HV', '81', 'GX', 'Y'),
(15, 'GB Railfreight', 'PE', '54', 'ZZ', 'Y'),
(16, 'Govia Thameslink Railway (Great Northern)', 'ET', '88', 'GN', 'Y'),
(17, 'Govia Thameslink Railway (Thameslink)', 'ET', '88', 'TL', 'Y'),
(18, 'Grand Central', 'EC', '22', 'GC', 'Y'),
(19, 'Grand Central (North West)', 'LN', '14', 'GC[2]', 'Y'),
(20, 'Great Western Railway', 'EF', '25', 'GW', 'Y'),
(21, 'Greater Anglia', 'EB', '21', 'LE', 'Y'),
(22, 'Heathrow Connect', 'EE', '24', 'HC', 'Y'),
(23, 'Heathrow Express', 'HM', '86', 'HX', 'Y'),
(24, 'Island Lines', 'HZ', '85', 'IL', 'Y'),
(25, 'Locomotive Services', 'LS', '89', 'LS', 'N'),
(26, 'West Midlands Trains', 'EJ', '29', 'LM', 'Y'),
(27, 'London Overground', 'EK', '30', 'LO', 'Y'),
(28, 'LUL Bakerloo Line', 'XC', '91', 'LT', 'Y'),
(29, 'LUL District Line - Richmond', 'XE', '93', 'LT', 'Y'),
(30, 'LUL District Line - Wimbledon', 'XB', '90', 'LT', 'Y'),
(31, 'Merseyrail', 'HE', '64', 'ME', 'Y'),
(32, 'Network Rail (On-Track Machines)', 'LR', '15', 'LR', 'N'),
(33, 'Nexus (Tyne & Wear Metro)', 'PG', '56', 'TW', 'Y'),
(34, 'North Yorkshire Moors Railway', 'PR', '51', 'NY', 'Y'),
(35, 'ScotRail', 'HA', '60', 'SR', 'Y'),
(36, 'South Western Railway', 'HY', '84', 'SW', 'Y'),
(37, 'South Yorkshire Supertram', 'SJ', '19', 'SJ', 'Y'),
(38, 'Southeastern', 'HU', '80', 'SE', 'Y'),
(39, 'Southern', 'HW', '88', 'SN', 'Y'),
(40, 'Swanage Railway', 'SP', '18', 'SP', 'N'),
(41, 'Elizabeth line', 'EX', '33', 'XR', 'Y'),
(42, 'TransPennine Express', 'EA', '20', 'TP', 'Y'),
(43, 'Avanti West Coast', 'HF', '65', 'VT', 'Y'),
(44, 'London North Eastern Railway', 'HB', '61', 'GR', 'Y'),
(45, 'West Coast Railways', 'PA', '50', 'WR', 'Y'),
(46, 'JSD Rail Research & Development', 'RR', '02', 'ZZ', 'N'),
(47, 'Victa Westlink Rail (defunct)', 'PV', '03', 'ZZ', 'N'),
(48, 'DB Cargo Charters', 'FM', '04', 'ZZ', 'N'),
(49, 'DB Cargo Freight', 'WA', '05', 'ZZ', 'N'),
(50, 'Rail Operations Group', 'PH', '07', 'ZZ', 'N'),
(51, 'DB Cargo International', 'DA', '08', 'ZZ', 'N'),
(52, 'Freightliner Intermodal', 'DB', '09', 'ZZ', 'N'),
(53, 'Serco Rail Operations', 'SD', '10', 'ZZ', 'N'),
(54, 'Freightliner Heavy Haul', 'DH', '11', 'ZZ', 'N'),
(55, 'Freight Europe (defunct)', 'PN', '12', 'ZZ', 'N'),
(56, 'Europorte Channel', 'PT', '13', 'ZZ', 'N'),
(57, 'LORAM', 'LC', '16', 'ZZ', 'N'),
(58, 'Hanson & Hall Rail Services', 'YG', '17', 'ZZ', 'N'),
(59, 'Network Rail Virtual Freight Company', 'QJ', '31', 'ZZ', 'N'),
(60, 'Wrexham and Shropshire (defunct)', 'EI', '32', 'WS', 'Y'),
(61, 'Vintage Trains', 'TY', '36', 'TY', 'N'),
(62, 'Seco Rail (defunct)', 'RU', '37', 'ZZ', 'N'),
(63, 'Carillion Rail CTRL (Phase 1) (defunct)', 'RQ', '38', 'ZZ', 'N'),
(64, 'Harsco', 'RT', '39', 'ZZ', 'N'),
(65, 'Balfour Beatty Rail', 'RZ', '40', 'ZZ', 'N'),
(66, 'Unmapped', NULL, '41', NULL, 'N'),
(67, 'Colas Rail', 'RG', '42', 'ZZ', 'N'),
(68, 'Amey Fleet Services', 'RE', '43', 'ZZ', 'N'),
(69, 'Carillion Rail', 'RB', '44', 'ZZ', 'N'),
(70, 'Lumo', 'LD', '45', 'LD', 'N'),
(71, 'SB (Swietelsky Babcock) Rail', 'RD', '46', 'ZZ', 'N'),
(72, 'VolkerRail', 'RH', '49', 'ZZ', 'N'),
(73, 'Pre Metro Operations', 'PK', '52', 'ZZ', 'N'),
(74, 'SNCF Freight Services', 'PS', '53', 'ZZ', 'N'),
(75, 'Unmapped', NULL, '57', NULL, 'N'),
(76, 'Unmapped (was Advenza Freight)', 'PI', '58', 'ZZ', 'N'),
(77, 'On Route Logistics', 'PM', '59', 'ZZ', 'N'),
(78, 'SLC Operations', 'SO', '11[3]', 'SO', 'N'),
(79, 'Grand Union Trains', 'LF', '12', 'LF', '?'),
(80, 'Legge Infrastructure Services', 'LG', '72', 'ZZ', 'N'),
(81, 'Grand Central (North West)', 'LN', NULL, NULL, NULL),
(82, 'Network Rail Reserved Pathings (non-QJ)', 'NR', '92', 'ZZ', 'N'),
(83, 'Ffestiniog Railway', 'XJ', '94', NULL, 'Y'),
(84, 'Varamis Rail', 'MV', '95', NULL, 'N'),
(85, 'Direct Rail Services', 'XH', '97', 'ZZ', 'N');

-- Delay Attribution Guide reason codes, from the talk's canx_reason_code.dat.
INSERT INTO rail.cancellation_reasons (canx_reason_code, canx_reason, canx_abbrev) VALUES
('AA', 'Waiting acceptance into off Network Rail network Terminal or Yard', 'ACCEPTANCE'),
('AC', 'Waiting train preparation or completion of TOPS list/RT3973', 'TRAIN PREP'),
('AD', 'Off Network Rail network Terminal or Yard staff shortage including reactionary congestion caused by the shortage', 'WTG STAFF'),
('AE', 'Congestion in off Network Rail network Terminal or Yard', 'CONGESTION'),
('AG', 'Wagon load incident including adjusting loads or open door', 'LOAD INCDT'),
('AH', 'Customer or off Network Rail network yard equipment breakdown/reduced capacity', 'YARD EQUIP'),
('AJ', 'Waiting Customer''s traffic including release information and documentation', 'TRAF DOC'),
('AK', 'Safety incidents and mishaps (e.g. derailments, fire or chemical spill) in off Network Rail network freight yard or terminal (including private sidings, and stations – where it affects FOC services)', 'YARDSAFETY'),
('AX', 'Failure of off network infrastructure (FOC or private)', 'OFFNET INF'),
('AZ', 'Other Freight Operating Company cause, to be specified, in off Network Rail network terminals or yards', 'YARD OTHER'),
('DA', 'Non Technical Fleet Holding Code', 'HOLD NT FL'),
('DB', 'Train Operations Holding Code', 'HOLD T-OPS'),
('DC', 'Train Crew Causes Holding Code', 'HOLD T-CRW'),
('DD', 'Technical Fleet Holding Code', 'HOLD T FL'),
('DE', 'Station Causes Holding Code', 'HOLD STN'),
('DF', 'External Causes Holding Code', 'HOLD EXT'),
('DG', 'Freight Terminal and or Yard Holding Code', 'HOLD YARD'),
('DH', 'Adhesion and or Autumn Holding Code', 'HOLD AUTM'),
('FA', 'Dangerous goods incident', 'DANG GOODS'),
('FC', 'Freight Train Driver error, SPAD, Wrong routing or Missed AWS/DSD', 'FOC DRIVER'),
('FE', 'Train crew not available including after rest', 'NO T-CREW'),
('FF', 'FOC Diagramming or Rostering issue', 'FOC DIAG'),
('FG', 'Driver adhering to company professional driving standards or policy', 'PRO DRIVER'),
('FH', 'FOC Planning issue (not diagramming or rostering)', 'FOC PLAN'),
('FI', 'Delay due to incorrect ETCS system or equipment operation by Driver', 'ETCS DVR'),
('FJ', 'FOC Control decision or directive', 'FOC CONTRL'),
('FK', 'Train diverted or re-routed at FOC request', 'DIVERT REQ'),
('FL', 'Train cancelled at FOC request or planned not to run', 'CANCEL REQ'),
('FM', 'Tail lamp or head lamp out or incorrectly shown', 'LAMP ISSUE'),
('FO', 'Time lost en-route believed to be Operator cause and information required from Operator (Ops Responsibility)', 'LIR UNEX'),
('FS', 'Delay due to ETCS/ ERTMS on-board overriding driver command', 'ETCS O-RDE'),
('FW', 'Late start or yard overtime not explained by Train Operator', 'LATE START'),
('FX', 'Freight train running at lower class or speed than planned classification or overweight', 'TRAIN SPEC'),
('FZ', 'Other FOC causes incl. cause to be specified, including mishaps.', 'FOC OTHER'),
('IA', 'Signal failure (including no fault found)', 'SIGNAL FLR'),
('IB', 'Points failure (including no fault found)', 'POINTS FLR'),
('IC', 'Track circuit failure (including no fault found)', 'TC FAILURE'),
('ID', 'Level crossing faults and failure incl. barrow/foot crossings and crossing treadles', 'LEVEL XING'),
('IE', 'Signalling functional power supply failure', 'SIG FUNC PWR'),
('IF', 'Train Describer/Panel/ARS/SSI/TDM/Remote Control failure', 'PANEL FLR'),
('IG', 'Block failure', 'BLOCK FLR'),
('IH', 'Power supply and distribution system failure', 'PWR SUP DIS'),
('II', 'Signalling lineside cable fault', 'SIG CABLE'),
('IJ', 'AWS/ATP/TPWS/Train Stop/On-track equipment failure', 'AWS/ATP'),
('IK', 'Telecom equipment failure (including no fault found)', 'TELECOMS'),
('IL', 'Token equipment failure (including no fault found)', 'TOKEN FLR'),
('IM', 'Infrastructure Balise Failure (TASS / ETCS / ERTMS)', 'BALISE FLR'),
('IN', 'HABD/Panchex/WILD/Wheelchex fault, failure or mis-detection', 'HABD FAULT'),
('IP', 'Points failure caused by snow or frost where heaters are fitted but found to be not turned on, not operative or defective', 'POINT HEAT'),
('IQ', 'Trackside sign blown down, fallen over, missing, defective, mis-placed', 'TRACK SIGN'),
('IR', 'Broken/cracked/twisted/buckled/flawed rail', 'RAIL FLAW'),
('IS', 'Track defects (other than rail defects) inc. fish plates, wet beds etc.', 'TRACK FLT'),
('IT', 'Rough ride or bumps reported - cause not known or no fault found', 'TRACK NFF'),
('IV', 'Cutting or embankment earthslip, rock fall or subsidence (not the result of severe weather on the day of failure)', 'EARTHSLIP'),
('IW', 'Non severe weather - snow/ice/frost affecting infrastructure equipment', 'INF WEATHR'),
('I0', 'Telecom equipment legacy radio failure (RETB)', 'RETB FLR'),
('I1', 'Overhead line/3rd rail defect', 'OHL/3 RAIL'),
('I2', 'AC/DC trip (including no fault or cause found)', 'AC/DC TRIP'),
('I4', 'OHLE/3rd rail power supply failure or reduction', 'SUPPLY FLR'),
('I5', 'Possession over-run from planned work', 'OVERRUN'),
('I6', 'Delays as a result of line blocks / track patrols (including late handback)', 'LINE BLOCK'),
('I7', 'Engineer''s train late into, from or failed in possession', 'ENGNRS TRN'),
('I8', 'Animal Strike or Incursion within the control of Network Rail', 'ANIMAL'),
('I9', 'Fires starting on Network Rail Infrastructure', 'INFRA FIRE'),
('JA', 'TSR speed restrictions for track work outside of the Timetable Planning Rules', 'TSRNOT EAS'),
('JB', 'Reactionary Delay to ‘P’ coded TSR', 'TSR REACTN'),
('JD', 'Structures - Bridges/tunnels/buildings/retaining walls/sea defences (not bridge strikes)', 'STRUCTURES'),
('JF', 'Off track asset defects or issues on the Network Rail network including fencing, gates, walkways, lighting (not due to vandalism or weather or where the asset is part of the station infrastructure)', 'OFFTRK ASS'),
('JG', 'ESR/TSR due to works not completed or cancelled possession (where restriction did not exist prior to possession)', 'ESR/TSR'),
('JH', 'Critical Rail Temperature speeds, (other than buckled rails)', 'HEAT SPEED'),
('JK', 'Flooding not due to exceptional weather', 'FLOODING'),
('JL', 'Safety related incident caused by maintenance or infrastructure staff oversight or error (not Operations staff)', 'SAFETY INF'),
('JP', 'Failure to maintain vegetation within network boundaries in accordance with prevailing Network Rail standards, including where signals areobscured and a train strikes branches.', 'VEGETATION'),
('JR', 'Delay due to RBC issues affecting ETCS / ATO operation (not balise related)', 'RBC ETCS'),
('JS', 'Condition of Track TSR outside the Timetable Planning Rules', 'TRACK COND'),
('JT', 'Points failure caused by snow or frost where heaters are not fitted.', 'NO PNT HTR'),
('JX', 'Miscellaneous items (including litter) causing obstructions, not the result of trespass, vandalism, weather or fallen/thrown from trains', 'MISC OBJCT'),
('J0', 'Telecom equipment radio failure (GSM-R)', 'GSM-R FLR'),
('J2', 'Network Rail train dispatch equipment failure (including no fault found but excluding telecoms equipment)', 'TRTS FLR'),
('J3', 'Axle Counter Failure', 'AXLE C FLR'),
('J4', 'Infrastructure Safety Issue Reported by Member of the Public – No Fault Found', 'MOP NFF'),
('J5', 'Infrastructure Asset Fault Reported but Proven to be mistaken', 'MIS REPORT'),
('J6', 'Lightning strike against unprotected assets', 'LIGHTNING'),
('J7', 'ETCS/ ERTMS Equipment Failure (excluding communications link and balises)', 'ETCS FLR'),
('J8', 'Damage to infrastructure caused by on-track machine whilst operating in a possession', 'OTM DAMAGE'),
('J9', 'Preventative Maintenance to the infrastructure in response to a Remote Condition Monitoring Alert', 'RCM ALERT'),
('MB', 'Electric loco failure, defect, attention.', 'ELEC LOCO'),
('MC', 'Diesel loco failure, defect, attention.', 'DIESL LOCO'),
('MD', 'Other technical failures below the solebar', 'BELOW SBAR'),
('ME', 'Steam locomotive failure/defect/attention', 'STEAM LOCO'),
('ML', 'Wagons, coaches and parcel vehicle faults', 'WAGN/COACH'),
('MN', 'Brake and brake systemsfaults; including wheel flats where no other cause had been identified', 'BRAKE/WHLS'),
('MP', 'Rail/ wheel interface, adhesion problems (including ice on the running rail)', 'ADHESION'),
('MR', 'Sanders and scrubber faults', 'SANDER'),
('MS', 'Planned underpowered or shortformed service and or vehicle, incl. exam set swaps', 'ALOC STOCK'),
('MT', 'Confirmed train borne safety system faults (not cab based)', 'SYST FAULT'),
('MU', 'Depot operating problem', 'DEPOT OPS'),
('MV', 'Engineer’s on-track equipment failure outside possession', 'ON-TRACK'),
('MW', 'Weather - effect on T&RS equipment', 'WEATHR FLT'),
('MY', 'Coupler and Coupler system faults', 'COUPLER'),
('M1', 'Confirmed Pantograph ADD, shoe beam or associated system faults Incl. positive PANCHEX activations', 'PANTO/SHOE'),
('M2', 'Delay due to ATO / ETCS equipment', 'ETCS'),
('M7', 'Door and Door system faults', 'DOORS'),
('M8', 'Other technical failures above the Solebar', 'ABOVE SBAR'),
('M9', 'Reported fleet equipment defect - no fault found', 'FLEET NFF'),
('M0', 'Confirmed train cab based safety system fault (including GSM-R)', 'CAB SAFETY'),
('NA', 'On-train TASS/TILT failure', 'TASS/TILT'),
('OA', 'Regulation decision made with best endeavours', 'ENDVR REG'),
('OB', 'Delayed by signaller not applying applicable regulating policy', 'REGULATION'),
('OC', 'Signaller including mis-routing (not ERTM /ETCS related)', 'SIGNALLER'),
('OD', 'Delayed as a result of Route Control decision or directive', 'NR CONTROL'),
('OE', 'Failure to lay Sandite or operate Railhead Conditioning train as programmed', 'RHC PROG'),
('OF', 'Delay due to incorrect ETCS system or equipment operation by Signaller / Controller', 'ETCS CTRL'),
('OG', 'Ice on conductor rail/OHLE', 'ICING'),
('OH', 'ARS / TMS / SARS software problem (excluding scheduling issues and technical failures)', 'ARS / TMS'),
('OJ', 'Fire in station building or on platform, affecting operators not booked to call at that station', 'STN FIRE'),
('OK', 'Delay caused by Operating staff oversight, issues or absence (excluding signallers and Control)', 'OPTG STAFF'),
('OL', 'Signal Box not open during booked hours', 'BOX CLOSED'),
('OM', 'Technical failure associated with a Railhead Conditioning train', 'RHC FAIL'),
('ON', 'Delays not properly investigated by Network Rail', 'MIS-INVEST'),
('OQ', 'Incorrect Simplifier (where produced by Ops staff)', 'SIMPLIFIER'),
('OS', 'Late start or delays to Railhead Conditioning (RHC) or Ghost Train due to its own activity and not in reaction to another incident.', 'RHC LATE'),
('OT', 'Operational Safety TSR implemented for sighting issues relating to foot crossings, level crossings or signals (Not vegetation caused)', 'SIGHT TSR'),
('OU', 'Delays not investigated by Network Rail', 'NOT INVEST'),
('OV', 'Fire or evacuation due to fire alarm of Network Rail buildings other than stations not due to vandalism', 'NR FIRE'),
('OW', 'Connections held where the Prime Incident causing delay to the incoming train is a FOC responsibility incident and the next departing service is scheduled to depart less than 60 minutes later than the train being held.', 'FOC CONECT'),
('OZ', 'Other Network Rail Operating causes', 'OPTG OTHER'),
('PA', 'Published TSR associated with Planned Engineering Works where time loss is within Engineering Allowance', 'PLANND ENG'),
('PB', 'Published TSR due to condition of asset (not associated with Engineering Work) where time loss is within Engineering Allowance', 'PLANND CON'),
('PD', 'System generated cancellation (NOT to be attributed to manually)', 'SYSTM CANC'),
('PF', 'Planned engineering work where a published diversion/SLW is not provided for in the schedule but where time loss is within Engineering Allowance', 'DIVRSN SLW'),
('PG', 'Planned cancellation where that cancellation isidentified and agreed prior to 22.00 the day before the schedule runs', 'PLAND CAPE'),
('PJ', 'Cancellation of a duplicate or erroneous schedule or an identified duplicate, false or erroneous delay (NOT berth off set related)', 'DUPLICATE'),
('PL', 'Exclusion commercially agreed and documented between Network Rail and Train Operator', 'AGREED EXC'),
('PN', 'VSTP service delays of under 5 minutes caused by regulation and or time lost in running (VSTP Schedule delay ONLY where that delay causes no reactionary delay)', 'VSTP DELAY'),
('PT', 'Authorised TRUST reporting anomalies or inaccuraciesrelating to berth off sets', 'TRUST ANOM'),
('QA', 'WTT Schedule and or LTP process including incorrect simplifiers (where produced by Capacity Planning).', 'WTT SCHED'),
('QB', 'Planned engineering work- diversion/SLW not timetabled (outside the Timetable Planning Rules.)', 'DIVRSN/SLW'),
('QH', 'Adhesion problems due to leaf contamination', 'RAILCONTAM'),
('QI', 'Cautioning due to railhead leaf contamination', 'CAUTCONTAM'),
('QJ', 'Special working for leaf-fall track circuit operation', 'LEAVES T/C'),
('QM', 'Train Schedule VAR/STP process including incorrect simplifiers (where produced by Capacity Planning).', 'STP SCHED'),
('QN', 'VSTP schedule / VSTP process (TSI created schedule)', 'VSTP SCHED'),
('QP', 'Reactionary Delay to “P” coded Possession', 'PLND REACT'),
('QT', 'Delay accepted by Network Rail as part of a commercial agreement where no substantive delay reason is identified', 'COMMERCIAL'),
('RB', 'Passengers joining/alighting', 'PASSENGERS'),
('RC', 'Pre-booked assistance for a person with reduced mobility joining/alighting', 'BKD ASSIST'),
('RD', 'Attaching/detaching/Shunter/watering', 'ATT/DETACH'),
('RE', 'Lift/escalator defect/failure', 'LIFT/ESC'),
('RH', 'Station evacuated due to fire alarm', 'FIRE ALARM'),
('RI', 'Waiting connections - not authorised by TOC Control', 'UNAUTH CON'),
('RJ', 'Special Stop Orders - not authorised by TOC Control', 'UNAUTH SSO'),
('RK', 'Waiting passenger connections authorised by TOC but out with TOC/Network Rail connection policy', 'AUTH CON'),
('RL', 'Special Stop Orders authorised by TOC Control (including any delay at point of issue)', 'AUTH SSO'),
('RM', 'Waiting connections from other transport modes', 'XTNL CONN'),
('RO', 'Passengers taken ill on platform', 'PASS ILL'),
('RP', 'Passenger dropped object whilst boarding/alighting from train and train delayed at TOC request', 'PASS DROP'),
('RQ', 'Un-booked assistance for a person with reduced mobility joining/alighting', 'UBKD ASST'),
('RR', 'Loading or unloading reserved bicycles', 'BIKE RSVD'),
('RS', 'Loading or unloading unreserved bicycles', 'BIKE URSVD'),
('RT', 'Loading excessive luggage', 'EXCES LUGG'),
('RU', 'Locating lost luggage', 'LOST LUGG'),
('RV', 'Customer Information System failure', 'PASS INFO'),
('RW', 'Station flooding (including issues with drains) not the result of weather, where the water has not emanated from Network Rail maintained infrastructure/network', 'STN FLOOD'),
('RX', 'Station delays as a result of overcrowding due to unplanned events or incidents (e.g result of line or station closure) where causal event is not determined.', 'UNPL EVENT'),
('RY', 'Mishap - Station operating causes', 'STN MISHAP'),
('RZ', 'Other Station operating causes', 'STN OTHER'),
('R1', 'Incorrect train dispatch by station staff', 'DISPATCH'),
('R2', 'Late TRTS given by station staff', 'LATE TRTS'),
('R3', 'Station staff unavailable - missing or uncovered', 'STAFF MSNG'),
('R4', 'Station staff split responsibility - unable to cover all duties', 'STAFF DUTY'),
('R5', 'Station staff error - e.g. wrong announcements, misdirection', 'STAFF ERR'),
('R7', 'Station delays as a result of overcrowding due to planned events(e.g.sports fixtures, concerts)', 'PLND EVENT'),
('R8', 'Delay at Station believed to be Operator cause and information required from Operator (Station Responsibility)', 'STN UNEX'),
('TA', 'Train-crew/loco/stock/unit diagram issues', 'DIAG ISSUE'),
('TB', 'Train cancelled or delayed at Train Operator’s request', 'TOC REQEST'),
('TF', 'Seat reservation problems', 'SEAT RESVN'),
('TG', 'Driver', 'TOC DRIVER'),
('TH', '(Senior) Conductor/Train Manager', 'T-MGR/COND'),
('TI', 'Train-crew rostering problem', 'ROSTERING'),
('TJ', 'Tail lamp or headlamp missing, not lit or wrongly displayed', 'LAMP ISSUE'),
('TK', 'Train catering staff (including Contractors)', 'CATERING'),
('TM', 'Connection authorised by TOC but out with connection policy', 'AUTH CONN'),
('TN', 'Late presentation from the continent', 'LATE CHUNL'),
('TO', 'Time lost en-route believed to be Operator cause and information required from Operator (Ops Responsibility)', 'LIR UNEX'),
('TP', 'Special Stop Orders', 'AUTH SSO'),
('TR', 'Train Operating Company Directive', 'TOC DIRECT'),
('TS', 'Delay due to incorrect ETCS system or equipment operation by Driver', 'ETCS DVR'),
('TT', 'Autumn-attribution Neutral Zone delays (See Supplementary Autumn Attribution Guidance)', 'LF NEUTRAL'),
('TW', 'Driver adhering to company professional driving standards or policy', 'PRO DRIVER'),
('TX', 'Delays incurred on non-Network Rail running lines or networks including London Underground (except fleet related delays)', 'OTH NETWK'),
('TY', 'Mishap-Train Operating Company cause', 'TOC MISHAP'),
('TZ', 'Other Passenger Train Operating Company causes', 'TOC OTHER'),
('T2', 'Delay at unstaffed station to non-DOO train', 'NONDOO STN'),
('T3', 'Waiting connections from other transport modes', 'XTNL CONN'),
('T4', 'Loading Supplies (including catering)', 'SUPPLIES'),
('T8', 'Delay at Station believed to be Operator cause and information required from Operator ( Ops Responsibility)', 'STN UNEX'),
('VA', 'Disorder, drunks or trespass', 'DISORDER'),
('VB', 'Vandalism and or theft', 'VANDALISM'),
('VC', 'Fatalities and or injuries sustained whilst on a platform as the result of being struck by a train or falling from a train', 'FATALITIES'),
('VD', 'Passenger taken ill on train', 'ILL PASS'),
('VE', 'Ticket irregularities or refusals to pay', 'TICKET IRR'),
('VF', 'Fire caused by vandalism', 'VANDL FIRE'),
('VG', 'Police searching train', 'POLICE-TRN'),
('VH', 'Passenger Communication cord, door egress or emergency train alarm operated', 'PASS COMM'),
('VI', 'Security alert affecting stations and depots', 'SEC ALERT'),
('VR', 'Driver adhering to company professional driving standards or policies during severe weather conditions that are not fleet related', 'PRO DRIVER'),
('VW', 'Severe weather affecting passenger fleet equipment including following company standards/policies or Rule Book instructions', 'SEV WEATHR'),
('VX', 'External events occurring on the LUL or other non NR running lines', 'LUL CAUSES'),
('VZ', 'Other passenger or external causes the responsibility of TOC', 'EXT OTHER'),
('V8', 'Train striking or being struck by a bird', 'BIRDSTRIKE'),
('XA', 'Trespass (Including non-intentional)', 'TRESPASS'),
('XB', 'Vandalism or theft (including the placing of objects on the line)', 'VANDALS'),
('XC', 'Fatalities or injuries caused by being hit by train (Including non-intentional)', 'FATALITIES'),
('XD', 'Level Crossing Incidents including misuse and emergency services being prioritised over rail services.', 'XING INCDT'),
('XF', 'Police searching the line', 'POLICE-RLY'),
('XH', 'Severe heat affecting infrastructure the responsibility of Network Rail (excluding Heat related speed restrictions)', 'SEV HEAT'),
('XI', 'Security alert affecting the Network Rail Network (including line blocks taken for emergency services attending an off Network Rail network incident)', 'SEC ALERT'),
('XK', 'External Power Supply Failure Network Rail Infrastructure', 'EXTL POWER'),
('XL', 'Fire external to but directly affecting the Network Rail network (including line blocks taken for emergency services attending an incident not directly affecting the Network Rail network)', 'EXTL FIRES'),
('XM', 'Gas/water mains/overhead power lines', 'GAS/WATER'),
('XN', 'Road related - excl bridge strikes/level crossing incident', 'ROAD INCDT'),
('XO', 'External trees, building or structures encroaching or falling onto Network Rail network infrastructure (not due to weather or vandalism) also including aircraft and airport safety or operational related incidents.', 'EXT OBJECT'),
('XP', 'Bridge Strike', 'BRIDGE HIT'),
('XQ', 'Swing bridge open for river or canal traffic', 'BRIDGE OPN'),
('XR', 'Cable vandalism or theft', 'CABLE VAND'),
('XT', 'Severe snow or ice affecting infrastructure which is the responsibility of Network Rail (including implementation of Key Route Strategy)', 'SEV SNOW'),
('XU', 'Sunlight on signal or dispatch equipment where all reasonable mitigation has been taken', 'SUN OBSCUR'),
('XV', 'Fire or evacuation due to fire alarm of Network Rail buildings due to vandalism (not including stations)', 'VANDL FIRE'),
('XW', 'High winds affecting infrastructure the responsibility of Network Rail including objects on the line due to the effect of weather', 'HIGH WIND'),
('X1', 'Visibility in semaphore signalled areas, orspecial working for fog and falling snow implemented by Network Rail – in all signalling areas (including special working for level crossing visibility)', 'SPL WRKING'),
('X2', 'Severe flooding beyond that which could be mitigated on Network Rail infrastructure', 'SEV FLOOD'),
('X3', 'Lightning Strike – damage to protected systems.', 'LIGHTNING'),
('X4', 'Blanket speed restriction or Key Route Strategy implemented for extreme heat or high winds (not snow) in accordance with the Group Standards', 'KRS / BLKT'),
('X8', 'Animal Strike or incursion not within the control of Network Rail', 'EXT ANIMAL'),
('X9', 'Points failure caused by severe snow or ice where heaters are fitted and working as designed', 'PNTS SNOW'),
('YA', 'Lost path - regulated for train running less late', 'REG-ONTIME'),
('YB', 'Lost path - regulated for another later running train', 'REG-LATE'),
('YC', 'Lost path - following train running less late', 'FOL-ONTIME'),
('YD', 'Lost path - following another later running train', 'FOL-LATE'),
('YE', 'Waiting path onto/from single line', 'WTG S/LINE'),
('YG', 'Regulated in accordance with Regulation Policy', 'REG INSTRC'),
('YI', 'Late arrival of booked inward stock (inward and outward trains are operated under the same Track Access Contract)', 'INWD STOCK'),
('YJ', 'Late arrival of booked inward train-crew (where the inward and outward trains worked by that train-crew are operated under the same Track Access Contract)', 'INWD CREW'),
('YL', 'Waiting passenger connections within connections policy, contingency plan or otherwise agreed by NR/TOC', 'AUTHSD CON'),
('YM', 'Special stop orders within the contingency plan or agreed by NR/TOC', 'AUTHSD SSO'),
('YN', 'Service Recovery- booked train crew, not available', 'FIND CREW'),
('YO', 'Waiting platform/station congestion/platform alteration', 'PLATFORM'),
('YP', 'Delays due to diversions from booked route or line', 'DIVERSION'),
('YQ', 'Passenger overcrowding caused by a train being of short-formation', 'SHRT FRMD'),
('YR', 'Tactical cancellation for service recovery not caused by late running', 'SR CNCL'),
('YU', 'Service Recovery- booked rolling stock, not available', 'UNIT SWAPS'),
('YT', 'Reactionary delay to a train that is not leaving the network, by a train that is leaving the network', 'NON NR INF'),
('YX', 'Passenger overcrowding caused by delay or cancellation of another train or its own late running', 'OVER CRWD'),
('ZS', 'No cause ascertainable for a Sub Threshold Delay causing Threshold Reactionary (where agreed by both Parties)', 'NOCAUSE AS'),
('ZU', 'No Cause Identified After Full Investigation by Both Parties (A ‘Full Investigation’ will be one including all avenues of investigation agreed as reasonable by both Parties)', 'NOCAUSE ID'),
('ZW', 'Uninvestigated Cancellations System Roll-Ups only', 'SYS CANC'),
('ZX', 'Uninvestigated Late Start System Roll-Ups only', 'SYS L-STRT'),
('ZY', 'Uninvestigated Station Overtime System Roll-Up only', 'SYS OTIME'),
('ZZ', 'Uninvestigated Loss in Running System Roll-Up only', 'SYS LIR');

-- Enrichment: the talk's stream-table joins, done at insert time -----------
--
-- BEFORE INSERT OR UPDATE triggers look up what the talk joins in ksqlDB:
-- a movement's location (by STANOX), TOC, activation (by train_id) and
-- schedule (by the activation's schedule key); a cancellation's reason and
-- location; an activation's origin; a schedule's origin and destination
-- names.  A movement whose activation is unknown gets the talk's marker
-- 'no_schedule_activation_found'.

-- The operator name of each TRUST toc_id (sector code).  Several rows of the
-- TOC table can share a sector code; the whitelisted ones win, and their names
-- are joined.  Sector 88 is one operator, Govia Thameslink Railway, which runs
-- Great Northern, Thameslink and Southern.  Users may correct names here.
CREATE TABLE rail.toc_sectors (
    toc_id      text NOT NULL PRIMARY KEY,
    toc_name    text NOT NULL
);
COMMENT ON TABLE rail.toc_sectors IS 'The name shown for each TRUST toc_id (sector code)';
INSERT INTO rail.toc_sectors (toc_id, toc_name)
SELECT x.toc_id, string_agg(x.company_name, ' / ' ORDER BY x.toc_row)
FROM (SELECT t.toc_id, t.company_name, t.toc_row,
             rank() OVER (PARTITION BY t.toc_id
                          ORDER BY t.whitelisted = 'Y' DESC NULLS LAST) AS preference
      FROM rail.tocs t WHERE t.toc_id IS NOT NULL) x
WHERE x.preference = 1
GROUP BY x.toc_id;
UPDATE rail.toc_sectors SET toc_name = 'Govia Thameslink Railway' WHERE toc_id = '88';

-- The talk's TOC decode, for every operator: unknown codes read as
-- '<unknown TOC code: NN>'.
CREATE FUNCTION rail_stream.toc_name(toc_id text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(
        (SELECT s.toc_name FROM rail.toc_sectors s
         WHERE s.toc_id OPERATOR(pg_catalog.=) toc_name.toc_id),
        '<unknown TOC code: ' OPERATOR(pg_catalog.||) toc_name.toc_id
            OPERATOR(pg_catalog.||) '>');
END;
COMMENT ON FUNCTION rail_stream.toc_name(text) IS
    'Operator name for a TRUST toc_id (sector code), from rail.toc_sectors';

-- One location per STANOX for lookups: many TIPLOCs share a STANOX, so the
-- station (with a CRS code) wins, then a located row, then the lowest id.
CREATE VIEW rail.locations_by_stanox AS
    SELECT DISTINCT ON (l.stanox)
           l.stanox, l.tiploc, l.crs,
           coalesce(nullif(l.name, ''), l.description) AS name,
           l.latitude, l.longitude, l.location_id
    FROM rail.locations l
    WHERE l.stanox IS NOT NULL
    ORDER BY l.stanox, l.crs IS NULL, l.latitude IS NULL, l.location_id;
COMMENT ON VIEW rail.locations_by_stanox IS 'One location per STANOX, as used by the enrichment triggers';

CREATE FUNCTION rail._location_by_stanox(stanox text,
    OUT tiploc text, OUT crs text, OUT name text,
    OUT latitude double precision, OUT longitude double precision)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT l.tiploc, l.crs, coalesce(nullif(l.name, ''), l.description),
           l.latitude, l.longitude
    FROM rail.locations l
    WHERE l.stanox OPERATOR(pg_catalog.=) _location_by_stanox.stanox
    ORDER BY l.crs IS NULL, l.latitude IS NULL, l.location_id
    LIMIT 1;
END;

-- A TIPLOC's name and position: the location master (its station row first,
-- as for STANOX), else the CIF TIPLOC.
CREATE FUNCTION rail._location_by_tiploc(tiploc text,
    OUT name text, OUT latitude double precision, OUT longitude double precision)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(
               (SELECT coalesce(nullif(l.name, ''), l.description) FROM rail.locations l
                WHERE l.tiploc OPERATOR(pg_catalog.=) _location_by_tiploc.tiploc
                ORDER BY l.crs IS NULL, l.latitude IS NULL, l.location_id LIMIT 1),
               (SELECT t.tps_description FROM rail.tiplocs t
                WHERE t.tiploc_code OPERATOR(pg_catalog.=) _location_by_tiploc.tiploc)),
           l2.latitude, l2.longitude
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (SELECT l.latitude, l.longitude FROM rail.locations l
                       WHERE l.tiploc OPERATOR(pg_catalog.=) _location_by_tiploc.tiploc
                       ORDER BY l.crs IS NULL, l.latitude IS NULL, l.location_id
                       LIMIT 1) l2 ON true;
END;

CREATE FUNCTION rail._enrich_movement() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    loc record;
    act record;
    sch record;
BEGIN
    SELECT * INTO loc FROM rail._location_by_stanox(NEW.loc_stanox);
    NEW.loc_name := loc.name;
    NEW.loc_tiploc := loc.tiploc;
    NEW.loc_crs := loc.crs;
    NEW.loc_lat := loc.latitude;
    NEW.loc_lon := loc.longitude;
    NEW.toc_name := rail_stream.toc_name(NEW.toc_id);

    SELECT a.schedule_key, a.train_uid INTO act
    FROM rail.activations a WHERE a.train_id = NEW.train_id;
    NEW.schedule_key := coalesce(act.schedule_key, 'no_schedule_activation_found');
    NEW.train_uid := act.train_uid;

    SELECT s.power_type_desc, s.train_category_desc, s.num_stops,
           s.origin_tiploc, s.origin_name, s.origin_public_departure,
           s.destination_tiploc, s.destination_name, s.destination_public_arrival
    INTO sch
    FROM rail.schedules s WHERE s.schedule_key = act.schedule_key;
    NEW.power_type := sch.power_type_desc;
    NEW.train_category := sch.train_category_desc;
    NEW.schedule_num_stops := sch.num_stops;
    NEW.origin_tiploc := sch.origin_tiploc;
    NEW.origin_name := sch.origin_name;
    NEW.origin_public_departure := sch.origin_public_departure;
    NEW.destination_tiploc := sch.destination_tiploc;
    NEW.destination_name := sch.destination_name;
    NEW.destination_public_arrival := sch.destination_public_arrival;
    RETURN NEW;
END;
$$;

CREATE TRIGGER enrich BEFORE INSERT OR UPDATE ON rail.movements
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_movement();

CREATE FUNCTION rail._enrich_cancellation() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    loc record;
BEGIN
    SELECT * INTO loc FROM rail._location_by_stanox(NEW.loc_stanox);
    NEW.loc_name := loc.name;
    NEW.loc_tiploc := loc.tiploc;
    NEW.loc_lat := loc.latitude;
    NEW.loc_lon := loc.longitude;
    NEW.toc_name := rail_stream.toc_name(NEW.toc_id);
    SELECT r.canx_reason, r.canx_abbrev INTO NEW.canx_reason, NEW.canx_abbrev
    FROM rail.cancellation_reasons r WHERE r.canx_reason_code = NEW.canx_reason_code;
    SELECT a.schedule_key, a.train_uid INTO NEW.schedule_key, NEW.train_uid
    FROM rail.activations a WHERE a.train_id = NEW.train_id;
    RETURN NEW;
END;
$$;

CREATE TRIGGER enrich BEFORE INSERT OR UPDATE ON rail.cancellations
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_cancellation();

CREATE FUNCTION rail._enrich_activation() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    loc record;
BEGIN
    SELECT * INTO loc FROM rail._location_by_stanox(NEW.sched_origin_stanox);
    NEW.sched_origin_name := loc.name;
    NEW.sched_origin_tiploc := loc.tiploc;
    NEW.sched_origin_lat := loc.latitude;
    NEW.sched_origin_lon := loc.longitude;
    NEW.toc_name := rail_stream.toc_name(NEW.toc_id);
    RETURN NEW;
END;
$$;

CREATE TRIGGER enrich BEFORE INSERT OR UPDATE ON rail.activations
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_activation();

CREATE FUNCTION rail._enrich_schedule() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT l.name, l.latitude, l.longitude
    INTO NEW.origin_name, NEW.origin_lat, NEW.origin_lon
    FROM rail._location_by_tiploc(NEW.origin_tiploc) l;
    SELECT l.name, l.latitude, l.longitude
    INTO NEW.destination_name, NEW.destination_lat, NEW.destination_lon
    FROM rail._location_by_tiploc(NEW.destination_tiploc) l;
    RETURN NEW;
END;
$$;

CREATE TRIGGER enrich BEFORE INSERT OR UPDATE ON rail.schedules
    FOR EACH ROW EXECUTE FUNCTION rail._enrich_schedule();

-- rail.locations_csv: each CSV row becomes a location; the file's literal
-- "null" and empty fields become NULL.
CREATE FUNCTION rail._load_location_csv() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO rail.locations AS l
    SELECT v.location_id::integer, v.name, v.description, v.tiploc, v.crs, v.nlc,
           v.stanox, v.notes, v.longitude::double precision,
           v.latitude::double precision, v.is_off_network::boolean,
           v.timing_point_type
    FROM (SELECT nullif(nullif(NEW.location_id, 'null'), '') AS location_id,
                 nullif(nullif(NEW.name, 'null'), '') AS name,
                 nullif(nullif(NEW.description, 'null'), '') AS description,
                 nullif(nullif(NEW.tiploc, 'null'), '') AS tiploc,
                 nullif(nullif(NEW.crs, 'null'), '') AS crs,
                 nullif(nullif(NEW.nlc, 'null'), '') AS nlc,
                 nullif(nullif(NEW.stanox, 'null'), '') AS stanox,
                 nullif(nullif(NEW.notes, 'null'), '') AS notes,
                 nullif(nullif(NEW.longitude, 'null'), '') AS longitude,
                 nullif(nullif(NEW.latitude, 'null'), '') AS latitude,
                 nullif(nullif(NEW."isOffNetwork", 'null'), '') AS is_off_network,
                 nullif(nullif(NEW."timingPointType", 'null'), '') AS timing_point_type) v
    ON CONFLICT (location_id) DO UPDATE
        SET name = EXCLUDED.name, description = EXCLUDED.description,
            tiploc = EXCLUDED.tiploc, crs = EXCLUDED.crs, nlc = EXCLUDED.nlc,
            stanox = EXCLUDED.stanox, notes = EXCLUDED.notes,
            longitude = EXCLUDED.longitude, latitude = EXCLUDED.latitude,
            is_off_network = EXCLUDED.is_off_network,
            timing_point_type = EXCLUDED.timing_point_type;
    RETURN NEW;
END;
$$;

CREATE TRIGGER load INSTEAD OF INSERT ON rail.locations_csv
    FOR EACH ROW EXECUTE FUNCTION rail._load_location_csv();

-- Daily punctuality, exactly once ------------------------------------------
--
-- Movements per UK calendar day (of actual_timestamp), TOC and variation
-- status, kept by a trigger in the transaction that writes the movement: a
-- movement counts once however often it is re-sent, and a correction that
-- changes its status or day moves its count.  This is the talk's
-- TOC_VARIATION_STATS_DAILY tumbling window, maintained incrementally.

CREATE TABLE rail.daily_movement_counts (
    day                 date NOT NULL,
    toc_id              text,
    variation_status    text,
    movements           bigint NOT NULL,
    CONSTRAINT daily_movement_counts_key
        UNIQUE NULLS NOT DISTINCT (day, toc_id, variation_status)
);
COMMENT ON TABLE rail.daily_movement_counts IS
    'Movements per UK day, toc_id and variation_status, maintained with rail.movements';
SELECT pg_catalog.pg_extension_config_dump('rail.daily_movement_counts', '');

-- SECURITY DEFINER: a subscription's owner writes movements, not counts.
CREATE FUNCTION rail._count_movements() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_day date;
    new_day date;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_day := (OLD.actual_timestamp AT TIME ZONE 'Europe/London')::date;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_day := (NEW.actual_timestamp AT TIME ZONE 'Europe/London')::date;
    END IF;
    IF TG_OP = 'UPDATE'
       AND old_day IS NOT DISTINCT FROM new_day
       AND OLD.toc_id IS NOT DISTINCT FROM NEW.toc_id
       AND OLD.variation_status IS NOT DISTINCT FROM NEW.variation_status THEN
        RETURN NULL;
    END IF;
    IF old_day IS NOT NULL THEN
        UPDATE rail.daily_movement_counts c SET movements = c.movements - 1
        WHERE c.day = old_day AND c.toc_id IS NOT DISTINCT FROM OLD.toc_id
          AND c.variation_status IS NOT DISTINCT FROM OLD.variation_status;
        DELETE FROM rail.daily_movement_counts c
        WHERE c.day = old_day AND c.toc_id IS NOT DISTINCT FROM OLD.toc_id
          AND c.variation_status IS NOT DISTINCT FROM OLD.variation_status
          AND c.movements = 0;
    END IF;
    IF new_day IS NOT NULL THEN
        INSERT INTO rail.daily_movement_counts AS c (day, toc_id, variation_status, movements)
        VALUES (new_day, NEW.toc_id, NEW.variation_status, 1)
        ON CONFLICT ON CONSTRAINT daily_movement_counts_key
        DO UPDATE SET movements = c.movements + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER count_daily AFTER INSERT OR UPDATE OR DELETE ON rail.movements
    FOR EACH ROW EXECUTE FUNCTION rail._count_movements();

-- The counts with TOC names, one row per day, status and TOC.
CREATE VIEW rail.daily_punctuality_by_toc AS
    SELECT c.day, c.variation_status, c.toc_id,
           rail_stream.toc_name(c.toc_id) AS toc_name, c.movements
    FROM rail.daily_movement_counts c;
COMMENT ON VIEW rail.daily_punctuality_by_toc IS
    'Daily movement counts per variation status and TOC, one row each';

-- create_punctuality_view(view, toc_ids): the talk's table, a row per day
-- and variation status and a column per TOC (named after it), for any TOCs.
CREATE FUNCTION rail_stream.create_punctuality_view(view_name text, toc_ids text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text;
    parts text[] := parse_ident(view_name);
BEGIN
    IF array_length(parts, 1) <> 2 THEN
        RAISE EXCEPTION 'view name "%" is not schema-qualified', view_name
            USING ERRCODE = 'invalid_name',
                  HINT = 'Name the view with its schema, as in "public.punctuality".';
    END IF;
    IF coalesce(array_length(toc_ids, 1), 0) = 0 THEN
        RAISE EXCEPTION 'no TOC given for the punctuality view'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass TRUST toc_ids, as in ARRAY[''23'', ''61''].';
    END IF;
    -- columns are named after the TOC, within the 63 bytes of an identifier
    SELECT string_agg(format('coalesce(sum(c.movements) FILTER (WHERE c.toc_id = %L), 0) AS %I',
                             t.id, left(rail_stream.toc_name(t.id), 60)), ', ' ORDER BY t.n)
    INTO cols
    FROM (SELECT DISTINCT ON (u.id) u.id, u.n
          FROM unnest(toc_ids) WITH ORDINALITY AS u(id, n)
          WHERE u.id IS NOT NULL ORDER BY u.id, u.n) t;
    EXECUTE format('CREATE VIEW %I.%I AS SELECT c.day, c.variation_status, %s'
                   ' FROM rail.daily_movement_counts c'
                   ' GROUP BY c.day, c.variation_status', parts[1], parts[2], cols);
END;
$$;
COMMENT ON FUNCTION rail_stream.create_punctuality_view(text, text[]) IS
    'Create a view of daily movements per variation status with one column per given TOC';

-- The talk's own table: its four operators (TRUST sector codes 23, 28, 61, 20).
SELECT rail_stream.create_punctuality_view('rail.daily_punctuality', ARRAY['23', '28', '61', '20']);
COMMENT ON VIEW rail.daily_punctuality IS
    'The talk''s TOC_VARIATION_STATS_DAILY: movements per day and variation status for its four TOCs';

-- Read access: the rail data model is for everyone who may connect.
GRANT SELECT ON ALL TABLES IN SCHEMA rail TO PUBLIC;

-- Subscriptions: Kafka topics that the ingest workers consume ---------------
--
-- Managing subscriptions is for superusers and members of the role
-- rail_stream_admin (created by the administrator, not by the extension).
-- Row-level security enforces it on the tables; the functions check first,
-- to say so plainly.  Changes reach the launcher when they commit.

CREATE FUNCTION rail_stream._is_admin() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                     WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false)
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                   WHERE r.rolname OPERATOR(pg_catalog.=) 'rail_stream_admin'
                     AND pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'MEMBER'));
END;

CREATE FUNCTION rail_stream._require_admin() RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT rail_stream._is_admin() THEN
        RAISE EXCEPTION 'permission denied to manage rail_stream subscriptions and alert rules'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only superusers and members of role "rail_stream_admin" manage them.',
                  HINT = format('GRANT rail_stream_admin TO %I;', CURRENT_USER);
    END IF;
END;
$$;

CREATE TABLE rail_stream.subscriptions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE
                        CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
    topic               text NOT NULL,
    feed                text NOT NULL,
    brokers             text,
    start_position      text NOT NULL DEFAULT 'earliest',
    batch_size          integer CHECK (batch_size BETWEEN 1 AND 100000),
    batch_ms            integer CHECK (batch_ms BETWEEN 1 AND 60000),
    parallelism         integer NOT NULL DEFAULT 1 CHECK (parallelism BETWEEN 1 AND 256),
    kafka_properties    jsonb NOT NULL DEFAULT '{}',
    owner               regrole NOT NULL DEFAULT CURRENT_USER::regrole,
    enabled             boolean NOT NULL DEFAULT true,
    paused              boolean NOT NULL DEFAULT false,
    config_version      integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE rail_stream.subscriptions IS
    'Kafka topics consumed by the ingest workers (kafka_properties may hold credentials)';
ALTER TABLE rail_stream.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_only ON rail_stream.subscriptions
    USING (rail_stream._is_admin()) WITH CHECK (rail_stream._is_admin());
REVOKE ALL ON rail_stream.subscriptions FROM PUBLIC;
-- rows are visible to administrators only (the policy above)
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.subscriptions TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.subscriptions', '');

-- Workers run as a subscription's owner: only a superuser may make it
-- anyone but the role that writes the row, and nobody may make it a
-- superuser but a superuser.
CREATE FUNCTION rail_stream._guard_owner() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = CURRENT_USER) THEN
        RETURN NEW;
    END IF;
    IF (TG_OP = 'INSERT' AND NEW.owner::oid <> (SELECT oid FROM pg_roles WHERE rolname = CURRENT_USER))
       OR (TG_OP = 'UPDATE' AND NEW.owner IS DISTINCT FROM OLD.owner) THEN
        RAISE EXCEPTION 'only a superuser can give a subscription another owner'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER guard_owner BEFORE INSERT OR UPDATE ON rail_stream.subscriptions
    FOR EACH ROW EXECUTE FUNCTION rail_stream._guard_owner();

-- Where each partition of each subscription has got: the next offset to
-- read, written in the same transaction as the rows of the messages before
-- it.  -2 and -1 stand for "earliest" and "latest" after reset_offsets().
CREATE TABLE rail_stream.subscription_offsets (
    subscription_id     bigint NOT NULL REFERENCES rail_stream.subscriptions ON DELETE CASCADE,
    partition           integer NOT NULL,
    next_offset         bigint NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (subscription_id, partition)
);
COMMENT ON TABLE rail_stream.subscription_offsets IS
    'Per partition, the next Kafka offset to read; committed with the rows (exactly once)';
ALTER TABLE rail_stream.subscription_offsets ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON rail_stream.subscription_offsets FOR SELECT
    USING (rail_stream._is_admin() OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_monitor', 'USAGE'));
CREATE POLICY admins_write ON rail_stream.subscription_offsets
    USING (rail_stream._is_admin()) WITH CHECK (rail_stream._is_admin());
REVOKE ALL ON rail_stream.subscription_offsets FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.subscription_offsets TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.subscription_offsets', '');

CREATE INDEX ON rail_stream.dead_letters (subscription, partition);

CREATE FUNCTION rail_stream._wake_launcher() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'rs_wake_launcher';
CREATE TRIGGER wake_launcher AFTER INSERT OR UPDATE OR DELETE ON rail_stream.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION rail_stream._wake_launcher();

CREATE FUNCTION rail_stream._feed_target(feed text) RETURNS regclass
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_check_feed';

CREATE FUNCTION rail_stream._feed_name(feed text) RETURNS text
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_feed_name';

CREATE FUNCTION rail_stream._check_kafka_property(name text, value text) RETURNS void
LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'rs_check_kafka_property';
-- librdkafka acts on some properties as they are set (plugin.library.paths)
REVOKE EXECUTE ON FUNCTION rail_stream._check_kafka_property(text, text) FROM PUBLIC;

-- The owner of a subscription must be able to write what its feed writes:
-- upserts read the rows they update (SELECT), and Delete transactions and
-- tombstones delete rows.
CREATE FUNCTION rail_stream._check_feed(feed text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target regclass := rail_stream._feed_target(feed);
    tables regclass[];
    needed text[] := ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'];
    t regclass;
    p text;
BEGIN
    IF feed = 'trust' THEN
        tables := ARRAY['rail.activations', 'rail.cancellations', 'rail.movements',
            'rail.reinstatements', 'rail.changes_of_origin', 'rail.changes_of_identity',
            'rail.changes_of_location']::regclass[];
        needed := ARRAY['SELECT', 'INSERT', 'UPDATE'];
    ELSIF feed = 'cif' THEN
        tables := ARRAY['rail.cif_headers', 'rail.tiplocs', 'rail.associations',
            'rail.schedules', 'rail.schedule_locations']::regclass[];
    ELSE
        tables := ARRAY[target];
    END IF;
    FOREACH t IN ARRAY tables LOOP
        FOREACH p IN ARRAY needed LOOP
            IF NOT has_table_privilege(t, p) THEN
                RAISE EXCEPTION 'permission denied for table %', t
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = format('The subscription''s owner, %I, needs %s on the tables that feed "%s" writes, and lacks %s.',
                                          CURRENT_USER, array_to_string(needed, ', '), feed, p);
            END IF;
        END LOOP;
    END LOOP;
END;
$$;

-- Check the options of a subscription; returns them normalised.
CREATE FUNCTION rail_stream._check_options(options jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    v jsonb;
    p text;
    pv jsonb;
    result jsonb := '{}';
    n numeric;
    limits constant jsonb := jsonb_build_object(
        'batch_size', jsonb_build_array(1, 100000),
        'batch_ms', jsonb_build_array(1, 60000),
        'parallelism', jsonb_build_array(1, coalesce(current_setting('rail_stream.max_workers', true)::int, 256)));
BEGIN
    IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'subscription options must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(options) LOOP
        IF k = 'start' THEN
            IF jsonb_typeof(v) <> 'string' THEN
                RAISE EXCEPTION 'invalid value for option "start": %', v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Use "earliest", "latest" or a timestamp.';
            ELSIF v #>> '{}' IN ('earliest', 'latest') THEN
                result := result || jsonb_build_object(k, v);
            ELSE
                BEGIN
                    result := result || jsonb_build_object(k,
                        to_char((v #>> '{}')::timestamptz AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
                EXCEPTION WHEN data_exception THEN
                    RAISE EXCEPTION 'invalid value for option "start": %', v
                        USING ERRCODE = 'invalid_parameter_value',
                              HINT = 'Use "earliest", "latest" or a timestamp.';
                END;
            END IF;
        ELSIF limits ? k THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric)
               OR (v #>> '{}')::numeric NOT BETWEEN (limits -> k ->> 0)::numeric AND (limits -> k ->> 1)::numeric THEN
                RAISE EXCEPTION 'invalid value for option "%": %', k, v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = format('Use an integer from %s to %s.', limits -> k ->> 0, limits -> k ->> 1);
            END IF;
            result := result || jsonb_build_object(k, v);
        ELSIF k = 'kafka' THEN
            IF jsonb_typeof(v) <> 'object' THEN
                RAISE EXCEPTION 'invalid value for option "kafka": %', v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Give librdkafka properties as an object, as in {"security.protocol": "ssl"}.';
            END IF;
            FOR p, pv IN SELECT * FROM jsonb_each(v) LOOP
                -- Only connection, security and fetch settings: others would let
                -- a subscription load libraries, run commands or read files as
                -- the server (plugin.library.paths, sasl.kerberos.kinit.cmd,
                -- ssl.*.location), or break the offsets kept in PostgreSQL.
                IF p !~ '^(security\.protocol|sasl\.(mechanisms?|username|password)|ssl\.(ca|certificate|key)\.pem|ssl\.key\.password|ssl\.endpoint\.identification\.algorithm|client\.(id|rack)|fetch\.(wait\.max\.ms|min\.bytes|max\.bytes|error\.backoff\.ms)|max\.partition\.fetch\.bytes|socket\.(timeout\.ms|keepalive\.enable|connection\.setup\.timeout\.ms)|reconnect\.backoff(\.max)?\.ms|metadata\.max\.age\.ms|topic\.metadata\.refresh\.interval\.ms|api\.version\.request|broker\.version\.fallback|isolation\.level|check\.crcs|debug)$' THEN
                    RAISE EXCEPTION 'Kafka property "%" cannot be set for a subscription', p
                        USING ERRCODE = 'invalid_parameter_value',
                              DETAIL = 'Subscriptions take connection, security (PEM strings, not files) and fetch settings; rail_stream sets offsets, groups and brokers itself.';
                END IF;
                IF jsonb_typeof(pv) IN ('object', 'array', 'null') THEN
                    RAISE EXCEPTION 'invalid value for Kafka property "%": %', p, pv
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                PERFORM rail_stream._check_kafka_property(p, pv #>> '{}');
            END LOOP;
            result := result || jsonb_build_object(k,
                (SELECT coalesce(jsonb_object_agg(e.key, e.value #>> '{}'), '{}')
                 FROM jsonb_each(v) e));
        ELSE
            RAISE EXCEPTION 'unrecognized subscription option "%"', k
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The options are start, batch_size, batch_ms, parallelism and kafka.';
        END IF;
    END LOOP;
    RETURN result;
END;
$$;

CREATE FUNCTION rail_stream._subscription(name text) RETURNS rail_stream.subscriptions
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s rail_stream.subscriptions;
BEGIN
    SELECT * INTO s FROM rail_stream.subscriptions WHERE subscriptions.name = _subscription.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN s;
END;
$$;

CREATE FUNCTION rail_stream.create_subscription(name text, topic text, feed text,
    brokers text DEFAULT NULL, options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o jsonb;
    new_id bigint;
BEGIN
    PERFORM rail_stream._require_admin();
    IF name IS NULL OR topic IS NULL OR feed IS NULL THEN
        RAISE EXCEPTION 'name, topic and feed must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM rail_stream._check_feed(feed);
    o := rail_stream._check_options(coalesce(options, '{}'));
    INSERT INTO rail_stream.subscriptions AS s (name, topic, feed, brokers,
        start_position, batch_size, batch_ms, parallelism, kafka_properties)
    VALUES (name, topic, rail_stream._feed_name(feed), brokers,
            coalesce(o ->> 'start', 'earliest'),
            (o ->> 'batch_size')::int, (o ->> 'batch_ms')::int,
            coalesce((o ->> 'parallelism')::int, 1), coalesce(o -> 'kafka', '{}'))
    RETURNING s.id INTO new_id;
    RETURN new_id;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'subscription "%" already exists', name
            USING ERRCODE = 'duplicate_object';
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid subscription name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A name has 1 to 100 letters, digits, dots, dashes and underscores; it names the Kafka consumer group.';
END;
$$;
COMMENT ON FUNCTION rail_stream.create_subscription(text, text, text, text, jsonb) IS
    'Consume a Kafka topic into the feed''s tables, exactly once; runs at commit';

CREATE FUNCTION rail_stream.alter_subscription(name text, topic text DEFAULT NULL,
    feed text DEFAULT NULL, brokers text DEFAULT NULL, options jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s rail_stream.subscriptions;
    o jsonb;
BEGIN
    PERFORM rail_stream._require_admin();
    s := rail_stream._subscription(name);
    IF feed IS NOT NULL THEN
        PERFORM rail_stream._check_feed(feed);
    END IF;
    o := rail_stream._check_options(coalesce(options, '{}'));
    UPDATE rail_stream.subscriptions u SET
        topic = coalesce(alter_subscription.topic, u.topic),
        feed = coalesce(rail_stream._feed_name(alter_subscription.feed), u.feed),
        brokers = coalesce(alter_subscription.brokers, u.brokers),
        start_position = coalesce(o ->> 'start', u.start_position),
        batch_size = coalesce((o ->> 'batch_size')::int, u.batch_size),
        batch_ms = coalesce((o ->> 'batch_ms')::int, u.batch_ms),
        parallelism = coalesce((o ->> 'parallelism')::int, u.parallelism),
        kafka_properties = coalesce(o -> 'kafka', u.kafka_properties),
        config_version = u.config_version + 1
    WHERE u.id = s.id;
    -- offsets belong to the topic they were read from
    IF alter_subscription.topic IS NOT NULL AND alter_subscription.topic <> s.topic THEN
        DELETE FROM rail_stream.subscription_offsets WHERE subscription_id = s.id;
    END IF;
END;
$$;
COMMENT ON FUNCTION rail_stream.alter_subscription(text, text, text, text, jsonb) IS
    'Change a subscription; its workers restart with the change at commit';

CREATE FUNCTION rail_stream.drop_subscription(name text, if_exists boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    DELETE FROM rail_stream.subscriptions s WHERE s.name = drop_subscription.name;
    IF NOT FOUND AND NOT if_exists THEN
        RAISE EXCEPTION 'subscription "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
END;
$$;
COMMENT ON FUNCTION rail_stream.drop_subscription(text, boolean) IS
    'Stop and remove a subscription and its stored offsets (the rows it wrote stay)';

CREATE FUNCTION rail_stream.pause_subscription(name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    PERFORM rail_stream._subscription(name);
    UPDATE rail_stream.subscriptions s SET paused = true WHERE s.name = pause_subscription.name;
END;
$$;
COMMENT ON FUNCTION rail_stream.pause_subscription(text) IS
    'Stop consuming at commit; the stored offsets stay where they are';

CREATE FUNCTION rail_stream.resume_subscription(name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    PERFORM rail_stream._subscription(name);
    UPDATE rail_stream.subscriptions s SET paused = false WHERE s.name = resume_subscription.name;
END;
$$;
COMMENT ON FUNCTION rail_stream.resume_subscription(text) IS
    'Consume again from the stored offsets';

-- reset_offsets(name, to): to is 'earliest', 'latest', a timestamp, or a
-- JSON object of offsets per partition, as '{"0": 1200, "3": 0}'.
CREATE FUNCTION rail_stream.reset_offsets(name text, "to" text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s rail_stream.subscriptions;
    positions jsonb;
    p text;
    v jsonb;
BEGIN
    PERFORM rail_stream._require_admin();
    s := rail_stream._subscription(name);
    IF "to" IS NULL THEN
        RAISE EXCEPTION 'reset position must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF left(ltrim("to"), 1) = '{' THEN
        positions := "to"::jsonb;
        FOR p, v IN SELECT * FROM jsonb_each(positions) LOOP
            IF p !~ '^[0-9]+$' OR jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric < 0
               OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric) THEN
                RAISE EXCEPTION 'invalid offset for partition %: %', p, v
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Give each partition a non-negative offset, as in {"0": 1200}.';
            END IF;
            INSERT INTO rail_stream.subscription_offsets AS o (subscription_id, partition, next_offset)
            VALUES (s.id, p::int, (v #>> '{}')::bigint)
            ON CONFLICT (subscription_id, partition)
            DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = pg_catalog.now();
        END LOOP;
    ELSE
        DELETE FROM rail_stream.subscription_offsets WHERE subscription_id = s.id;
        UPDATE rail_stream.subscriptions u
        SET start_position = rail_stream._check_options(jsonb_build_object('start', "to")) ->> 'start'
        WHERE u.id = s.id;
    END IF;
    UPDATE rail_stream.subscriptions u SET config_version = u.config_version + 1 WHERE u.id = s.id;
END;
$$;
COMMENT ON FUNCTION rail_stream.reset_offsets(text, text) IS
    'Move a subscription to earliest, latest, a timestamp or given offsets; its workers restart there';

CREATE FUNCTION rail_stream._replay_message(feed text, value bytea, key text,
    subscription text, topic text, partition integer, "offset" bigint,
    kafka_timestamp timestamptz, headers jsonb)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE AS 'MODULE_PATHNAME', 'rs_replay_message';
-- it stores dead letters with any origin: for replay_dead_letters() only
REVOKE EXECUTE ON FUNCTION rail_stream._replay_message(text, bytea, text, text, text, integer, bigint, timestamptz, jsonb) FROM PUBLIC;

-- replay_dead_letters(subscription, ids): run stored dead letters through
-- their feed again, after a fix.  A replayed dead letter is removed; one that
-- fails again is stored again, as a new dead letter.
CREATE FUNCTION rail_stream.replay_dead_letters(subscription text DEFAULT NULL,
    ids bigint[] DEFAULT NULL,
    OUT replayed integer, OUT failed integer, OUT rows_written bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d rail_stream.dead_letters;
    last_id bigint;
BEGIN
    PERFORM rail_stream._require_admin();
    replayed := 0;
    rows_written := 0;
    SELECT coalesce(max(id), 0) INTO last_id FROM rail_stream.dead_letters;
    FOR d IN DELETE FROM rail_stream.dead_letters x
             WHERE (replay_dead_letters.subscription IS NULL
                    OR x.subscription = replay_dead_letters.subscription)
               AND (ids IS NULL OR x.id = ANY (ids))
               AND x.id <= last_id
             RETURNING * LOOP
        replayed := replayed + 1;
        rows_written := rows_written + rail_stream._replay_message(d.feed,
            -- a train message of a frame was stored alone: make it a frame again
            CASE WHEN d.message_index IS NULL THEN d.value
                 ELSE '\x5b'::bytea || d.value || '\x5d'::bytea END,
            d.key, d.subscription, d.topic, d.partition, d."offset",
            d.kafka_timestamp, d.headers);
    END LOOP;
    SELECT count(*) INTO failed FROM rail_stream.dead_letters WHERE id > last_id;
END;
$$;
COMMENT ON FUNCTION rail_stream.replay_dead_letters(text, bigint[]) IS
    'Run dead letters through their feed again; returns how many were replayed and failed again';

-- Status ------------------------------------------------------------------

CREATE FUNCTION rail_stream._worker_status(
    OUT subscription_id bigint, OUT worker_index integer, OUT pid integer,
    OUT state text, OUT partition integer, OUT committed_offset bigint,
    OUT high_watermark bigint, OUT last_message_at timestamptz,
    OUT last_event_at timestamptz, OUT messages_per_second double precision,
    OUT batches bigint, OUT dead_letters bigint, OUT last_error text,
    OUT last_error_at timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'rs_worker_status';

-- One row per subscription and partition, from the workers' shared memory
-- and the stored offsets; no broker is asked.  Administrators and pg_monitor
-- see every subscription, other roles those they own.
CREATE VIEW rail_stream.subscription_status WITH (security_barrier) AS
WITH w AS (SELECT * FROM rail_stream._worker_status()),
parts AS (
    SELECT o.subscription_id, o.partition FROM rail_stream.subscription_offsets o
    UNION
    SELECT w.subscription_id, w.partition FROM w WHERE w.partition IS NOT NULL
)
SELECT s.name AS subscription,
       s.topic,
       p.partition,
       CASE WHEN s.paused THEN 'paused'
            WHEN NOT s.enabled THEN 'disabled'
            ELSE coalesce(wp.state, ws.state, 'stopped') END AS state,
       c.committed_offset,
       wp.high_watermark,
       wp.high_watermark - c.committed_offset AS lag,
       wp.last_message_at,
       wp.last_event_at,
       CASE WHEN wp.high_watermark - c.committed_offset > 0
            THEN extract(epoch FROM pg_catalog.now() - wp.last_message_at)
            WHEN wp.high_watermark IS NOT NULL THEN 0 END AS lag_seconds,
       wp.messages_per_second,
       coalesce(wp.batches, ws.batches) AS batches,
       (SELECT count(*) FROM rail_stream.dead_letters d
        WHERE d.subscription = s.name AND d.partition IS NOT DISTINCT FROM p.partition) AS dead_letters,
       coalesce(wp.last_error, ws.last_error) AS last_error,
       coalesce(wp.last_error_at, ws.last_error_at) AS last_error_at,
       coalesce(wp.pid, ws.pid) AS pid
FROM rail_stream.subscriptions s
LEFT JOIN parts p ON p.subscription_id = s.id
LEFT JOIN w wp ON wp.subscription_id = s.id AND wp.partition = p.partition
LEFT JOIN LATERAL (SELECT * FROM w WHERE w.subscription_id = s.id
                   ORDER BY w.worker_index LIMIT 1) ws ON true
LEFT JOIN rail_stream.subscription_offsets o
       ON o.subscription_id = s.id AND o.partition = p.partition
CROSS JOIN LATERAL (SELECT CASE WHEN coalesce(wp.committed_offset, o.next_offset) >= 0
                                THEN coalesce(wp.committed_offset, o.next_offset) END
                           AS committed_offset) c
WHERE rail_stream._is_admin()
   OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_monitor', 'USAGE')
   OR pg_catalog.pg_has_role(CURRENT_USER, s.owner, 'USAGE');
COMMENT ON VIEW rail_stream.subscription_status IS
    'Per subscription and partition: state, offsets, lag, rates and errors of the ingest workers';
GRANT SELECT ON rail_stream.subscription_status TO PUBLIC;

-- Delay alerts: rules, an outbox, NOTIFY at commit ------------------------
--
-- A movement that is LATE by more than a rule's threshold at the rule's
-- station (by location name, TIPLOC, STANOX or CRS), for a train that does
-- not start there, writes one row to rail_stream.alerts -- one per rule and
-- movement, however often the movement is re-sent or corrected -- and sends
-- its JSON with NOTIFY on the rule's channel.  Both happen in the
-- movement's transaction, so a rollback alerts nobody.  Rows with a webhook
-- URL wait in the outbox (state 'pending') for the alert sender worker
-- (src/alert_sender.c), which POSTs them and records each attempt's outcome.

-- Whether a text is JSON (PostgreSQL 15 has no pg_input_is_valid)
CREATE FUNCTION rail_stream._is_json(t text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM t::jsonb;
    RETURN true;
EXCEPTION
    WHEN invalid_text_representation THEN
        RETURN false;
END;
$$;

CREATE TABLE rail_stream.alert_rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station         text NOT NULL,
    over_minutes    integer NOT NULL CHECK (over_minutes >= 0),
    -- http or https, a host, no user:password@ (tokens belong in the path)
    webhook_url     text CHECK (webhook_url ~* '^https?://[^/?#@]+([/?#]|$)'),
    template        text CHECK (rail_stream._is_json(template)),
    channel         text NOT NULL DEFAULT 'rail_stream_alerts'
                    CHECK (channel ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'),
    enabled         boolean NOT NULL DEFAULT true,
    owner           regrole NOT NULL DEFAULT CURRENT_USER::regrole,
    config_station  text UNIQUE,    -- set for rules kept by rail_stream.alert_config
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE rail_stream.alert_rules IS
    'Delay alert rules: a station, a threshold in minutes, a NOTIFY channel and an optional webhook';
CREATE INDEX ON rail_stream.alert_rules (upper(station)) WHERE enabled;
-- webhook URLs hold bot tokens: administrators only
ALTER TABLE rail_stream.alert_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_only ON rail_stream.alert_rules
    USING (rail_stream._is_admin()) WITH CHECK (rail_stream._is_admin());
REVOKE ALL ON rail_stream.alert_rules FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.alert_rules TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.alert_rules', '');

CREATE TABLE rail_stream.alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id         bigint NOT NULL REFERENCES rail_stream.alert_rules ON DELETE CASCADE,
    msg_key         text NOT NULL,
    channel         text NOT NULL,
    message         text NOT NULL,
    payload         jsonb NOT NULL,
    body            text,           -- the webhook request's JSON, as sent
    idempotency_key uuid NOT NULL DEFAULT gen_random_uuid(),
    state           text NOT NULL CHECK (state IN ('pending', 'sending', 'delivered',
                                                   'failed', 'notify only')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_attempt_at timestamptz,
    last_status     integer,        -- HTTP status of the last attempt
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (rule_id, msg_key)
);
COMMENT ON TABLE rail_stream.alerts IS
    'The alert outbox: one row per rule and late movement, with its delivery state';
-- the sender's claim reads due alerts in this order, without a sort
CREATE INDEX ON rail_stream.alerts (next_attempt_at, id) WHERE state = 'pending';
-- administrators watch the outbox, and may re-queue alerts (the UPDATE
-- granted below is safe only because of this policy); the trigger and the
-- sender write it
ALTER TABLE rail_stream.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_only ON rail_stream.alerts USING (rail_stream._is_admin());
REVOKE ALL ON rail_stream.alerts FROM PUBLIC;
GRANT SELECT, UPDATE (state, attempts, next_attempt_at) ON rail_stream.alerts TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.alerts', '');

-- Queued alerts wake the sender when their transaction commits.
CREATE FUNCTION rail_stream._wake_sender() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'rs_wake_sender';
CREATE TRIGGER wake_sender AFTER INSERT OR UPDATE OF state ON rail_stream.alerts
    FOR EACH STATEMENT EXECUTE FUNCTION rail_stream._wake_sender();

-- A webhook URL's endpoint: scheme, host and port only, as the rest (a bot
-- token) is a secret.  The sender's circuit breaker (src/breaker.c) cuts
-- URLs the same way.
CREATE FUNCTION rail_stream.webhook_endpoint(url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN substring(url FROM '^[A-Za-z]+://[^/?#]+');
COMMENT ON FUNCTION rail_stream.webhook_endpoint(text) IS
    'The scheme, host and port of a webhook URL, without its path (where tokens are)';

-- Delivery health per endpoint.
CREATE VIEW rail_stream.webhook_health WITH (security_barrier) AS
SELECT rail_stream.webhook_endpoint(r.webhook_url) AS endpoint,
       count(*) FILTER (WHERE a.state = 'pending') AS pending,
       count(*) FILTER (WHERE a.state = 'sending') AS sending,
       count(*) FILTER (WHERE a.state = 'delivered') AS delivered,
       count(*) FILTER (WHERE a.state = 'failed') AS failed,
       sum(a.attempts) AS attempts,
       max(a.delivered_at) AS last_delivered_at,
       max(a.last_attempt_at) AS last_attempt_at,
       min(a.created_at) FILTER (WHERE a.state IN ('pending', 'sending')) AS oldest_waiting_since,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.delivered_at - a.created_at))
           FILTER (WHERE a.state = 'delivered') AS median_delivery_seconds,
       (array_agg(a.last_status ORDER BY a.last_attempt_at DESC)
           FILTER (WHERE a.last_attempt_at IS NOT NULL))[1] AS last_status,
       -- a receiver may echo the URL's path (the token): administrators only
       CASE WHEN rail_stream._is_admin() THEN
           (array_agg(a.last_error ORDER BY a.last_attempt_at DESC)
               FILTER (WHERE a.last_error IS NOT NULL))[1] END AS last_error
FROM rail_stream.alerts a
JOIN rail_stream.alert_rules r ON r.id = a.rule_id
WHERE r.webhook_url IS NOT NULL
  AND (rail_stream._is_admin() OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_monitor', 'USAGE'))
GROUP BY 1;
COMMENT ON VIEW rail_stream.webhook_health IS
    'Alert delivery per webhook endpoint: states, attempts, latency and the last error';
GRANT SELECT ON rail_stream.webhook_health TO PUBLIC;

-- Failed alerts (of one rule, or all) are sent again from the first attempt.
CREATE FUNCTION rail_stream.retry_failed_alerts(rule_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM rail_stream._require_admin();
    UPDATE rail_stream.alerts a
    SET state = 'pending', attempts = 0, next_attempt_at = now()
    WHERE a.state = 'failed'
      AND (retry_failed_alerts.rule_id IS NULL OR a.rule_id = retry_failed_alerts.rule_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION rail_stream.retry_failed_alerts(bigint) IS
    'Send failed alerts again, with the same idempotency keys';

CREATE FUNCTION rail_stream.add_alert_rule(station text, over_minutes integer,
    webhook_url text DEFAULT NULL, template text DEFAULT NULL,
    channel text DEFAULT 'rail_stream_alerts')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM rail_stream._require_admin();
    IF station IS NULL OR over_minutes IS NULL OR channel IS NULL THEN
        RAISE EXCEPTION 'station, threshold and channel must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT rail_stream._is_json(template) THEN
        RAISE EXCEPTION 'invalid template for station "%": it must be JSON', station
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write the request body as JSON, with {{text}} inside a string where the message goes.';
    END IF;
    INSERT INTO rail_stream.alert_rules AS r (station, over_minutes, webhook_url, template, channel)
    VALUES (station, over_minutes, webhook_url, template, channel)
    RETURNING r.id INTO new_id;
    RETURN new_id;
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid alert rule for station "%"', station
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The threshold must not be negative, the webhook URL must be http or https with a host and without user name or password, and the channel an identifier.';
END;
$$;
COMMENT ON FUNCTION rail_stream.add_alert_rule(text, integer, text, text, text) IS
    'Alert when a movement at the station is late by more than over_minutes';

CREATE FUNCTION rail_stream.drop_alert_rule(id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rail_stream._require_admin();
    DELETE FROM rail_stream.alert_rules r WHERE r.id = drop_alert_rule.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'alert rule % does not exist', id USING ERRCODE = 'undefined_object';
    END IF;
END;
$$;
COMMENT ON FUNCTION rail_stream.drop_alert_rule(bigint) IS 'Remove an alert rule and its alerts';

-- The talk's alert_config topic ("BEN RHYDDING:{"STATION":"BEN RHYDDING",
-- "ALERT_OVER_MINS":"5"}" with kcat -K:) as a keyed table: subscribe it with
-- feed 'reference:rail_stream.alert_config', and each row keeps one rule;
-- a tombstone removes it.
CREATE TABLE rail_stream.alert_config (
    station         text PRIMARY KEY,
    alert_over_mins integer NOT NULL,
    webhook_url     text,
    template        text,
    channel         text NOT NULL DEFAULT 'rail_stream_alerts'
);
COMMENT ON TABLE rail_stream.alert_config IS
    'Alert rules by station, as the talk''s alert_config topic carries them';
ALTER TABLE rail_stream.alert_config ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_only ON rail_stream.alert_config
    USING (rail_stream._is_admin()) WITH CHECK (rail_stream._is_admin());
REVOKE ALL ON rail_stream.alert_config FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON rail_stream.alert_config TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rail_stream.alert_config', '');

CREATE FUNCTION rail_stream._sync_alert_config() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM rail_stream.alert_rules r WHERE r.config_station = OLD.station;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO rail_stream.alert_rules (station, over_minutes, webhook_url, template,
                                             channel, config_station)
        VALUES (NEW.station, NEW.alert_over_mins, NEW.webhook_url, NEW.template,
                NEW.channel, NEW.station);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER sync_rules AFTER INSERT OR UPDATE OR DELETE ON rail_stream.alert_config
    FOR EACH ROW EXECUTE FUNCTION rail_stream._sync_alert_config();

-- The talk's message: "Train from <origin> arrived at <station> <N MINS
-- LATE> (alert threshold: M mins). Train id <uid> is operated by <TOC>"
CREATE FUNCTION rail_stream.alert_text(m rail.movements, over_minutes integer) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT format('Train from %s arrived at %s %s (alert threshold: %s mins). Train id %s is operated by %s',
                  coalesce(m.origin_name, 'an unknown origin'), coalesce(m.loc_name, m.loc_stanox),
                  m.variation, over_minutes, coalesce(m.train_uid, m.train_id), m.toc_name);
END;

-- The webhook request of an alert: the rule's template (JSON, with
-- {{text}}, {{station}}, {{minutes_late}} ... for the payload's fields,
-- each placed inside a JSON string), or Telegram's sendMessage with the
-- chat of rail_stream.telegram_chat_id.
CREATE FUNCTION rail_stream.alert_body(template text, payload jsonb) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    body text;
BEGIN
    IF template IS NULL THEN
        RETURN jsonb_build_object('chat_id', nullif(current_setting('rail_stream.telegram_chat_id', true), ''),
                                  'text', payload->>'text', 'parse_mode', 'markdown')::text;
    END IF;
    body := template;
    FOR f IN SELECT key, to_jsonb(coalesce(value #>> '{}', ''))::text AS quoted
             FROM jsonb_each(payload) LOOP
        -- the value as the inside of a JSON string: without its quotes
        body := replace(body, '{{' || f.key || '}}',
                        substr(f.quoted, 2, length(f.quoted) - 2));
    END LOOP;
    PERFORM body::jsonb;
    RETURN body;
END;
$$;

-- AFTER trigger on rail.movements: the matching rules' alerts.  Runs as the
-- extension's owner, since the rules and the outbox are private.
CREATE FUNCTION rail_stream._raise_alerts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rail_stream.alert_rules;
    tps text;
    msg text;
    payload jsonb;
    alert_id bigint;
BEGIN
    SELECT t.tps_description INTO tps FROM rail.tiplocs t WHERE t.tiploc_code = NEW.loc_tiploc;
    FOR r IN SELECT * FROM rail_stream.alert_rules x
             WHERE x.enabled AND NEW.timetable_variation > x.over_minutes
               AND upper(x.station) IN (upper(NEW.loc_name), upper(tps), NEW.loc_tiploc,
                                        NEW.loc_stanox, NEW.loc_crs)
    LOOP
        -- not for trains that start at the station
        CONTINUE WHEN NEW.origin_tiploc IS NOT NULL AND NEW.origin_tiploc = NEW.loc_tiploc;
        msg := rail_stream.alert_text(NEW, r.over_minutes);
        payload := jsonb_build_object('rule_id', r.id, 'station', r.station,
            'threshold_minutes', r.over_minutes, 'msg_key', NEW.msg_key,
            'train_id', NEW.train_id, 'train_uid', NEW.train_uid,
            'location', NEW.loc_name, 'stanox', NEW.loc_stanox,
            'origin', NEW.origin_name, 'toc', NEW.toc_name,
            'variation', NEW.variation, 'minutes_late', NEW.timetable_variation,
            'actual_timestamp', NEW.actual_timestamp, 'text', msg);
        INSERT INTO rail_stream.alerts AS a (rule_id, msg_key, channel, message, payload,
                                             body, state, next_attempt_at)
        VALUES (r.id, NEW.msg_key, r.channel, msg, payload,
                CASE WHEN r.webhook_url IS NOT NULL THEN rail_stream.alert_body(r.template, payload) END,
                CASE WHEN r.webhook_url IS NULL THEN 'notify only' ELSE 'pending' END,
                CASE WHEN r.webhook_url IS NULL THEN NULL ELSE pg_catalog.now() END)
        ON CONFLICT (rule_id, msg_key) DO NOTHING
        RETURNING a.id INTO alert_id;
        IF alert_id IS NOT NULL THEN
            PERFORM pg_notify(r.channel, (payload || jsonb_build_object('alert_id', alert_id))::text);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER raise_alerts AFTER INSERT OR UPDATE ON rail.movements
    FOR EACH ROW WHEN (NEW.variation_status = 'LATE')
    EXECUTE FUNCTION rail_stream._raise_alerts();
