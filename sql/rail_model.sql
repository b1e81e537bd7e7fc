
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
