-- The demo's pipeline: the extension, the location master, and one
-- subscription per topic of the talk.
\set ON_ERROR_STOP on
\pset pager off
SET client_min_messages = warning;

DROP EXTENSION IF EXISTS rail_stream CASCADE;
CREATE EXTENSION rail_stream;

-- The location master is a CSV file: it loads with \copy.
\copy rail.locations_csv FROM 'data/reference/ukrail_locations.csv' WITH (FORMAT csv, HEADER)

-- The extension ships the cancellation reasons; here they come from their
-- topic instead, as in the talk.
TRUNCATE rail.cancellation_reasons;

SELECT rail_stream.create_subscription('canx_reason_code', 'canx_reason_code',
                                       'reference:cancellation_reasons');
SELECT rail_stream.create_subscription('cif_full_daily', 'CIF_FULL_DAILY', 'cif');
-- the talk's alert_config topic: station -> threshold (and here a webhook)
SELECT rail_stream.create_subscription('alert_config', 'alert_config',
                                       'reference:rail_stream.alert_config');
SELECT rail_stream.create_subscription('train_mvt', 'networkrail_TRAIN_MVT', 'trust');
