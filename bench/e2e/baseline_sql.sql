-- The "sql" end-to-end baseline (bench/e2e/run.sh, E2E_BASELINES=sql): no
-- jq.  After
--   kcat -C ... -e -q | psql -c "\copy staging (frame) FROM pstdin ..."
-- has landed one Kafka message, i.e. one ActiveMQ envelope
-- {"text":"[...]"} holding up to 32 TRUST messages, per row in the temporary
-- table staging(id bigserial, frame text), this one statement explodes the
-- frames in the server (jsonb_array_elements of the envelope's "text"
-- string, WITH ORDINALITY), keeps the latest report of each key (DISTINCT
-- ON, by arrival order: staging id, then position in the frame), converts
-- the header and body fields to their column types exactly as baseline.sql
-- does and upserts them into rail.movements, so the same BEFORE
-- (enrichment) and AFTER (daily counts) triggers fire as for rail_stream's
-- worker.  This is bench/sql/baseline_upsert.sql fed from kcat.
--
-- The column list, casts and update list are bench/sql/movement_columns.sql's,
-- as in baseline.sql.
\ir ../sql/movement_columns.sql
\ir frame_reports.sql
INSERT INTO rail.movements AS t (:movement_columns)
SELECT
    :movement_values
FROM (:frame_reports) s
ON CONFLICT (train_id, planned_event_type, loc_stanox)
DO UPDATE SET :movement_updates;
