/*-------------------------------------------------------------------------
 *
 * backfill.c
 *	  Movements that came before their train's activation, or before its
 *	  schedule, filled in when that comes.
 *
 * The enrichment triggers (enrich.c) join a TRUST movement to its train's
 * activation, and the activation to its schedule, when the movement is
 * written.  The feeds do not arrive in step: a movement may come before its
 * activation (another partition or worker, a topic replayed, a batch in
 * which it comes first), an activation before its schedule (the day's CIF
 * extract loaded later, a VSTP plan).  Such a movement is written with
 * schedule_key 'no_schedule_activation_found', or with its activation's
 * schedule_key and none of the schedule's columns (schedule_num_stops is
 * NULL: every schedule has num_stops), and waits.
 *
 * What changes.  When an activation is written (inserted or updated), the
 * movements of its run (below) that wait for one get its schedule_key and
 * train_uid and, if the schedule is there, power_type, train_category,
 * schedule_num_stops, origin_* and destination_*; the cancellations of the
 * run without a schedule_key get schedule_key and train_uid.  When a
 * schedule is written, the movements that carry its key without its
 * columns get them, if their run's activation still names it.  Nothing
 * else changes, but for the location and TOC name, looked up again as on
 * any update: the values are those of the same movement written after the
 * activation and the schedule (test/sql/14_backfill.sql compares the orders
 * column by column on the real samples).  A movement that found its
 * activation and schedule is never touched: an activation or schedule
 * changed later does not rewrite what was reported with it.
 *
 * How.  _backfill_from_activations() and _backfill_from_schedules() are
 * AFTER INSERT and AFTER UPDATE FOR EACH STATEMENT triggers with the new
 * rows as a transition table (sql/backfill.sql), so the back-fill runs in
 * the statement's transaction.  For each new row they probe an index that
 * holds only the rows that wait: rail.movements_waiting (schedule_key,
 * train_id) WHERE schedule_num_stops IS NULL, and rail.cancellations_waiting
 * (train_id) WHERE schedule_key IS NULL (a movement or cancellation
 * enriched on arrival never enters them), and check the run and, for a
 * schedule, the activation in C.  With nothing waiting that is all: one
 * index probe per new row, no query, no plan.  The rows found are then
 * written again by one UPDATE per table that sets schedule_key to itself,
 * by primary key: the BEFORE trigger "enrich" fills them from the tables
 * as they are, with the very code that enriches new movements.  That
 * UPDATE is planned when it runs (SPI, not kept), with the statistics and
 * number of keys of the moment: a plan kept from an empty table would
 * scan a large one.  Without its index (dropped), a probe scans the table.
 * What is known of the four tables (OIDs, column numbers, the index to
 * probe) is kept per session until a relcache invalidation of the table or
 * its index.
 *
 * Runs.  TRUST gives a train the same train_id on the same day of the next
 * month, and rail.activations keeps the latest row per train_id.  An
 * activation belongs to the messages of its train_id queued
 * (msg_queue_timestamp) at most a week before or after it, whichever
 * arrives first (rs_same_run(), used by enrich.c too): a movement does not
 * take last month's activation while its own is on the way, and a
 * month-old movement that never saw its activation is not given the next
 * run's.  When either time is missing (rows written without a TRUST
 * header), any activation of the train_id serves.
 *
 * Counts, exactly once.  The back-fill is an UPDATE of the movements, and
 * count_daily_update moves a count only when its key (UK day of
 * actual_timestamp, toc_id, variation_status) changes, which the back-fill
 * never does: no count moves.
 *
 * Alerts, exactly once.  raise_alerts_update fires for the back-filled
 * LATE movements as for any update.  An alert is unique per rule and movement,
 * so one raised when the movement came is not raised again; a rule that
 * matches the enriched movement and has not alerted for it alerts now (a
 * rule added while the movement waited, as on a correction).  An alert
 * raised before the activation came keeps what was known then ("an unknown
 * origin", the train_id for the UID), and was raised also for a train that
 * starts at the rule's station, which only the schedule tells: it may be
 * out already, and a late train is news while it is late.  Holding alerts
 * back until the activation comes would lose those whose activation never
 * comes (a subscription started after it) and delay the others.  The
 * talk's ksqlDB pipeline raises none without the schedule (its alert stream
 * is an inner join on the origin) and never revisits a movement; rail_stream
 * alerts at once, and never twice.
 *
 * Privileges.  The functions run as the role that writes the activation or
 * schedule, and the UPDATE is one that role could run itself: its
 * privileges and the row-level security policies of rail.movements and
 * rail.cancellations decide which rows it fills, so no role fills a row it
 * may not update.  A role that may not update schedule_key, or read the
 * key columns, fills none of the table's rows, and its own write goes on: a
 * cif or vstp subscription's owner needs GRANT UPDATE (schedule_key) ON
 * rail.movements for schedules to fill movements.  The probes read the
 * waiting rows' keys past row-level security, but only to name rows to the
 * UPDATE, whose policies apply.  A schedule fills movements only for a
 * role that reads rail.activations whole (SELECT, no row-level security):
 * the probe checks each movement's activation, which the enrich trigger,
 * reading as that role, must find too, or the movement would lose its key.
 * Nothing runs as the extension's owner but the counts and alerts
 * triggers, as on any update.  Each function checks that it fires AFTER
 * ... FOR EACH STATEMENT on its own table, with the new rows.
 *
 * Not covered: an activation and a movement of its train written at the
 * same time by two transactions (two workers of one subscription on
 * different partitions) do not see each other, and the movement keeps
 * waiting.  Keeping a train's messages on one partition avoids it.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/backfill.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "enrich.h"
#include "pg_compat.h"

PG_FUNCTION_INFO_V1(rs_backfill_from_activations);
PG_FUNCTION_INFO_V1(rs_backfill_from_schedules);

/* A column used, and the type it must have */
typedef struct Column
{
	const char *name;
	Oid			type;
} Column;

