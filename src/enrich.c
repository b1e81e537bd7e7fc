/*-------------------------------------------------------------------------
 *
 * enrich.c
 *	  The enrichment triggers of the rail tables, in C.
 *
 * rail._enrich_movement(), _enrich_cancellation(), _enrich_activation()
 * and _enrich_schedule() are BEFORE INSERT OR UPDATE FOR EACH ROW trigger
 * functions (the triggers named "enrich" in sql/enrichment.sql).  They fill
 * the same columns, with the same values, as the PL/pgSQL functions they
 * replace, whose queries are the SQL helpers rail._location_by_stanox(),
 * rail._location_by_tiploc() and rail_stream.toc_name(); those took 100 to
 * 300 microseconds a movement, these under ten (bench/enrich/).
 *
 * Small lookup tables: cached.  rail.locations (by STANOX and by TIPLOC,
 * keeping per key the row that the helpers' ORDER BY crs IS NULL, latitude
 * IS NULL, location_id puts first, with the name coalesce(nullif(name, ''),
 * description)), rail.tiplocs (tps_description by TIPLOC: the name of a
 * TIPLOC the location master lacks or leaves unnamed), rail.toc_sectors and
 * rail.cancellation_reasons are read whole, on first use, into hash tables
 * in a memory context of their own, one per table.  The hash tables compare
 * keys as bytes, as "=" does under the deterministic collations (a table
 * whose key column has another is queried instead).
 *
 * Invalidation.  DML sends no relcache invalidation, so each cached table
 * has an AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE FOR EACH STATEMENT
 * trigger running rail._lookup_changed().  It marks this backend's cache of
 * the table stale (the next row rebuilds it, seeing the change), and, once
 * per transaction, registers a relcache invalidation of the table: the
 * other backends get it when the transaction commits, and our relcache
 * callback marks their cache stale.  Once is enough, as the message goes
 * out at commit; more would cost, as each makes every backend rebuild the
 * table's relcache entry and replan what uses it (the location master,
 * loaded row by row through rail.locations_csv, loaded ten times slower).
 * Aborts: this backend executes the registered invalidation again when the
 * (sub)transaction that registered it aborts; a subtransaction or
 * transaction abort also marks stale the caches of tables changed in the
 * transaction, which may hold the aborted changes; an invalidation
 * registered by an aborted subtransaction is registered again by the next
 * change.  Before each row we call AcceptInvalidationMessages(), so a
 * commit made by another session is used from the next row on, as by the
 * old triggers' fresh snapshot per query (short of the instant between a
 * commit becoming visible and its invalidation being sent).  A cache is
 * built, after processing the pending invalidations, with the snapshot a
 * PL/pgSQL query would take there: it holds the transaction's own changes
 * (dropped again at abort), and never misses a commit whose invalidation
 * it has not yet received.  An invalidation that arrives while a cache is
 * being built leaves it stale: the row that built it uses it (its snapshot
 * predates that change, as a query's would), the next one rebuilds.  A
 * cache holds the latest committed data, not a transaction snapshot's: in
 * REPEATABLE READ and SERIALIZABLE transactions (which also take predicate
 * locks on what they read) the cached tables are queried instead.
 *
 * Not seen: changes made with the trigger disabled (ALTER TABLE ... DISABLE
 * TRIGGER lookup_changed, session_replication_role = replica, which
 * includes logical replication's apply workers), until the next change
 * that fires it or the next relcache invalidation of the table (ALTER
 * TABLE, VACUUM, ANALYZE) in each backend.
 *
 * Large tables: looked up.  rail.activations (by train_id) and
 * rail.schedules (by schedule_key) change all the time; each row looks its
 * key up with an index scan of the table's primary key, under a registered
 * copy of the snapshot the PL/pgSQL query would have used: the transaction
 * snapshot (fresh in READ COMMITTED) whose command id also sees the current
 * command's changes, as PL/pgSQL's CommandCounterIncrement before each query
 * did.
 *
 * Runs.  TRUST gives a train the same train_id on the same day of the next
 * month, and rail.activations keeps the latest row per train_id: a
 * movement or cancellation takes the activation of its train_id only if
 * they were queued (msg_queue_timestamp) at most a week apart
 * (rs_same_run()), else it is written as if there were none, and waits for
 * its own.  The back-fill (backfill.c) fills such rows when their
 * activation or schedule comes, by writing them again: this trigger then
 * computes their values, so that they are what the row gets when written
 * after them.
 *
 * Privileges.  The functions run as the invoker, like the PL/pgSQL ones: a
 * table is used through the cache or the index only if the current user may
 * SELECT from it and row-level security does not apply to it; otherwise
 * the row runs the old query through SPI, which then fails with "permission
 * denied for table ..." or returns what the policies let through, exactly
 * as before (column privileges included).
 *
 * Values found are copied into the trigger call's memory: processing
 * invalidations (any lock or catalog access may) can make a cache rebuild,
 * and free, what an earlier lookup of the same row pointed into.
 *
 * Columns are found by name in the tuple descriptors (users may add
 * columns), with their types checked, and remembered per relation until its
 * next relcache invalidation; the new row is built with
 * heap_modify_tuple_by_cols().  Each trigger function checks that it fires
 * BEFORE INSERT OR UPDATE FOR EACH ROW on its own table.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/enrich.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "enrich.h"
#include "pg_compat.h"

PG_FUNCTION_INFO_V1(rs_enrich_movement);
PG_FUNCTION_INFO_V1(rs_enrich_cancellation);
PG_FUNCTION_INFO_V1(rs_enrich_activation);
PG_FUNCTION_INFO_V1(rs_enrich_schedule);
PG_FUNCTION_INFO_V1(rs_lookup_changed);

/* The tables involved, all in schema rail */
typedef enum RailTable
{
	RT_MOVEMENTS,
	RT_CANCELLATIONS,
	RT_ACTIVATIONS,
	RT_SCHEDULES,
	RT_LOCATIONS,
	RT_TIPLOCS,
	RT_TOC_SECTORS,
	RT_CANCELLATION_REASONS,
	RT_COUNT
} RailTable;

static const char *const rail_table_names[RT_COUNT] = {
	"movements", "cancellations", "activations", "schedules",
	"locations", "tiplocs", "toc_sectors", "cancellation_reasons"
};

/* A column used, and the type it must have */
typedef struct ColumnSpec
{
	const char *name;
	Oid			type;
} ColumnSpec;

/*
 * The columns used of each table, in an order that the enums below name.
 * Trigger tables: the key columns read, then the columns written.  Looked-up
 * tables: the key, then the columns returned, in the order of the columns
 * they fill.
 */
enum
{
	MV_LOC_STANOX, MV_TOC_ID, MV_TRAIN_ID, MV_MSG_QUEUE_TIMESTAMP,
	MV_LOC_NAME, MV_LOC_TIPLOC, MV_LOC_CRS, MV_LOC_LAT, MV_LOC_LON,
	MV_TOC_NAME, MV_SCHEDULE_KEY, MV_TRAIN_UID,
	MV_POWER_TYPE, MV_TRAIN_CATEGORY, MV_NUM_STOPS, MV_ORIGIN_TIPLOC,
	MV_ORIGIN_NAME, MV_ORIGIN_PUBLIC_DEPARTURE, MV_DESTINATION_TIPLOC,
	MV_DESTINATION_NAME, MV_DESTINATION_PUBLIC_ARRIVAL,
	MV_NCOLS
};
#define MV_FIRST_OUTPUT MV_LOC_NAME

