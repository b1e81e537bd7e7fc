
-- Late activations and schedules: the movements that waited for them -------
--
-- A movement written before its train's activation gets schedule_key
-- 'no_schedule_activation_found', and one written before the activation's
-- schedule gets the key without the schedule's columns.  When the
-- activation or the schedule comes, the triggers below fill those
-- movements (and the cancellations waiting for the activation) in the
-- same transaction, with what they get when written after it: counts do
-- not move, alerts are not raised twice.  The trigger functions are in C
-- (src/backfill.c, whose header has the design).  They run as the role
-- that writes the activation or schedule, and fill only rows that role may
-- update: a cif or vstp subscription's owner needs GRANT UPDATE
-- (schedule_key) ON rail.movements for its schedules to fill movements.

-- The rows that wait, and only those: a row enriched on arrival never
-- enters these indexes.
CREATE INDEX movements_waiting ON rail.movements (schedule_key, train_id)
    WHERE schedule_num_stops IS NULL;
CREATE INDEX cancellations_waiting ON rail.cancellations (train_id)
    WHERE schedule_key IS NULL;

CREATE FUNCTION rail._backfill_from_activations() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_backfill_from_activations';

CREATE FUNCTION rail._backfill_from_schedules() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'rs_backfill_from_schedules';

REVOKE EXECUTE ON FUNCTION rail._backfill_from_activations(),
    rail._backfill_from_schedules() FROM PUBLIC;

-- a trigger with transition tables serves one event
CREATE TRIGGER backfill_insert AFTER INSERT ON rail.activations
    REFERENCING NEW TABLE AS new_activations
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_activations();
CREATE TRIGGER backfill_update AFTER UPDATE ON rail.activations
    REFERENCING NEW TABLE AS new_activations
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_activations();
CREATE TRIGGER backfill_insert AFTER INSERT ON rail.schedules
    REFERENCING NEW TABLE AS new_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_schedules();
CREATE TRIGGER backfill_update AFTER UPDATE ON rail.schedules
    REFERENCING NEW TABLE AS new_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION rail._backfill_from_schedules();
