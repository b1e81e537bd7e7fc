-- What the demo prints.
\pset pager off
SET TimeZone = 'Europe/London';
SET DateStyle = 'ISO, YMD';

\echo '== Enriched movements (latest 12)'
SELECT train_id, to_char(actual_timestamp, 'YYYY-MM-DD HH24:MI') AS actual,
       loc_name AS location, loc_crs AS crs, variation, platform_text AS platform,
       toc_name AS toc, schedule_key
FROM rail.movements ORDER BY actual_timestamp DESC, train_id LIMIT 12;

\echo '== Daily punctuality (the talk''s four TOCs)'
SELECT * FROM rail.daily_punctuality ORDER BY day, variation_status;

\echo '== Daily punctuality, every TOC'
SELECT day, variation_status, toc_name, movements
FROM rail.daily_punctuality_by_toc ORDER BY day, variation_status, toc_name;

\echo '== Dead letters'
SELECT id, feed, key, sqlstate, error_message, message_index
FROM rail_stream.dead_letters ORDER BY id;