static const ColumnSpec movement_columns[MV_NCOLS] = {
	{"loc_stanox", TEXTOID}, {"toc_id", TEXTOID}, {"train_id", TEXTOID},
	{"msg_queue_timestamp", TIMESTAMPTZOID},
	{"loc_name", TEXTOID}, {"loc_tiploc", TEXTOID}, {"loc_crs", TEXTOID},
	{"loc_lat", FLOAT8OID}, {"loc_lon", FLOAT8OID},
	{"toc_name", TEXTOID}, {"schedule_key", TEXTOID}, {"train_uid", TEXTOID},
	{"power_type", TEXTOID}, {"train_category", TEXTOID},
	{"schedule_num_stops", INT4OID}, {"origin_tiploc", TEXTOID},
	{"origin_name", TEXTOID}, {"origin_public_departure", TIMEOID},
	{"destination_tiploc", TEXTOID}, {"destination_name", TEXTOID},
	{"destination_public_arrival", TIMEOID}
};

enum
{
	CX_LOC_STANOX, CX_TOC_ID, CX_TRAIN_ID, CX_CANX_REASON_CODE,
	CX_MSG_QUEUE_TIMESTAMP,
	CX_TOC_NAME, CX_CANX_REASON, CX_CANX_ABBREV, CX_LOC_NAME, CX_LOC_TIPLOC,
	CX_LOC_LAT, CX_LOC_LON, CX_SCHEDULE_KEY, CX_TRAIN_UID,
	CX_NCOLS
};
#define CX_FIRST_OUTPUT CX_TOC_NAME

static const ColumnSpec cancellation_columns[CX_NCOLS] = {
	{"loc_stanox", TEXTOID}, {"toc_id", TEXTOID}, {"train_id", TEXTOID},
	{"canx_reason_code", TEXTOID}, {"msg_queue_timestamp", TIMESTAMPTZOID},
	{"toc_name", TEXTOID}, {"canx_reason", TEXTOID}, {"canx_abbrev", TEXTOID},
	{"loc_name", TEXTOID}, {"loc_tiploc", TEXTOID},
	{"loc_lat", FLOAT8OID}, {"loc_lon", FLOAT8OID},
	{"schedule_key", TEXTOID}, {"train_uid", TEXTOID}
};

enum
{
	AC_SCHED_ORIGIN_STANOX, AC_TOC_ID,
	AC_SCHED_ORIGIN_NAME, AC_SCHED_ORIGIN_TIPLOC, AC_SCHED_ORIGIN_LAT,
	AC_SCHED_ORIGIN_LON, AC_TOC_NAME,
	AC_NCOLS
};
#define AC_FIRST_OUTPUT AC_SCHED_ORIGIN_NAME

static const ColumnSpec activation_columns[AC_NCOLS] = {
	{"sched_origin_stanox", TEXTOID}, {"toc_id", TEXTOID},
	{"sched_origin_name", TEXTOID}, {"sched_origin_tiploc", TEXTOID},
	{"sched_origin_lat", FLOAT8OID}, {"sched_origin_lon", FLOAT8OID},
	{"toc_name", TEXTOID}
};

enum
{
	SC_ORIGIN_TIPLOC, SC_DESTINATION_TIPLOC,
	SC_ORIGIN_NAME, SC_ORIGIN_LAT, SC_ORIGIN_LON,
	SC_DESTINATION_NAME, SC_DESTINATION_LAT, SC_DESTINATION_LON,
	SC_NCOLS
};
#define SC_FIRST_OUTPUT SC_ORIGIN_NAME

static const ColumnSpec schedule_columns[SC_NCOLS] = {
	{"origin_tiploc", TEXTOID}, {"destination_tiploc", TEXTOID},
	{"origin_name", TEXTOID}, {"origin_lat", FLOAT8OID},
	{"origin_lon", FLOAT8OID}, {"destination_name", TEXTOID},
	{"destination_lat", FLOAT8OID}, {"destination_lon", FLOAT8OID}
};

/*
 * rail.activations by train_id: schedule_key, train_uid, and the time
 * that tells whether the activation is of the message's run
 */
enum
{
	ACT_SCHEDULE_KEY, ACT_TRAIN_UID, ACT_MSG_QUEUE_TIMESTAMP,
	ACTIVATION_NVALUES
};
static const ColumnSpec activation_lookup_columns[1 + ACTIVATION_NVALUES] = {
	{"train_id", TEXTOID}, {"schedule_key", TEXTOID}, {"train_uid", TEXTOID},
	{"msg_queue_timestamp", TIMESTAMPTZOID}
};

/*
 * An activation serves the messages of its train_id queued at most a week
 * before or after it: TRUST gives a train the same train_id on the same
 * day of the next month.
 */
#define SAME_RUN_USECS	((int64) 7 * USECS_PER_DAY)

/* rail.schedules by schedule_key: what a movement takes, in its order */
#define SCHEDULE_NVALUES 9
static const ColumnSpec schedule_lookup_columns[1 + SCHEDULE_NVALUES] = {
	{"schedule_key", TEXTOID},
	{"power_type_desc", TEXTOID}, {"train_category_desc", TEXTOID},
	{"num_stops", INT4OID}, {"origin_tiploc", TEXTOID},
	{"origin_name", TEXTOID}, {"origin_public_departure", TIMEOID},
	{"destination_tiploc", TEXTOID}, {"destination_name", TEXTOID},
	{"destination_public_arrival", TIMEOID}
};

enum
{
	LOC_LOCATION_ID, LOC_NAME, LOC_DESCRIPTION, LOC_TIPLOC, LOC_CRS, LOC_STANOX,
	LOC_LATITUDE, LOC_LONGITUDE,
	LOC_NCOLS
};

static const ColumnSpec location_columns[LOC_NCOLS] = {
	{"location_id", INT4OID}, {"name", TEXTOID}, {"description", TEXTOID},
	{"tiploc", TEXTOID}, {"crs", TEXTOID}, {"stanox", TEXTOID},
	{"latitude", FLOAT8OID}, {"longitude", FLOAT8OID}
};

/* the small tables: a key and up to two values */
static const ColumnSpec tiploc_columns[2] = {
	{"tiploc_code", TEXTOID}, {"tps_description", TEXTOID}
};
static const ColumnSpec toc_sector_columns[2] = {
	{"toc_id", TEXTOID}, {"toc_name", TEXTOID}
};
static const ColumnSpec cancellation_reason_columns[3] = {
	{"canx_reason_code", TEXTOID}, {"canx_reason", TEXTOID},
	{"canx_abbrev", TEXTOID}
};

/*
 * The sets of columns used: of the four trigger tables, of the two
 * looked-up ones, of the four cached ones.
 */
typedef enum ColumnSet
{
	CS_MOVEMENT,
	CS_CANCELLATION,
	CS_ACTIVATION,
	CS_SCHEDULE,
	CS_ACTIVATION_LOOKUP,
	CS_SCHEDULE_LOOKUP,
	CS_LOCATIONS,
	CS_TIPLOCS,
	CS_TOC_SECTORS,
	CS_CANCELLATION_REASONS,
	CS_COUNT
} ColumnSet;

static const struct
{
	RailTable	table;
	const ColumnSpec *columns;
	int			ncolumns;
}			column_sets[CS_COUNT] = {
	{RT_MOVEMENTS, movement_columns, MV_NCOLS},
	{RT_CANCELLATIONS, cancellation_columns, CX_NCOLS},
	{RT_ACTIVATIONS, activation_columns, AC_NCOLS},
	{RT_SCHEDULES, schedule_columns, SC_NCOLS},
	{RT_ACTIVATIONS, activation_lookup_columns, 1 + ACTIVATION_NVALUES},
	{RT_SCHEDULES, schedule_lookup_columns, 1 + SCHEDULE_NVALUES},
	{RT_LOCATIONS, location_columns, LOC_NCOLS},
	{RT_TIPLOCS, tiploc_columns, 2},
	{RT_TOC_SECTORS, toc_sector_columns, 2},
	{RT_CANCELLATION_REASONS, cancellation_reason_columns, 3}
};