/* The columns used of each table: the primary key first */
enum
{
	MV_TRAIN_ID, MV_PLANNED_EVENT_TYPE, MV_LOC_STANOX,
	MV_SCHEDULE_KEY, MV_NUM_STOPS, MV_QUEUED,
	MV_NCOLS
};
static const Column movement_columns[MV_NCOLS] = {
	{"train_id", TEXTOID}, {"planned_event_type", TEXTOID},
	{"loc_stanox", TEXTOID}, {"schedule_key", TEXTOID},
	{"schedule_num_stops", INT4OID}, {"msg_queue_timestamp", TIMESTAMPTZOID}
};

enum
{
	CX_TRAIN_ID, CX_CANX_TIMESTAMP_MS, CX_LOC_STANOX,
	CX_SCHEDULE_KEY, CX_QUEUED,
	CX_NCOLS
};
static const Column cancellation_columns[CX_NCOLS] = {
	{"train_id", TEXTOID}, {"canx_timestamp_ms", INT8OID},
	{"loc_stanox", TEXTOID}, {"schedule_key", TEXTOID},
	{"msg_queue_timestamp", TIMESTAMPTZOID}
};

enum
{
	AC_TRAIN_ID, AC_SCHEDULE_KEY, AC_QUEUED,
	AC_NCOLS
};
static const Column activation_columns[AC_NCOLS] = {
	{"train_id", TEXTOID}, {"schedule_key", TEXTOID},
	{"msg_queue_timestamp", TIMESTAMPTZOID}
};

enum
{
	SC_SCHEDULE_KEY,
	SC_NCOLS
};
static const Column schedule_columns[SC_NCOLS] = {
	{"schedule_key", TEXTOID}
};

#define MAX_COLUMNS MV_NCOLS
#define KEY_COLUMNS 3			/* of the primary keys of movements and
								 * cancellations */

