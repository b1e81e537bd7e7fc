-- The end-to-end baseline's set-based upsert (bench/e2e/run.sh): after
--   kcat -C ... | jq -c '.text|fromjson[]' | psql -c "\copy staging(doc) FROM pstdin ..."
-- has landed one TRUST train message per row in the temporary table
-- staging(id bigserial, doc jsonb), this one statement keeps the latest
-- report of each key (DISTINCT ON, by arrival order), converts the header and
-- body fields to their column types as rail_stream does and upserts them into
-- rail.movements, so the same BEFORE (enrichment) and AFTER (daily counts)
-- triggers fire as for rail_stream's worker.
--
-- The column list, casts and update list are bench/sql/movement_columns.sql's,
-- as in bench/sql/baseline_upsert.sql, so that every column matches
-- rail_stream's rows, derived ones included.
\ir ../sql/movement_columns.sql
INSERT INTO rail.movements AS t (:movement_columns)
SELECT
    :movement_values
FROM (
    -- the latest report of each key: the one that came last out of kcat
    -- (keys never cross partitions, and kcat keeps each partition's order)
    SELECT DISTINCT ON (doc->'body'->>'train_id', doc->'body'->>'planned_event_type',
                        doc->'body'->>'loc_stanox')
           doc->'header' AS h, doc->'body' AS b
    FROM staging
    WHERE doc->'header'->>'msg_type' = '0003'
    ORDER BY doc->'body'->>'train_id', doc->'body'->>'planned_event_type',
             doc->'body'->>'loc_stanox', id DESC
) s
ON CONFLICT (train_id, planned_event_type, loc_stanox)
DO UPDATE SET :movement_updates;