/* the set of the columns of a cached table */
static const ColumnSet cached_set[RT_COUNT] = {
	[RT_LOCATIONS] = CS_LOCATIONS,
	[RT_TIPLOCS] = CS_TIPLOCS,
	[RT_TOC_SECTORS] = CS_TOC_SECTORS,
	[RT_CANCELLATION_REASONS] = CS_CANCELLATION_REASONS
};

#define MAX_COLUMNS MV_NCOLS

/*
 * What we know of a table: its OID, the attribute numbers of the columns
 * used, and for the looked-up tables the primary key index to scan
 * (InvalidOid: no usable one, query instead).  "stale" is set by the
 * relcache callback, also while the entry is being filled.
 */
typedef struct TableInfo
{
	bool		valid;
	bool		stale;
	Oid			relid;
	AttrNumber	attnum[MAX_COLUMNS];
	Oid			keyindex;
	Oid			keycollation;
} TableInfo;

static Oid	rail_relids[RT_COUNT];
static bool rail_relids_valid = false;
static bool rail_relids_stale = false;
static TableInfo table_info[CS_COUNT];

/* A hash key: the bytes of a text value, not copied for lookups */
typedef struct StrKey
{
	const char *data;
	int			len;
} StrKey;

/* A location of rail.locations, as the helpers return it */
typedef struct LocationEntry
{
	StrKey		key;
	int32		location_id;	/* for the tie-break */
	bool		crs_is_null;
	bool		lat_is_null;
	text	   *tiploc;			/* NULL pointer: SQL NULL */
	text	   *crs;
	text	   *name;			/* coalesce(nullif(name, ''), description) */
	double		latitude;
	double		longitude;
	bool		lon_is_null;
} LocationEntry;

/* An entry of a small table */
typedef struct ValueEntry
{
	StrKey		key;
	text	   *value[2];
} ValueEntry;

typedef struct LookupCache
{
	bool		valid;
	bool		stale;			/* invalidated (also while being built) */
	MemoryContext cxt;			/* everything below; freed at the next build */
	bool		bytewise;		/* its keys compare as bytes (else not used) */
	HTAB	   *hash;			/* locations: by STANOX */
	HTAB	   *hash2;			/* locations: by TIPLOC */
} LookupCache;

static LookupCache caches[RT_COUNT];	/* the four cached tables' only */
static bool callback_registered = false;

/*
 * The relcache invalidation that _lookup_changed() registered for a cached
 * table in the current transaction, if any: which transaction, and which
 * (sub)transaction's invalidation list holds it now (InvalidSubTransactionId
 * when that one aborted and discarded it).
 */
typedef struct ChangeRecord
{
	LocalTransactionId lxid;
	SubTransactionId subid;
} ChangeRecord;

static ChangeRecord registered[RT_COUNT];

/*
 * The verdict of readable() for each table, for one user in one security
 * context and setting of row_security: it depends besides only on the
 * table's pg_class row (ACL, owner, row security flags, whose changes send
 * a relcache invalidation of the table) and on roles (membership,
 * superuser, BYPASSRLS: syscache invalidations of pg_auth_members and
 * pg_authid), which drop it.
 */
typedef struct ReadVerdict
{
	bool		valid;
	bool		stale;			/* invalidated while being found */
	bool		readable;
	Oid			relid;
	Oid			userid;
	int			sec_context;
	bool		row_security;
} ReadVerdict;

static ReadVerdict read_verdicts[RT_COUNT];

/* The old triggers' queries, for tables the fast path may not read */
typedef enum FallbackQuery
{
	Q_LOCATION_BY_STANOX,
	Q_LOCATION_BY_TIPLOC,
	Q_TOC_NAME,
	Q_CANCELLATION_REASON,
	Q_ACTIVATION,
	Q_SCHEDULE,
	Q_COUNT
} FallbackQuery;

static const char *const fallback_sql[Q_COUNT] = {
	"SELECT l.tiploc, l.crs, l.name, l.latitude, l.longitude"
	" FROM rail._location_by_stanox($1) l",
	"SELECT l.name, l.latitude, l.longitude"
	" FROM rail._location_by_tiploc($1) l",
	"SELECT rail_stream.toc_name($1)",
	"SELECT r.canx_reason, r.canx_abbrev FROM rail.cancellation_reasons r"
	" WHERE r.canx_reason_code OPERATOR(pg_catalog.=) $1",
	"SELECT a.schedule_key, a.train_uid, a.msg_queue_timestamp FROM rail.activations a"
	" WHERE a.train_id OPERATOR(pg_catalog.=) $1",
	"SELECT s.power_type_desc, s.train_category_desc, s.num_stops,"
	" s.origin_tiploc, s.origin_name, s.origin_public_departure,"
	" s.destination_tiploc, s.destination_name, s.destination_public_arrival"
	" FROM rail.schedules s WHERE s.schedule_key OPERATOR(pg_catalog.=) $1"
};
static SPIPlanPtr fallback_plans[Q_COUNT];

/* Location values as returned to a trigger */
typedef struct LocationResult
{
	Datum		tiploc;
	Datum		crs;
	Datum		name;
	Datum		latitude;
	Datum		longitude;
	bool		tiploc_null;
	bool		crs_null;
	bool		name_null;
	bool		latitude_null;
	bool		longitude_null;
} LocationResult;


/*
 * relcache_callback
 *		Mark stale what a relcache invalidation of relid (InvalidOid: of
 *		everything) may have changed.  Nothing is freed here: a cache's
 *		memory goes when it is rebuilt, so pointers into it taken by the
 *		current trigger call stay valid.
 */
static void
relcache_callback(Datum arg, Oid relid)
{
	for (int t = 0; t < RT_COUNT; t++)
	{
		if (relid != InvalidOid && relid != rail_relids[t])
			continue;
		rail_relids_valid = false;
		rail_relids_stale = true;
		caches[t].valid = false;
		caches[t].stale = true;
		read_verdicts[t].valid = false;
		read_verdicts[t].stale = true;
	}
	for (int cs = 0; cs < CS_COUNT; cs++)
	{
		if (relid != InvalidOid && relid != table_info[cs].relid)
			continue;
		table_info[cs].valid = false;
		table_info[cs].stale = true;
	}
}

/*
 * subxact_callback
 *		Follow the registered invalidations up to the parent when a
 *		subtransaction commits; forget them when it aborts.  An abort also
 *		drops the caches of the tables changed in the transaction: they may
 *		hold what the aborted subtransaction wrote.
 */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	for (int t = 0; t < RT_COUNT; t++)
	{
		if (registered[t].lxid != RS_MY_LXID)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB && registered[t].subid == mySubid)
			registered[t].subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			if (registered[t].subid == mySubid)
				registered[t].subid = InvalidSubTransactionId;
			caches[t].valid = false;
			caches[t].stale = true;
		}
	}
}

/*
 * xact_callback
 *		A transaction that changed cached tables aborted, or was prepared
 *		(and may be rolled back later, by any session): drop their caches.
 */
static void
xact_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	for (int t = 0; t < RT_COUNT; t++)
	{
		if (registered[t].lxid != RS_MY_LXID)
			continue;
		registered[t].lxid = InvalidLocalTransactionId;
		caches[t].valid = false;
		caches[t].stale = true;
	}
}

/* a role changed: the verdicts of readable() may have */
static void
roles_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	for (int t = 0; t < RT_COUNT; t++)
	{
		read_verdicts[t].valid = false;
		read_verdicts[t].stale = true;
	}
}