/* The tables of the back-fill, and how each is found and probed */
typedef enum BackfillTable
{
	BT_MOVEMENTS,
	BT_CANCELLATIONS,
	BT_ACTIVATIONS,
	BT_SCHEDULES,
	BT_COUNT
} BackfillTable;

static const struct
{
	const char *name;
	const Column *columns;
	int			ncolumns;
	const char *index;			/* NULL: the primary key */
	int			nprobed;		/* the index's first columns */
	int			probed[2];
}			table_specs[BT_COUNT] = {
	{"movements", movement_columns, MV_NCOLS, "movements_waiting", 2,
	{MV_SCHEDULE_KEY, MV_TRAIN_ID}},
	{"cancellations", cancellation_columns, CX_NCOLS, "cancellations_waiting", 1,
	{CX_TRAIN_ID}},
	{"activations", activation_columns, AC_NCOLS, NULL, 1, {AC_TRAIN_ID}},
	{"schedules", schedule_columns, SC_NCOLS, NULL, 0, {0}}
};

/*
 * What we know of a table, kept until a relcache invalidation of it or of
 * its index ("stale" is set by the callback, also while it is filled): its
 * OID, its columns' numbers and collations, and the index that finds rows
 * by the columns probed (InvalidOid: scan the table instead).
 */
typedef struct TableDef
{
	bool		valid;
	bool		stale;
	Oid			relid;
	Oid			index;
	AttrNumber	attnum[MAX_COLUMNS];
	Oid			collation[MAX_COLUMNS];
} TableDef;

static TableDef table_defs[BT_COUNT];
static bool callback_registered = false;

/* A table open for one trigger call */
typedef struct Table
{
	BackfillTable which;
	Relation	rel;
	TableDef   *def;
	bool		opened;			/* by us (not the trigger's own) */
} Table;

/* The rows to write again, by primary key, and the UPDATE that does */
typedef struct Found
{
	const char *update;
	Oid			keytypes[KEY_COLUMNS];
	ArrayBuildState *keys[KEY_COLUMNS];
	int			n;
} Found;

static const char update_movements[] =
	"UPDATE rail.movements m SET schedule_key = m.schedule_key"
	" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3))"
	" AS k(train_id, planned_event_type, loc_stanox)"
	" WHERE m.train_id OPERATOR(pg_catalog.=) k.train_id"
	" AND m.planned_event_type OPERATOR(pg_catalog.=) k.planned_event_type"
	" AND m.loc_stanox OPERATOR(pg_catalog.=) k.loc_stanox"
	" AND m.schedule_num_stops IS NULL";

static const char update_cancellations[] =
	"UPDATE rail.cancellations c SET schedule_key = c.schedule_key"
	" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3))"
	" AS k(train_id, canx_timestamp_ms, loc_stanox)"
	" WHERE c.train_id OPERATOR(pg_catalog.=) k.train_id"
	" AND c.canx_timestamp_ms OPERATOR(pg_catalog.=) k.canx_timestamp_ms"
	" AND c.loc_stanox OPERATOR(pg_catalog.=) k.loc_stanox"
	" AND c.schedule_key IS NULL";


/* a table or index changed: what we know of it may have */
static void
relcache_callback(Datum arg, Oid relid)
{
	for (int t = 0; t < BT_COUNT; t++)
	{
		if (relid != InvalidOid && relid != table_defs[t].relid &&
			relid != table_defs[t].index)
			continue;
		table_defs[t].valid = false;
		table_defs[t].stale = true;
	}
}

/* the OID of rail.<name>, which must exist */
static Oid
rail_table(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("rail", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"rail.%s\" does not exist", name)));
	return relid;
}

/*
 * table_def
 *		What we know of table t (see TableDef), looked up if need be.  Other
 *		sessions' committed changes are taken in first.
 */
