-- The plain-SQL baseline for ingest_message: what a user would write to load
-- TRUST frames into rail.movements in one statement, without rail_stream's C
-- code.  It reads the same text envelopes as ingest_message (frames :lo..:hi
-- of bench_frames), explodes them with jsonb_array_elements, keeps the latest
-- report of each key (DISTINCT ON, by frame and position in the frame),
-- converts the 35 header and body fields to their column types and upserts.
-- It writes the same columns as ingest_message, derived ones included
-- (variation, late_ind, platform_text, extra_fields), into the same table, so
-- the same BEFORE (enrichment) and AFTER (daily counts) triggers fire.  The
-- columns, casts and update list are bench/sql/movement_columns.sql's, shared
-- with the end-to-end baselines.
--
-- psql variables: lo, hi (the frame numbers n to load).
\ir movement_columns.sql
INSERT INTO rail.movements AS t (:movement_columns)
SELECT
    :movement_values
FROM (
    -- the latest report of each key: later frame, then later in its frame
    SELECT DISTINCT ON (m.msg->'body'->>'train_id', m.msg->'body'->>'planned_event_type',
                        m.msg->'body'->>'loc_stanox')
           m.msg->'header' AS h, m.msg->'body' AS b
    FROM bench_frames f,
         jsonb_array_elements((f.envelope::jsonb->>'text')::jsonb) WITH ORDINALITY AS m(msg, i)
    WHERE f.n BETWEEN :lo AND :hi
      AND m.msg->'header'->>'msg_type' = '0003'
    ORDER BY m.msg->'body'->>'train_id', m.msg->'body'->>'planned_event_type',
             m.msg->'body'->>'loc_stanox', f.n DESC, m.i DESC
) s
ON CONFLICT (train_id, planned_event_type, loc_stanox)
DO UPDATE SET :movement_updates;