static void
register_callback(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, roles_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, roles_callback, (Datum) 0);
		RegisterSubXactCallback(subxact_callback, NULL);
		RegisterXactCallback(xact_callback, NULL);
		callback_registered = true;
	}
}

/*
 * resolve_relids
 *		The OIDs of the rail tables, looked up by name when unknown.
 */
static void
resolve_relids(void)
{
	Oid			nspid;
	Oid			relids[RT_COUNT];

	register_callback();
	if (rail_relids_valid)
		return;
	rail_relids_stale = false;
	nspid = get_namespace_oid("rail", false);
	for (int t = 0; t < RT_COUNT; t++)
	{
		relids[t] = get_relname_relid(rail_table_names[t], nspid);
		if (!OidIsValid(relids[t]))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"rail.%s\" does not exist",
							rail_table_names[t])));
	}
	memcpy(rail_relids, relids, sizeof(relids));
	rail_relids_valid = !rail_relids_stale;
}

/*
 * usable_key_index
 *		The primary key index of rel if it is a btree on the key column alone
 *		whose equality operator is text's; else InvalidOid.
 */
static Oid
usable_key_index(Relation rel, AttrNumber keyattnum, Oid *collation)
{
	Oid			indexoid = rs_RelationGetPrimaryKeyIndex(rel);
	Relation	index;
	Oid			result = InvalidOid;

	if (!OidIsValid(indexoid))
		return InvalidOid;
	index = index_open(indexoid, AccessShareLock);
	if (index->rd_rel->relam == BTREE_AM_OID &&
		index->rd_index->indnkeyatts == 1 &&
		index->rd_index->indkey.values[0] == keyattnum &&
		index->rd_index->indisvalid &&
		get_opfamily_member(index->rd_opfamily[0], TEXTOID, TEXTOID,
							BTEqualStrategyNumber) == TextEqualOperator)
	{
		result = indexoid;
		*collation = index->rd_indcollation[0];
	}
	index_close(index, AccessShareLock);
	return result;
}

/*
 * table_columns_of
 *		The attribute numbers of the column set cs, from the open relation
 *		rel, checked to exist with the expected types.
 */
static TableInfo *
table_columns_of(ColumnSet cs, Relation rel)
{
	TableInfo  *info = &table_info[cs];
	TupleDesc	desc = RelationGetDescr(rel);
	const ColumnSpec *spec = column_sets[cs].columns;
	int			ncols = column_sets[cs].ncolumns;

	if (info->valid && info->relid == RelationGetRelid(rel))
		return info;

	info->valid = false;
	info->stale = false;
	info->relid = RelationGetRelid(rel);
	for (int i = 0; i < ncols; i++)
	{
		int			attno;

		for (attno = 0; attno < desc->natts; attno++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, attno);

			if (!attr->attisdropped &&
				strcmp(NameStr(attr->attname), spec[i].name) == 0)
				break;
		}
		if (attno == desc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							spec[i].name, RelationGetRelationName(rel)),
					 errdetail("The enrichment triggers use it.")));
		if (TupleDescAttr(desc, attno)->atttypid != spec[i].type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation \"%s\" is of type %s, not %s",
							spec[i].name, RelationGetRelationName(rel),
							format_type_be(TupleDescAttr(desc, attno)->atttypid),
							format_type_be(spec[i].type)),
					 errdetail("The enrichment triggers use it.")));
		info->attnum[i] = attno + 1;
	}
	info->keyindex = InvalidOid;
	if (cs == CS_ACTIVATION_LOOKUP || cs == CS_SCHEDULE_LOOKUP)
		info->keyindex = usable_key_index(rel, info->attnum[0],
										  &info->keycollation);
	info->valid = !info->stale;
	return info;
}

/*
 * readable
 *		Whether the fast path may read table t for the current user: the
 *		user may SELECT from it and no row-level security applies; a cached
 *		table moreover only outside REPEATABLE READ and SERIALIZABLE.  When
 *		not, the caller runs the old query, which reads what the user may
 *		read or raises the error the old trigger raised.
 */
static bool
readable(RailTable t)
{
	ReadVerdict *v = &read_verdicts[t];
	Oid			relid = rail_relids[t];
	Oid			userid;
	int			sec_context;

	if (t != RT_ACTIVATIONS && t != RT_SCHEDULES && IsolationUsesXactSnapshot())
		return false;
	GetUserIdAndSecContext(&userid, &sec_context);
	if (v->valid && v->relid == relid && v->userid == userid &&
		v->sec_context == sec_context && v->row_security == row_security)
		return v->readable;

	v->valid = false;
	v->stale = false;
	v->readable = (pg_class_aclcheck(relid, userid, ACL_SELECT) == ACLCHECK_OK &&
				   check_enable_rls(relid, InvalidOid, false) != RLS_ENABLED);
	v->relid = relid;
	v->userid = userid;
	v->sec_context = sec_context;
	v->row_security = row_security;
	v->valid = !v->stale;
	return v->readable;
}

/*
 * lookup_snapshot
 *		The snapshot a PL/pgSQL query of the trigger would run with: the
 *		transaction snapshot (a fresh one in READ COMMITTED), whose command
 *		id also sees what the current command wrote, as after the
 *		CommandCounterIncrement() that SPI does before each query.  Registered
 *		(a private copy); the caller unregisters it.
 */
static Snapshot
lookup_snapshot(void)
{
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	snapshot->curcid = GetCurrentCommandId(false) + 1;
	return snapshot;
}

/* hash functions over StrKey */
static uint32
strkey_hash(const void *key, Size keysize)
{
	const StrKey *k = (const StrKey *) key;

	return hash_bytes((const unsigned char *) k->data, k->len);
}

static int
strkey_match(const void *key1, const void *key2, Size keysize)
{
	const StrKey *k1 = (const StrKey *) key1;
	const StrKey *k2 = (const StrKey *) key2;

	if (k1->len != k2->len)
		return 1;
	return memcmp(k1->data, k2->data, k1->len);
}

static HTAB *
strkey_hash_create(const char *name, Size entrysize, long nelem,
				   MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(StrKey);
	ctl.entrysize = entrysize;
	ctl.hash = strkey_hash;
	ctl.match = strkey_match;
	ctl.hcxt = cxt;
	return hash_create(name, nelem, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/* the bytes of a text datum, without copying when not compressed */
static inline StrKey
text_key(Datum value)
{
	text	   *t = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));
	StrKey		key;

	key.data = VARDATA_ANY(t);
	key.len = VARSIZE_ANY_EXHDR(t);
	return key;
}

/* a copy of a text datum in the current memory context, NULL for NULL */
static text *
copy_text(Datum value, bool isnull)
{
	struct varlena *t;
	text	   *copy;

	if (isnull)
		return NULL;
	t = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));
	copy = palloc(VARSIZE_ANY(t));
	memcpy(copy, t, VARSIZE_ANY(t));
	return copy;
}

/* a cached text value (NULL pointer: SQL NULL) as a datum of the caller */
static inline void
cached_text(text *value, Datum *datum, bool *isnull)
{
	*isnull = (value == NULL);
	*datum = *isnull ? (Datum) 0 : PointerGetDatum(copy_text(PointerGetDatum(value), false));
}

/* a datum of attribute attr, detoasted and copied into the current context */
static inline Datum
copy_value(Datum value, Form_pg_attribute attr)
{
	if (attr->attlen == -1)
		return PointerGetDatum(copy_text(value, false));
	return datumCopy(value, attr->attbyval, attr->attlen);
}