static TableDef *
table_def(BackfillTable t)
{
	TableDef   *def = &table_defs[t];

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	AcceptInvalidationMessages();
	/* the OID only: open_table() describes the rest */
	if (!def->valid)
		def->relid = rail_table(table_specs[t].name);
	return def;
}

/*
 * begin_backfill
 *		Check that the call is an AFTER INSERT or UPDATE FOR EACH STATEMENT
 *		trigger of table t, with the new rows.
 */
static TriggerData *
begin_backfill(FunctionCallInfo fcinfo, BackfillTable t, const char *funcname)
{
	TriggerData *trigdata;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger function \"%s\" was not called by trigger manager",
						funcname)));
	trigdata = (TriggerData *) fcinfo->context;
	if (RelationGetRelid(trigdata->tg_relation) != table_def(t)->relid)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("trigger function \"%s\" only serves rail.%s",
						funcname, table_specs[t].name)));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)) ||
		trigdata->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("trigger function \"%s\" must be fired AFTER INSERT OR UPDATE FOR EACH STATEMENT with the new rows",
						funcname),
				 errhint("Give the trigger REFERENCING NEW TABLE AS new_rows.")));
	return trigdata;
}

/*
 * usable_index
 *		Whether index indexid is a valid btree whose first columns are the
 *		columns probed of table t, in order and with their collations.
 */
static bool
usable_index(BackfillTable t, TableDef *def, Oid indexid)
{
	Relation	index = index_open(indexid, AccessShareLock);
	bool		usable = (index->rd_rel->relam == BTREE_AM_OID &&
						  index->rd_index->indisvalid &&
						  index->rd_index->indnkeyatts >= table_specs[t].nprobed);

	for (int i = 0; usable && i < table_specs[t].nprobed; i++)
	{
		int			col = table_specs[t].probed[i];

		usable = (index->rd_index->indkey.values[i] == def->attnum[col] &&
				  index->rd_indcollation[i] == def->collation[col]);
	}
	index_close(index, AccessShareLock);
	return usable;
}

/*
 * describe_table
 *		Fill def from the open relation rel of table t: its columns, checked
 *		to exist with their types, and its index if usable.
 */
static void
describe_table(BackfillTable t, TableDef *def, Relation rel)
{
	const Column *columns = table_specs[t].columns;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			indexid;

	def->stale = false;
	def->relid = RelationGetRelid(rel);
	for (int i = 0; i < table_specs[t].ncolumns; i++)
	{
		AttrNumber	attnum = get_attnum(def->relid, columns[i].name);

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							columns[i].name, table_specs[t].name),
					 errdetail("The back-fill of late activations uses it.")));
		if (TupleDescAttr(desc, attnum - 1)->atttypid != columns[i].type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation \"%s\" is of type %s, not %s",
							columns[i].name, table_specs[t].name,
							format_type_be(TupleDescAttr(desc, attnum - 1)->atttypid),
							format_type_be(columns[i].type)),
					 errdetail("The back-fill of late activations uses it.")));
		def->attnum[i] = attnum;
		def->collation[i] = TupleDescAttr(desc, attnum - 1)->attcollation;
	}
	def->index = InvalidOid;
	indexid = table_specs[t].index ?
		get_relname_relid(table_specs[t].index, RelationGetNamespace(rel)) :
		rs_RelationGetPrimaryKeyIndex(rel);
	if (OidIsValid(indexid) && usable_index(t, def, indexid))
		def->index = indexid;
	def->valid = !def->stale;
}

/*
 * open_table
 *		Table t for this call: "own" if it is the trigger's (already open),
 *		else opened here.
 */
static void
open_table(Table *table, BackfillTable t, Relation own)
{
	TableDef   *def = table_def(t);

	table->which = t;
	table->opened = (own == NULL);
	table->rel = own ? own : table_open(def->relid, AccessShareLock);
	table->def = def;
	/* the lock took in invalidations */
	if (!def->valid || def->relid != RelationGetRelid(table->rel))
		describe_table(t, def, table->rel);
}

