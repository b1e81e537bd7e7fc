-- rail_stream's path for one batch: every frame :lo..:hi of bench_frames
-- through ingest_message, in frame order, in one transaction (autocommit
-- statement).
--
-- Not "SELECT sum(ingest_message(...) ORDER BY n) FROM bench_frames": an
-- ordered aggregate evaluates its argument in scan order and only sorts the
-- results, so the frames would be ingested in physical order, which differs
-- from n after COPY has filled gaps in earlier pages (a later frame's
-- correction is then overwritten by the original).  A volatile function in
-- the select list of an ordered subquery is evaluated after the sort.
SELECT sum(r) FROM (
    SELECT rail_stream.ingest_message('trust', envelope) AS r
    FROM bench_frames
    WHERE n BETWEEN :lo AND :hi
    ORDER BY n
) s;