/* enter key into hash; a new entry's key is copied into the hash's context */
static void *
enter_key(HTAB *hash, StrKey key, MemoryContext cxt, bool *found)
{
	StrKey	   *entry = hash_search(hash, &key, HASH_ENTER, found);

	if (!*found)
	{
		char	   *copy = MemoryContextAlloc(cxt, key.len + 1);

		memcpy(copy, key.data, key.len);
		copy[key.len] = '\0';
		entry->data = copy;
	}
	return entry;
}

/* whether location a comes before b in the helpers' ORDER BY */
static inline bool
location_first(const LocationEntry *a, const LocationEntry *b)
{
	if (a->crs_is_null != b->crs_is_null)
		return !a->crs_is_null;
	if (a->lat_is_null != b->lat_is_null)
		return !a->lat_is_null;
	return a->location_id < b->location_id;
}

static void
location_store(HTAB *hash, StrKey key, const LocationEntry *row,
			   MemoryContext cxt)
{
	bool		found;
	LocationEntry *entry = enter_key(hash, key, cxt, &found);
	StrKey		entrykey = entry->key;

	if (found && !location_first(row, entry))
		return;
	*entry = *row;
	entry->key = entrykey;
}

/*
 * build_cache
 *		Read cached table t whole into a new memory context.
 */