static void
close_table(Table *table)
{
	if (table->opened)
		table_close(table->rel, NoLock);
}

/*
 * may
 *		Whether the current user may use (mode) the columns "cols" of t, by
 *		the table's privileges or the columns'.
 */
static bool
may(Table *t, AclMode mode, int ncols, const int *cols)
{
	Oid			relid = RelationGetRelid(t->rel);
	Oid			userid = GetUserId();

	if (pg_class_aclcheck(relid, userid, mode) == ACLCHECK_OK)
		return true;
	for (int i = 0; i < ncols; i++)
		if (pg_attribute_aclcheck(relid, t->def->attnum[cols[i]], userid, mode) != ACLCHECK_OK)
			return false;
	return true;
}

/*
 * may_write_again
 *		Whether the current user may run the UPDATE of t that writes rows
 *		again: UPDATE of schedule_key, SELECT of it and of what the UPDATE
 *		reads (the primary key, and "waiting", the column that says a row
 *		waits).
 */
static bool
may_write_again(Table *t, int schedule_key, int waiting)
{
	int			read[KEY_COLUMNS + 2] = {0, 1, 2, schedule_key, waiting};

	return may(t, ACL_UPDATE, 1, &schedule_key) &&
		may(t, ACL_SELECT, lengthof(read), read);
}

/*
 * begin_probe
 *		A scan of the rows of t visible to snapshot whose first nkeys columns
 *		probed (see table_specs) equal keys (text), through t's index if
 *		usable.
 */
static SysScanDesc
begin_probe(Table *t, Snapshot snapshot, int nkeys, const Datum *keys)
{
	const int  *probed = table_specs[t->which].probed;
	ScanKeyData skeys[lengthof(table_specs[0].probed)];

	Assert(nkeys <= table_specs[t->which].nprobed);
	for (int i = 0; i < nkeys; i++)
		ScanKeyEntryInitialize(&skeys[i], 0, t->def->attnum[probed[i]],
							   BTEqualStrategyNumber, InvalidOid,
							   t->def->collation[probed[i]], F_TEXTEQ, keys[i]);
	return systable_beginscan(t->rel, t->def->index, OidIsValid(t->def->index),
							  snapshot, nkeys, skeys);
}

/* a column of a row found by a probe */
static Datum
column_of(Table *t, HeapTuple tuple, int col, bool *isnull)
{
	return heap_getattr(tuple, t->def->attnum[col], RelationGetDescr(t->rel), isnull);
}

/* whether a row queued at (queued, queued_null) is of the activation's run */
static bool
of_run(Datum activation, bool activation_null, Datum queued, bool queued_null)
{
	return activation_null || queued_null ||
		rs_same_run(DatumGetTimestampTz(activation), DatumGetTimestampTz(queued));
}

static void
init_found(Found *f, const char *update, Oid keytype2)
{
	f->update = update;
	f->keytypes[0] = TEXTOID;
	f->keytypes[1] = keytype2;
	f->keytypes[2] = TEXTOID;
	for (int i = 0; i < KEY_COLUMNS; i++)
		f->keys[i] = initArrayResult(f->keytypes[i], CurrentMemoryContext, false);
	f->n = 0;
}

/* remember the primary key (the first columns of t) of a row found */
static void
add_found(Found *f, Table *t, HeapTuple tuple)
{
	for (int i = 0; i < KEY_COLUMNS; i++)
	{
		bool		isnull;
		Datum		value = column_of(t, tuple, i, &isnull);

		accumArrayResult(f->keys[i], value, isnull, f->keytypes[i],
						 CurrentMemoryContext);
	}
	f->n++;
}

/*
 * write_again
 *		Run the UPDATE that writes the rows found again, as the current
 *		user, planned now.
 */
