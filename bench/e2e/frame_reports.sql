-- The rows that the "sql" and "setbased" end-to-end baselines upsert
-- (baseline_sql.sql, baseline_setbased.sql): the one copy of their query
-- over staging(id bigserial, frame text), where each row is one Kafka
-- message, i.e. one ActiveMQ envelope {"text":"[...]"} of up to 32 TRUST
-- messages.  It explodes the frames in the server (jsonb_array_elements of
-- the envelope's "text" string, WITH ORDINALITY) and keeps the latest
-- report of each key: the one that came last out of kcat, by frame (staging
-- id) and position in the frame (keys never cross partitions, and kcat
-- keeps each partition's order).  Its columns are h and b, the header and
-- body of the message, as bench/sql/movement_columns.sql's expressions
-- expect.
--
-- Sets the psql variable frame_reports to the query's text, used as
-- "FROM (:frame_reports) s": text for the same reason as
-- movement_columns.sql's lists (the server gets the statement as if written
-- out).  Set once per psql session.
\if :{?frame_reports}
\else
SELECT $$
    SELECT DISTINCT ON (e.m->'body'->>'train_id', e.m->'body'->>'planned_event_type',
                        e.m->'body'->>'loc_stanox')
           e.m->'header' AS h, e.m->'body' AS b
    FROM staging f,
         jsonb_array_elements((f.frame::jsonb->>'text')::jsonb) WITH ORDINALITY AS e(m, n)
    WHERE e.m->'header'->>'msg_type' = '0003'
    ORDER BY e.m->'body'->>'train_id', e.m->'body'->>'planned_event_type',
             e.m->'body'->>'loc_stanox', f.id DESC, e.n DESC
$$ AS frame_reports
\gset
\endif