static void
build_cache(RailTable t)
{
	LookupCache *cache = &caches[t];
	Relation	rel;
	TableInfo  *info;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	MemoryContext rowcxt;
	MemoryContext oldcxt;

	/* the lock processes invalidations: before the snapshot */
	rel = table_open(rail_relids[t], AccessShareLock);
	info = table_columns_of(cached_set[t], rel);

	/*
	 * The hash tables compare keys as bytes, as the old queries' "=" did
	 * under a deterministic collation; under another, the table is queried
	 * (as is the name, compared with '' by the helpers).
	 */
	cache->bytewise = true;
	for (int i = 0; i < column_sets[cached_set[t]].ncolumns; i++)
	{
		Oid			collation = TupleDescAttr(RelationGetDescr(rel),
											  info->attnum[i] - 1)->attcollation;
		bool		compared = (t == RT_LOCATIONS ?
								(i == LOC_STANOX || i == LOC_TIPLOC || i == LOC_NAME) :
								i == 0);

		if (compared && OidIsValid(collation) &&
			!get_collation_isdeterministic(collation))
			cache->bytewise = false;
	}

	if (cache->cxt != NULL)
		MemoryContextDelete(cache->cxt);
	cache->cxt = NULL;
	cache->hash = cache->hash2 = NULL;
	cache->valid = false;
	cache->stale = false;
	cache->cxt = AllocSetContextCreate(CacheMemoryContext,
									   "rail_stream enrichment cache",
									   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSetIdentifier(cache->cxt, rail_table_names[t]);
	if (t == RT_LOCATIONS)
	{
		cache->hash = strkey_hash_create("rail_stream locations by STANOX",
										 sizeof(LocationEntry), 1024, cache->cxt);
		cache->hash2 = strkey_hash_create("rail_stream locations by TIPLOC",
										  sizeof(LocationEntry), 1024, cache->cxt);
	}
	else
		cache->hash = strkey_hash_create("rail_stream lookup table",
										 sizeof(ValueEntry), 256, cache->cxt);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext,
								   "rail_stream enrichment cache row",
								   ALLOCSET_SMALL_SIZES);
	snapshot = lookup_snapshot();
	scan = table_beginscan(rel, snapshot, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum		v[LOC_NCOLS];
		bool		n[LOC_NCOLS];
		int			ncols = column_sets[cached_set[t]].ncolumns;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < ncols; i++)
			v[i] = slot_getattr(slot, info->attnum[i], &n[i]);

		oldcxt = MemoryContextSwitchTo(rowcxt);
		if (t == RT_LOCATIONS)
		{
			LocationEntry row;
			LocationEntry *by_stanox = NULL;
			LocationEntry *by_tiploc = NULL;
			StrKey		stanox = {0};
			StrKey		tiploc = {0};
			bool		named;

			row.location_id = DatumGetInt32(v[LOC_LOCATION_ID]);
			row.crs_is_null = n[LOC_CRS];
			row.lat_is_null = n[LOC_LATITUDE];
			row.latitude = n[LOC_LATITUDE] ? 0 : DatumGetFloat8(v[LOC_LATITUDE]);
			row.lon_is_null = n[LOC_LONGITUDE];
			row.longitude = n[LOC_LONGITUDE] ? 0 : DatumGetFloat8(v[LOC_LONGITUDE]);

			/* does the row come first for its STANOX or its TIPLOC so far? */
			if (!n[LOC_STANOX])
			{
				stanox = text_key(v[LOC_STANOX]);
				by_stanox = hash_search(cache->hash, &stanox, HASH_FIND, NULL);
			}
			if (!n[LOC_TIPLOC])
			{
				tiploc = text_key(v[LOC_TIPLOC]);
				by_tiploc = hash_search(cache->hash2, &tiploc, HASH_FIND, NULL);
			}
			if (!((!n[LOC_STANOX] && (by_stanox == NULL || location_first(&row, by_stanox))) ||
				  (!n[LOC_TIPLOC] && (by_tiploc == NULL || location_first(&row, by_tiploc)))))
			{
				MemoryContextSwitchTo(oldcxt);
				MemoryContextReset(rowcxt);
				continue;
			}
			named = !n[LOC_NAME] && text_key(v[LOC_NAME]).len > 0;

			/* the values, copied once into the cache */
			MemoryContextSwitchTo(cache->cxt);
			row.tiploc = copy_text(v[LOC_TIPLOC], n[LOC_TIPLOC]);
			row.crs = copy_text(v[LOC_CRS], n[LOC_CRS]);
			if (named)
				row.name = copy_text(v[LOC_NAME], false);
			else
				row.name = copy_text(v[LOC_DESCRIPTION], n[LOC_DESCRIPTION]);
			MemoryContextSwitchTo(rowcxt);

			if (!n[LOC_STANOX])
				location_store(cache->hash, stanox, &row, cache->cxt);
			if (!n[LOC_TIPLOC])
				location_store(cache->hash2, tiploc, &row, cache->cxt);
		}
		else if (!n[0])
		{
			bool		found;
			ValueEntry *entry = enter_key(cache->hash, text_key(v[0]),
										  cache->cxt, &found);

			/* the key is the primary key: found only if that changed */
			MemoryContextSwitchTo(cache->cxt);
			for (int i = 1; i < ncols; i++)
				entry->value[i - 1] = copy_text(v[i], n[i]);
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	MemoryContextDelete(rowcxt);
	table_close(rel, NoLock);

	/* an invalidation that came in meanwhile: used once, rebuilt next time */
	cache->valid = !cache->stale;
}

/*
 * usable_cache
 *		Cached table t, built if needed, if the fast path may use it (see
 *		readable()); else NULL.
 */
static LookupCache *
usable_cache(RailTable t)
{
	if (!readable(t))
		return NULL;
	if (!caches[t].valid)
		build_cache(t);
	return caches[t].bytewise ? &caches[t] : NULL;
}

/*
 * run_fallback
 *		Run one of the old queries with the text argument (key, keynull);
 *		its first row's ncols columns go into values/nulls, copied into the
 *		caller's memory context (all NULL when there is no row).
 */
static void
run_fallback(FallbackQuery q, Datum key, bool keynull, int ncols,
			 Datum *values, bool *nulls)
{
	Oid			argtypes[1] = {TEXTOID};
	char		argnulls[1];
	int			ret;
	MemoryContext callercxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (fallback_plans[q] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(fallback_sql[q], 1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 fallback_sql[q], SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		fallback_plans[q] = plan;
	}
	argnulls[0] = keynull ? 'n' : ' ';
	ret = SPI_execute_plan(fallback_plans[q], &key, argnulls, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	for (int i = 0; i < ncols; i++)
	{
		values[i] = (Datum) 0;
		nulls[i] = true;
		if (SPI_processed > 0)
		{
			Form_pg_attribute attr = TupleDescAttr(SPI_tuptable->tupdesc, i);

			values[i] = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, i + 1, &nulls[i]);
			if (!nulls[i])
			{
				MemoryContext spicxt = MemoryContextSwitchTo(callercxt);

				values[i] = copy_value(values[i], attr);
				MemoryContextSwitchTo(spicxt);
			}
		}
	}
	SPI_finish();
}

/*
 * The index scans of one trigger call, kept open until its new row is
 * formed, so that the values found need no copy (the scans' slots keep
 * their buffers pinned), and the snapshot they share.
 */
typedef struct Lookups
{
	Snapshot	snapshot;
	int			nscans;
	SysScanDesc scans[2];
	Relation	rels[2];
} Lookups;

/*
 * lookup_by_key
 *		The row of rail.activations or rail.schedules with the key (NULL
 *		finds nothing): its nvalues columns after the key, in the order of
 *		the lookup columns; all NULL when there is none.  The values point
 *		into the row, which stays pinned until end_lookups().
 */
static void
lookup_by_key(RailTable t, Datum key, bool keynull, Datum *values, bool *nulls,
			  Lookups *lk)
{
	ColumnSet	cs = (t == RT_ACTIVATIONS ? CS_ACTIVATION_LOOKUP : CS_SCHEDULE_LOOKUP);
	int			nvalues = column_sets[cs].ncolumns - 1;
	Relation	rel;
	TableInfo  *info;
	ScanKeyData skey;
	SysScanDesc scan;

	if (!readable(t))
	{
		run_fallback(t == RT_ACTIVATIONS ? Q_ACTIVATION : Q_SCHEDULE,
					 key, keynull, nvalues, values, nulls);
		return;
	}

	rel = table_open(rail_relids[t], AccessShareLock);
	info = table_columns_of(cs, rel);
	if (!OidIsValid(info->keyindex))
	{
		table_close(rel, NoLock);
		run_fallback(t == RT_ACTIVATIONS ? Q_ACTIVATION : Q_SCHEDULE,
					 key, keynull, nvalues, values, nulls);
		return;
	}

	for (int i = 0; i < nvalues; i++)
	{
		values[i] = (Datum) 0;
		nulls[i] = true;
	}
	if (keynull)
	{
		table_close(rel, NoLock);
		return;
	}

	if (lk->snapshot == NULL)
		lk->snapshot = lookup_snapshot();
	ScanKeyEntryInitialize(&skey, 0, info->attnum[0], BTEqualStrategyNumber,
						   InvalidOid, info->keycollation, F_TEXTEQ, key);
	scan = systable_beginscan(rel, info->keyindex, true, lk->snapshot, 1, &skey);
	if (!HeapTupleIsValid(systable_getnext(scan)))
	{
		systable_endscan(scan);
		table_close(rel, NoLock);
		return;
	}
	Assert(lk->nscans < lengthof(lk->scans));
	lk->scans[lk->nscans] = scan;
	lk->rels[lk->nscans] = rel;
	lk->nscans++;

	/* the scan's slot deforms the row once */
	for (int i = 0; i < nvalues; i++)
	{
		values[i] = slot_getattr(scan->slot, info->attnum[i + 1], &nulls[i]);
		if (!nulls[i] &&
			TupleDescAttr(RelationGetDescr(rel), info->attnum[i + 1] - 1)->attlen == -1 &&
			(VARATT_IS_EXTERNAL(DatumGetPointer(values[i])) ||
			 VARATT_IS_COMPRESSED(DatumGetPointer(values[i]))))
			values[i] = PointerGetDatum(copy_text(values[i], false));
	}
}

/* close the scans of lookup_by_key(), release the snapshot */
static void
end_lookups(Lookups *lk)
{
	for (int i = 0; i < lk->nscans; i++)
	{
		systable_endscan(lk->scans[i]);
		table_close(lk->rels[i], NoLock);
	}
	if (lk->snapshot != NULL)
		UnregisterSnapshot(lk->snapshot);
}

/*
 * rs_same_run
 *		Whether a TRUST message queued at "message" is of the run of its
 *		train_id activated at "activation" (see SAME_RUN_USECS).
 */
bool
rs_same_run(TimestampTz activation, TimestampTz message)
{
	TimestampTz lo = activation;
	TimestampTz hi = activation;

	/* an infinite time has no week around it (nor may it overflow) */
	if (!TIMESTAMP_NOT_FINITE(activation))
	{
		lo = activation - SAME_RUN_USECS;
		hi = activation + SAME_RUN_USECS;
	}
	return message >= lo && message <= hi;
}

/*
 * activation_of
 *		The activation of the train of a TRUST message (its train_id, and
 *		when it was queued): schedule_key and train_uid into values[0..1];
 *		NULL when there is none, or only one of another run (see
 *		SAME_RUN_USECS).  The values point into the row, as
 *		lookup_by_key()'s.
 */
static void
activation_of(Datum train_id, bool train_id_null, Datum queued, bool queued_null,
			  Datum *values, bool *nulls, Lookups *lk)
{
	Datum		act[ACTIVATION_NVALUES];
	bool		actnull[ACTIVATION_NVALUES];
	bool		found;

	lookup_by_key(RT_ACTIVATIONS, train_id, train_id_null, act, actnull, lk);
	found = (queued_null || actnull[ACT_MSG_QUEUE_TIMESTAMP] ||
			 rs_same_run(DatumGetTimestampTz(act[ACT_MSG_QUEUE_TIMESTAMP]),
						 DatumGetTimestampTz(queued)));
	values[0] = act[ACT_SCHEDULE_KEY];
	nulls[0] = actnull[ACT_SCHEDULE_KEY] || !found;
	values[1] = act[ACT_TRAIN_UID];
	nulls[1] = actnull[ACT_TRAIN_UID] || !found;
}

/*
 * location_by_stanox
 *		rail._location_by_stanox(stanox): tiploc, crs, name, latitude,
 *		longitude.  The values point into the cache or the current memory
 *		context.
 */
static void
location_by_stanox(Datum stanox, bool isnull, LocationResult *r)
{
	LocationEntry *e = NULL;
	LookupCache *locations = usable_cache(RT_LOCATIONS);

	if (locations == NULL)
	{
		Datum		v[5];
		bool		n[5];

		run_fallback(Q_LOCATION_BY_STANOX, stanox, isnull, 5, v, n);
		r->tiploc = v[0];
		r->tiploc_null = n[0];
		r->crs = v[1];
		r->crs_null = n[1];
		r->name = v[2];
		r->name_null = n[2];
		r->latitude = v[3];
		r->latitude_null = n[3];
		r->longitude = v[4];
		r->longitude_null = n[4];
		return;
	}

	if (!isnull)
	{
		StrKey		key = text_key(stanox);

		e = hash_search(locations->hash, &key, HASH_FIND, NULL);
	}
	cached_text(e ? e->tiploc : NULL, &r->tiploc, &r->tiploc_null);
	cached_text(e ? e->crs : NULL, &r->crs, &r->crs_null);
	cached_text(e ? e->name : NULL, &r->name, &r->name_null);
	r->latitude_null = (e == NULL || e->lat_is_null);
	r->latitude = r->latitude_null ? (Datum) 0 : Float8GetDatum(e->latitude);
	r->longitude_null = (e == NULL || e->lon_is_null);
	r->longitude = r->longitude_null ? (Datum) 0 : Float8GetDatum(e->longitude);
}

/*
 * put_location
 *		Copy a location into the output columns name, tiploc, crs (-1: the
 *		table has none), lat and lon.
 */
static void
put_location(const LocationResult *loc, Datum *values, bool *nulls,
			 int name, int tiploc, int crs, int lat, int lon)
{
	values[name] = loc->name;
	nulls[name] = loc->name_null;
	values[tiploc] = loc->tiploc;
	nulls[tiploc] = loc->tiploc_null;
	if (crs >= 0)
	{
		values[crs] = loc->crs;
		nulls[crs] = loc->crs_null;
	}
	values[lat] = loc->latitude;
	nulls[lat] = loc->latitude_null;
	values[lon] = loc->longitude;
	nulls[lon] = loc->longitude_null;
}

/*
 * location_by_tiploc
 *		rail._location_by_tiploc(tiploc): name, latitude, longitude into
 *		values[0..2].  The name is the first location's, else the TIPLOC's
 *		tps_description; the position is the first location's.
 */
static void
location_by_tiploc(Datum tiploc, bool isnull, Datum *values, bool *nulls)
{
	LocationEntry *e = NULL;
	ValueEntry *tps = NULL;
	LookupCache *locations;
	LookupCache *tiplocs;
	StrKey		key;

	locations = usable_cache(RT_LOCATIONS);
	tiplocs = usable_cache(RT_TIPLOCS);
	if (locations == NULL || tiplocs == NULL)
	{
		run_fallback(Q_LOCATION_BY_TIPLOC, tiploc, isnull, 3, values, nulls);
		return;
	}
	if (!isnull)
	{
		key = text_key(tiploc);
		e = hash_search(locations->hash2, &key, HASH_FIND, NULL);
		if (e == NULL || e->name == NULL)
			tps = hash_search(tiplocs->hash, &key, HASH_FIND, NULL);
	}
	if (e != NULL && e->name != NULL)
		cached_text(e->name, &values[0], &nulls[0]);
	else
		cached_text(tps ? tps->value[0] : NULL, &values[0], &nulls[0]);
	nulls[1] = (e == NULL || e->lat_is_null);
	values[1] = nulls[1] ? (Datum) 0 : Float8GetDatum(e->latitude);
	nulls[2] = (e == NULL || e->lon_is_null);
	values[2] = nulls[2] ? (Datum) 0 : Float8GetDatum(e->longitude);
}

/*
 * toc_name
 *		rail_stream.toc_name(toc_id): the sector's name, else
 *		'<unknown TOC code: NN>'; NULL for NULL.
 */
static void
toc_name(Datum toc_id, bool isnull, Datum *value, bool *valuenull)
{
	ValueEntry *e = NULL;
	StrKey		key;
	LookupCache *sectors = usable_cache(RT_TOC_SECTORS);

	if (sectors == NULL)
	{
		run_fallback(Q_TOC_NAME, toc_id, isnull, 1, value, valuenull);
		return;
	}
	*valuenull = isnull;
	*value = (Datum) 0;
	if (isnull)
		return;
	key = text_key(toc_id);
	e = hash_search(sectors->hash, &key, HASH_FIND, NULL);
	if (e != NULL && e->value[0] != NULL)
		cached_text(e->value[0], value, valuenull);
	else
	{
		static const char prefix[] = "<unknown TOC code: ";
		int			len = sizeof(prefix) - 1 + key.len + 1;
		text	   *t = palloc(VARHDRSZ + len);

		SET_VARSIZE(t, VARHDRSZ + len);
		memcpy(VARDATA(t), prefix, sizeof(prefix) - 1);
		memcpy(VARDATA(t) + sizeof(prefix) - 1, key.data, key.len);
		VARDATA(t)[len - 1] = '>';
		*value = PointerGetDatum(t);
	}
	*valuenull = false;
}

/*
 * cancellation_reason
 *		canx_reason and canx_abbrev of a reason code into values[0..1].
 */
static void
cancellation_reason(Datum code, bool isnull, Datum *values, bool *nulls)
{
	ValueEntry *e = NULL;
	LookupCache *reasons = usable_cache(RT_CANCELLATION_REASONS);

	if (reasons == NULL)
	{
		run_fallback(Q_CANCELLATION_REASON, code, isnull, 2, values, nulls);
		return;
	}
	if (!isnull)
	{
		StrKey		key = text_key(code);

		e = hash_search(reasons->hash, &key, HASH_FIND, NULL);
	}
	for (int i = 0; i < 2; i++)
		cached_text(e ? e->value[i] : NULL, &values[i], &nulls[i]);
}

/*
 * begin_trigger
 *		Check that the call is the BEFORE INSERT OR UPDATE FOR EACH ROW
 *		trigger of table t, and prepare: the row (in a slot, all its columns
 *		deformed), its table's columns.
 */
static TriggerData *
begin_trigger(FunctionCallInfo fcinfo, ColumnSet cs, const char *funcname,
			  TupleTableSlot **slot, TableInfo **info)
{
	TriggerData *trigdata;
	RailTable	t = column_sets[cs].table;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger function \"%s\" was not called by trigger manager",
						funcname)));
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("trigger function \"%s\" must be fired BEFORE INSERT OR UPDATE FOR EACH ROW",
						funcname)));

	/* another session's committed change of a lookup table: use it now */
	AcceptInvalidationMessages();
	resolve_relids();
	if (RelationGetRelid(trigdata->tg_relation) != rail_relids[t])
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("trigger function \"%s\" only serves rail.%s",
						funcname, rail_table_names[t])));

	*slot = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newslot : trigdata->tg_trigslot;
	slot_getallattrs(*slot);
	*info = table_columns_of(cs, trigdata->tg_relation);
	return trigdata;
}