static void
write_again(Found *f)
{
	Datum		values[KEY_COLUMNS];
	Oid			argtypes[KEY_COLUMNS];
	int			ret;

	if (f->n == 0)
		return;
	for (int i = 0; i < KEY_COLUMNS; i++)
	{
		values[i] = makeArrayResult(f->keys[i], CurrentMemoryContext);
		argtypes[i] = get_array_type(f->keytypes[i]);
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(f->update, KEY_COLUMNS, argtypes, values,
								NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s",
			 SPI_result_code_string(ret));
	SPI_finish();
}

/*
 * begin_new_rows
 *		A slot for the rows of the trigger's transition table, read from
 *		the start with a read pointer of our own (others may read it too).
 */
static TupleTableSlot *
begin_new_rows(TriggerData *trigdata)
{
	Tuplestorestate *rows = trigdata->tg_newtable;

	tuplestore_select_read_pointer(rows,
								   tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND));
	tuplestore_rescan(rows);
	return MakeSingleTupleTableSlot(RelationGetDescr(trigdata->tg_relation),
									&TTSOpsMinimalTuple);
}

/*
 * waiting_of_run
 *		Into f, the rows of t that the probe (nkeys, keys) finds, that wait
 *		(column "waiting" is NULL) and are of the run of the activation
 *		queued at (queued, queued_null) (their time in column "tqueued").
 */
static void
waiting_of_run(Table *t, Snapshot snapshot, int nkeys, const Datum *keys,
			   int waiting, int tqueued, Datum queued, bool queued_null,
			   Found *f)
{
	SysScanDesc scan = begin_probe(t, snapshot, nkeys, keys);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		waiting_null;
		bool		row_queued_null;
		Datum		row_queued;

		(void) column_of(t, tuple, waiting, &waiting_null);
		row_queued = column_of(t, tuple, tqueued, &row_queued_null);
		if (waiting_null && of_run(queued, queued_null, row_queued, row_queued_null))
			add_found(f, t, tuple);
	}
	systable_endscan(scan);
}

/*
 * rail._backfill_from_activations(): the movements and cancellations of
 * the new activations' runs that wait for them.
 */
Datum
rs_backfill_from_activations(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = begin_backfill(fcinfo, BT_ACTIVATIONS,
										   "_backfill_from_activations");
	Table		a;
	Table		m;
	Table		c;
	bool		movements;
	bool		cancellations;
	Found		mfound;
	Found		cfound;
	Datum		mkeys[2];
	TupleTableSlot *slot;
	Snapshot	snapshot;

	/* an INSERT ... ON CONFLICT fires the INSERT and the UPDATE triggers */
	if (tuplestore_tuple_count(trigdata->tg_newtable) == 0)
		PG_RETURN_POINTER(NULL);
	open_table(&a, BT_ACTIVATIONS, trigdata->tg_relation);
	open_table(&m, BT_MOVEMENTS, NULL);
	open_table(&c, BT_CANCELLATIONS, NULL);
	movements = may_write_again(&m, MV_SCHEDULE_KEY, MV_NUM_STOPS);
	cancellations = may_write_again(&c, CX_SCHEDULE_KEY, CX_SCHEDULE_KEY);
	init_found(&mfound, update_movements, TEXTOID);
	init_found(&cfound, update_cancellations, INT8OID);
	mkeys[0] = CStringGetTextDatum(RS_NO_ACTIVATION);

	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	slot = begin_new_rows(trigdata);
	while ((movements || cancellations) &&
		   tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
	{
		bool		train_id_null;
		bool		key_null;
		bool		queued_null;
		Datum		train_id = slot_getattr(slot, a.def->attnum[AC_TRAIN_ID], &train_id_null);
		Datum		queued = slot_getattr(slot, a.def->attnum[AC_QUEUED], &queued_null);

		(void) slot_getattr(slot, a.def->attnum[AC_SCHEDULE_KEY], &key_null);
		if (train_id_null || key_null)
			continue;
		mkeys[1] = train_id;
		if (movements)
			waiting_of_run(&m, snapshot, 2, mkeys, MV_NUM_STOPS, MV_QUEUED,
						   queued, queued_null, &mfound);
		if (cancellations)
			waiting_of_run(&c, snapshot, 1, &train_id, CX_SCHEDULE_KEY, CX_QUEUED,
						   queued, queued_null, &cfound);
	}
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);

	write_again(&mfound);
	write_again(&cfound);
	close_table(&a);
	close_table(&m);
	close_table(&c);
	PG_RETURN_POINTER(NULL);
}

