-- The talk's decodes and keys, as SQL functions (no tables involved).
\i test/sql/fixtures/fresh.sql

-- Every CIF power type code, and what is not one.
SELECT code, rail_stream.decode_power_type(code)
FROM unnest(ARRAY['D', 'DEM', 'DMU', 'E', 'ED', 'EML', 'EMU', 'HST', 'XYZ', '']) AS code;
SELECT rail_stream.decode_power_type(NULL) IS NULL AS null_is_null;

SELECT code, rail_stream.decode_train_status(code)
FROM unnest(ARRAY['B', 'F', 'P', 'S', 'T', '1', '2', '3', '4', '5', ' ']) AS code;

SELECT code, rail_stream.decode_train_category(code)
FROM unnest(ARRAY['OO', 'XX', 'EE', 'BR', 'ZZ', 'J2', 'H6', 'QQ']) AS code;

SELECT code, rail_stream.decode_seating_class(code), rail_stream.decode_sleepers(code),
       rail_stream.decode_reservations(code)
FROM unnest(ARRAY['A', 'B', 'E', 'F', 'R', 'S', '']) AS code;

-- VARIATION and PLATFORM as the talk writes them; OFF ROUTE has no text.
SELECT s, m, rail_stream.variation_text(s, m)
FROM (VALUES ('ON TIME', 0), ('LATE', 5), ('EARLY', 2), ('OFF ROUTE', 0)) AS v(s, m);
SELECT p, rail_stream.platform_text(p)
FROM unnest(ARRAY[' 1', '12', '4A', '  ', '']) AS p;

-- The activation feed swaps O and P; the schedule key uses the corrected one.
SELECT t, rail_stream.correct_schedule_type(t)
FROM unnest(ARRAY['O', 'P', 'N', 'C']) AS t;
SELECT rail_stream.schedule_key('C21373', '2016-12-12',
                                rail_stream.correct_schedule_type('O'));

-- TRUST event times are UK wall-clock time written as epoch milliseconds:
-- in summer (BST) the instant is an hour earlier, in winter (GMT) the same.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SELECT rail_stream.trust_event_time(1722162000000) AS bst_event,
       to_timestamp(1722162000000 / 1000.0) AS as_if_utc;
SELECT rail_stream.trust_event_time(1509718620000) AS gmt_event,
       to_timestamp(1509718620000 / 1000.0) AS as_if_utc;
-- the night the clocks went forward (2024-03-31 01:00 GMT -> 02:00 BST)
SELECT rail_stream.trust_event_time(1711846800000) AS before_change,
       rail_stream.trust_event_time(1711854000000) AS after_change;