/*
 * end_trigger
 *		The new row: the row of the slot with columns [first, ncols)
 *		replaced by values/nulls (what heap_modify_tuple_by_cols does, but
 *		from the slot's values, deformed once).  Then ends the lookups.
 */
static Datum
end_trigger(TriggerData *trigdata, TupleTableSlot *slot, TableInfo *info,
			int first, int ncols, Datum *values, bool *nulls,
			Lookups *lk)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	Datum	   *newvalues = palloc(desc->natts * sizeof(Datum));
	bool	   *newnulls = palloc(desc->natts * sizeof(bool));
	HeapTuple	newtuple;

	memcpy(newvalues, slot->tts_values, desc->natts * sizeof(Datum));
	memcpy(newnulls, slot->tts_isnull, desc->natts * sizeof(bool));
	for (int i = first; i < ncols; i++)
	{
		newvalues[info->attnum[i] - 1] = values[i];
		newnulls[info->attnum[i] - 1] = nulls[i];
	}
	newtuple = heap_form_tuple(desc, newvalues, newnulls);
	end_lookups(lk);
	return PointerGetDatum(newtuple);
}

/* an input column of the row */
#define INPUT(col) \
	(values[col] = slot->tts_values[info->attnum[col] - 1], \
	 nulls[col] = slot->tts_isnull[info->attnum[col] - 1])

/*
 * rail._enrich_movement(): location by STANOX, TOC name, the activation of
 * the train's run (or the talk's marker 'no_schedule_activation_found'),
 * and the activation's schedule.
 */