/*
 * activation_names
 *		Whether the activation of the movement's train_id has schedule_key
 *		"key" and is of the movement's run: the movement keeps that key when
 *		written again.
 */
static bool
activation_names(Table *a, Snapshot snapshot, Table *m, HeapTuple movement,
				 Datum key)
{
	bool		isnull;
	Datum		train_id = column_of(m, movement, MV_TRAIN_ID, &isnull);
	SysScanDesc scan = begin_probe(a, snapshot, 1, &train_id);
	HeapTuple	activation = systable_getnext(scan);
	bool		names = false;

	if (HeapTupleIsValid(activation))
	{
		bool		akey_null;
		bool		aqueued_null;
		bool		mqueued_null;
		Datum		akey = column_of(a, activation, AC_SCHEDULE_KEY, &akey_null);
		Datum		aqueued = column_of(a, activation, AC_QUEUED, &aqueued_null);
		Datum		mqueued = column_of(m, movement, MV_QUEUED, &mqueued_null);

		names = (!akey_null &&
				 DatumGetBool(DirectFunctionCall2Coll(texteq,
													  a->def->collation[AC_SCHEDULE_KEY],
													  akey, key)) &&
				 of_run(aqueued, aqueued_null, mqueued, mqueued_null));
	}
	systable_endscan(scan);
	return names;
}

/*
 * rail._backfill_from_schedules(): the movements that carry a new
 * schedule's key without its columns.
 */
Datum
rs_backfill_from_schedules(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = begin_backfill(fcinfo, BT_SCHEDULES,
										   "_backfill_from_schedules");
	Table		s;
	Table		m;
	Table		a;
	Found		found;
	TupleTableSlot *slot;
	Snapshot	snapshot;

	if (tuplestore_tuple_count(trigdata->tg_newtable) == 0)
		PG_RETURN_POINTER(NULL);
	open_table(&s, BT_SCHEDULES, trigdata->tg_relation);
	open_table(&m, BT_MOVEMENTS, NULL);
	open_table(&a, BT_ACTIVATIONS, NULL);
	/* the activations are read as enrich.c reads them for this user */
	if (!may_write_again(&m, MV_SCHEDULE_KEY, MV_NUM_STOPS) ||
		pg_class_aclcheck(RelationGetRelid(a.rel), GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		check_enable_rls(RelationGetRelid(a.rel), InvalidOid, false) == RLS_ENABLED)
	{
		close_table(&s);
		close_table(&m);
		close_table(&a);
		PG_RETURN_POINTER(NULL);
	}
	init_found(&found, update_movements, TEXTOID);

	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	slot = begin_new_rows(trigdata);
	while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
	{
		bool		key_null;
		Datum		key = slot_getattr(slot, s.def->attnum[SC_SCHEDULE_KEY], &key_null);
		SysScanDesc scan;
		HeapTuple	tuple;

		if (key_null)
			continue;
		scan = begin_probe(&m, snapshot, 1, &key);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			bool		stops_null;

			(void) column_of(&m, tuple, MV_NUM_STOPS, &stops_null);
			if (stops_null && activation_names(&a, snapshot, &m, tuple, key))
				add_found(&found, &m, tuple);
		}
		systable_endscan(scan);
	}
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);

	write_again(&found);
	close_table(&s);
	close_table(&m);
	close_table(&a);
	PG_RETURN_POINTER(NULL);
}
