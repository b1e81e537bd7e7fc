-- rail_stream's path for one batch, as a worker writes it: frames :lo..:hi
-- of bench_frames, in frame order, handed to ingest_messages in one array
-- (one statement, one transaction).  ingest_messages writes them as
-- rs_ingest_batch writes a worker's batch: one statement per table per
-- rail_stream.batch_size messages, so the statement triggers of
-- rail.movements (the daily counts) fire once per batch, as they do for the
-- baseline's single INSERT.  array_agg(... ORDER BY n) orders its input, so
-- the frames go in in n order whatever the physical order.
SELECT rail_stream.ingest_messages('trust', array_agg(envelope ORDER BY n))
FROM bench_frames
WHERE n BETWEEN :lo AND :hi;