Datum
rs_enrich_movement(PG_FUNCTION_ARGS)
{
	TupleTableSlot *slot;
	TableInfo  *info;
	Lookups		lk = {0};
	TriggerData *trigdata = begin_trigger(fcinfo, CS_MOVEMENT,
										  "_enrich_movement", &slot, &info);
	Datum		values[MV_NCOLS];
	bool		nulls[MV_NCOLS];
	Datum		act[2];
	bool		actnull[2];
	LocationResult loc;

	INPUT(MV_LOC_STANOX);
	INPUT(MV_TOC_ID);
	INPUT(MV_TRAIN_ID);
	INPUT(MV_MSG_QUEUE_TIMESTAMP);

	/* in the order of the old queries, which decides the first error */
	location_by_stanox(values[MV_LOC_STANOX], nulls[MV_LOC_STANOX], &loc);
	put_location(&loc, values, nulls, MV_LOC_NAME, MV_LOC_TIPLOC, MV_LOC_CRS,
				 MV_LOC_LAT, MV_LOC_LON);
	toc_name(values[MV_TOC_ID], nulls[MV_TOC_ID],
			 &values[MV_TOC_NAME], &nulls[MV_TOC_NAME]);

	activation_of(values[MV_TRAIN_ID], nulls[MV_TRAIN_ID],
				  values[MV_MSG_QUEUE_TIMESTAMP], nulls[MV_MSG_QUEUE_TIMESTAMP],
				  act, actnull, &lk);
	values[MV_SCHEDULE_KEY] = actnull[0] ?
		CStringGetTextDatum(RS_NO_ACTIVATION) : act[0];
	nulls[MV_SCHEDULE_KEY] = false;
	values[MV_TRAIN_UID] = act[1];
	nulls[MV_TRAIN_UID] = actnull[1];
	lookup_by_key(RT_SCHEDULES, act[0], actnull[0],
				  &values[MV_POWER_TYPE], &nulls[MV_POWER_TYPE], &lk);

	return end_trigger(trigdata, slot, info, MV_FIRST_OUTPUT, MV_NCOLS,
					   values, nulls, &lk);
}

/*
 * rail._enrich_cancellation(): location by STANOX, TOC name, reason and
 * the activation of the train's run.
 */
Datum
rs_enrich_cancellation(PG_FUNCTION_ARGS)
{
	TupleTableSlot *slot;
	TableInfo  *info;
	Lookups		lk = {0};
	TriggerData *trigdata = begin_trigger(fcinfo, CS_CANCELLATION,
										  "_enrich_cancellation", &slot, &info);
	Datum		values[CX_NCOLS];
	bool		nulls[CX_NCOLS];
	LocationResult loc;

	INPUT(CX_LOC_STANOX);
	INPUT(CX_TOC_ID);
	INPUT(CX_TRAIN_ID);
	INPUT(CX_CANX_REASON_CODE);
	INPUT(CX_MSG_QUEUE_TIMESTAMP);

	location_by_stanox(values[CX_LOC_STANOX], nulls[CX_LOC_STANOX], &loc);
	put_location(&loc, values, nulls, CX_LOC_NAME, CX_LOC_TIPLOC, -1,
				 CX_LOC_LAT, CX_LOC_LON);
	toc_name(values[CX_TOC_ID], nulls[CX_TOC_ID],
			 &values[CX_TOC_NAME], &nulls[CX_TOC_NAME]);
	cancellation_reason(values[CX_CANX_REASON_CODE], nulls[CX_CANX_REASON_CODE],
						&values[CX_CANX_REASON], &nulls[CX_CANX_REASON]);
	activation_of(values[CX_TRAIN_ID], nulls[CX_TRAIN_ID],
				  values[CX_MSG_QUEUE_TIMESTAMP], nulls[CX_MSG_QUEUE_TIMESTAMP],
				  &values[CX_SCHEDULE_KEY], &nulls[CX_SCHEDULE_KEY], &lk);

	return end_trigger(trigdata, slot, info, CX_FIRST_OUTPUT, CX_NCOLS,
					   values, nulls, &lk);
}

/*
 * rail._enrich_activation(): the scheduled origin by STANOX, TOC name.
 */
Datum
rs_enrich_activation(PG_FUNCTION_ARGS)
{
	TupleTableSlot *slot;
	TableInfo  *info;
	Lookups		lk = {0};
	TriggerData *trigdata = begin_trigger(fcinfo, CS_ACTIVATION,
										  "_enrich_activation", &slot, &info);
	Datum		values[AC_NCOLS];
	bool		nulls[AC_NCOLS];
	LocationResult loc;

	INPUT(AC_SCHED_ORIGIN_STANOX);
	INPUT(AC_TOC_ID);

	location_by_stanox(values[AC_SCHED_ORIGIN_STANOX],
					   nulls[AC_SCHED_ORIGIN_STANOX], &loc);
	put_location(&loc, values, nulls, AC_SCHED_ORIGIN_NAME,
				 AC_SCHED_ORIGIN_TIPLOC, -1, AC_SCHED_ORIGIN_LAT,
				 AC_SCHED_ORIGIN_LON);
	toc_name(values[AC_TOC_ID], nulls[AC_TOC_ID],
			 &values[AC_TOC_NAME], &nulls[AC_TOC_NAME]);

	return end_trigger(trigdata, slot, info, AC_FIRST_OUTPUT, AC_NCOLS,
					   values, nulls, &lk);
}

/*
 * rail._enrich_schedule(): names and positions of origin and destination
 * by TIPLOC.
 */
Datum
rs_enrich_schedule(PG_FUNCTION_ARGS)
{
	TupleTableSlot *slot;
	TableInfo  *info;
	Lookups		lk = {0};
	TriggerData *trigdata = begin_trigger(fcinfo, CS_SCHEDULE,
										  "_enrich_schedule", &slot, &info);
	Datum		values[SC_NCOLS];
	bool		nulls[SC_NCOLS];

	INPUT(SC_ORIGIN_TIPLOC);
	INPUT(SC_DESTINATION_TIPLOC);

	location_by_tiploc(values[SC_ORIGIN_TIPLOC], nulls[SC_ORIGIN_TIPLOC],
					   &values[SC_ORIGIN_NAME], &nulls[SC_ORIGIN_NAME]);
	location_by_tiploc(values[SC_DESTINATION_TIPLOC], nulls[SC_DESTINATION_TIPLOC],
					   &values[SC_DESTINATION_NAME], &nulls[SC_DESTINATION_NAME]);

	return end_trigger(trigdata, slot, info, SC_FIRST_OUTPUT, SC_NCOLS,
					   values, nulls, &lk);
}

/*
 * rail._lookup_changed(): the AFTER ... FOR EACH STATEMENT trigger of the
 * cached tables.  Our own cache of the table is stale from the next row on.
 * The other backends learn it from a relcache invalidation of the table,
 * sent when the transaction commits; one per transaction is enough, and
 * more would cost: each makes every backend rebuild the table's relcache
 * entry and replan the statements that use it, which, for the location
 * master loaded row by row through rail.locations_csv, took ten times as
 * long as the load itself.  Local processing of that invalidation (at the
 * end of the statement, and at abort) drops our cache as well.
 */
Datum
rs_lookup_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Oid			relid;
	int			t;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger function \"%s\" was not called by trigger manager",
						"_lookup_changed")));
	trigdata = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("trigger function \"%s\" must be fired AFTER FOR EACH STATEMENT",
						"_lookup_changed")));
	relid = RelationGetRelid(trigdata->tg_relation);
	resolve_relids();
	for (t = RT_LOCATIONS; t <= RT_CANCELLATION_REASONS; t++)
		if (relid == rail_relids[t])
			break;
	if (t > RT_CANCELLATION_REASONS)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("trigger function \"%s\" only serves rail.locations, rail.tiplocs, rail.toc_sectors and rail.cancellation_reasons",
						"_lookup_changed")));

	caches[t].valid = false;
	caches[t].stale = true;
	if (registered[t].lxid != RS_MY_LXID ||
		registered[t].subid == InvalidSubTransactionId)
	{
		CacheInvalidateRelcache(trigdata->tg_relation);
		registered[t].lxid = RS_MY_LXID;
		registered[t].subid = GetCurrentSubTransactionId();
	}
	PG_RETURN_POINTER(NULL);
}
