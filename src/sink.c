/*-------------------------------------------------------------------------
 *
 * sink.c
 *	  Write transformed rows into their tables through SPI.
 *
 * An upsert is "INSERT ... ON CONFLICT (<primary key>) DO UPDATE SET" the
 * columns the row carries, skipped when none of them changes: a re-sent
 * message then writes nothing, and fires no trigger.  A row without its
 * key, for a table whose key is generated (identity, serial), is a plain
 * INSERT: such a table is an append-only log.  A delete matches every
 * column the row carries.  Statements run as the current user, so table
 * privileges and row-level security apply as to any INSERT.
 *
 * Plans are prepared once per (table, operation, columns and their types)
 * and kept for the life of the process; a relcache invalidation of the table
 * (ALTER, DROP, RENAME) drops them.  The caller must be connected to SPI.
 * Errors propagate: ingest.c decides whether they belong to the message.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/sink.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/sysattr.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "parser/parse_relation.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/typcache.h"

#include "sink.h"

typedef struct SinkPlanKey
{
	Oid			relid;
	RsRowOp		op;
	uint32		shape;			/* hash of the column names and types */
} SinkPlanKey;

typedef struct SinkPlan
{
	SinkPlanKey key;
	bool		valid;
	int			ncols;
	char	  **names;
	Oid		   *types;
	SPIPlanPtr	plan;
} SinkPlan;

static HTAB *sink_plans = NULL;

static SinkPlan *get_plan(const RsRow *row);
static uint32 row_shape(const RsRow *row);
static bool same_shape(const SinkPlan *plan, const RsRow *row);
static void save_shape(SinkPlan *plan, const RsRow *row);
static char *build_sql(const RsRow *row);
static void append_upsert(StringInfo sql, Relation rel, const RsRow *row);
static void append_delete(StringInfo sql, Relation rel, const RsRow *row);
static void invalidate_plans(Datum arg, Oid relid);

/*
 * rs_sink_write
 *		Write one row; returns the number of rows inserted, updated or
 *		deleted.
 */
uint64
rs_sink_write(const RsRow *row)
{
	SinkPlan   *plan = get_plan(row);
	char	   *nulls = palloc(row->ncols + 1);
	int			ret;

	for (int i = 0; i < row->ncols; i++)
		nulls[i] = row->nulls[i] ? 'n' : ' ';
	nulls[row->ncols] = '\0';

	ret = SPI_execute_plan(plan->plan, row->values, nulls, false, 0);
	if (ret != SPI_OK_INSERT && ret != SPI_OK_DELETE)
		elog(ERROR, "unexpected SPI result %d writing to relation %u",
			 ret, row->relid);
	pfree(nulls);
	return SPI_processed;
}

/* The kept plan for a row's table, operation and shape; built if needed. */
static SinkPlan *
get_plan(const RsRow *row)
{
	SinkPlanKey key;
	SinkPlan   *plan;
	bool		found;

	if (sink_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(SinkPlanKey);
		ctl.entrysize = sizeof(SinkPlan);
		sink_plans = hash_create("rail_stream sink plans", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(invalidate_plans, (Datum) 0);
	}

	memset(&key, 0, sizeof(key));
	key.relid = row->relid;
	key.op = row->op;
	key.shape = row_shape(row);
	plan = hash_search(sink_plans, &key, HASH_ENTER, &found);
	if (!found)
	{
		plan->valid = false;
		plan->ncols = 0;
		plan->names = NULL;
		plan->types = NULL;
		plan->plan = NULL;
	}
	else if (plan->valid && same_shape(plan, row))
		return plan;

	/* new, stale, or another shape with the same hash: (re)build it */
	if (plan->plan)
		SPI_freeplan(plan->plan);
	plan->plan = NULL;
	plan->valid = false;
	plan->plan = rs_keep_plan(build_sql(row), row->ncols, row->types);
	save_shape(plan, row);
	plan->valid = true;
	return plan;
}

static uint32
row_shape(const RsRow *row)
{
	uint32		h = row->ncols;

	for (int i = 0; i < row->ncols; i++)
	{
		h = hash_combine(h, string_hash(row->names[i], NAMEDATALEN));
		h = hash_combine(h, row->types[i]);
	}
	return h;
}

static bool
same_shape(const SinkPlan *plan, const RsRow *row)
{
	if (plan->ncols != row->ncols)
		return false;
	for (int i = 0; i < row->ncols; i++)
	{
		if (plan->types[i] != row->types[i] ||
			strcmp(plan->names[i], row->names[i]) != 0)
			return false;
	}
	return true;
}

/* Remember the shape a plan was built for, in CacheMemoryContext. */
static void
save_shape(SinkPlan *plan, const RsRow *row)
{
	MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);

	if (plan->names != NULL)
	{
		for (int i = 0; i < plan->ncols; i++)
			pfree(plan->names[i]);
		pfree(plan->names);
		pfree(plan->types);
	}
	plan->ncols = row->ncols;
	plan->names = palloc(row->ncols * sizeof(char *));
	plan->types = palloc(row->ncols * sizeof(Oid));
	for (int i = 0; i < row->ncols; i++)
	{
		plan->names[i] = pstrdup(row->names[i]);
		plan->types[i] = row->types[i];
	}
	MemoryContextSwitchTo(old);
}

static char *
build_sql(const RsRow *row)
{
	Relation	rel = relation_open(row->relid, AccessShareLock);
	StringInfoData sql;

	initStringInfo(&sql);
	if (row->op == RS_ROW_UPSERT)
		append_upsert(&sql, rel, row);
	else
		append_delete(&sql, rel, row);
	relation_close(rel, AccessShareLock);
	return sql.data;
}

/* Is the named column part of the primary key pkey? */
static bool
is_key_column(Relation rel, Bitmapset *pkey, const char *name)
{
	AttrNumber	attnum = attnameAttNum(rel, name, false);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						name, RelationGetRelationName(rel))));
	return bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, pkey);
}

/* How many of the row's columns are in the primary key */
static int
count_key_columns(Relation rel, Bitmapset *pkey, const RsRow *row)
{
	int			n = 0;

	for (int i = 0; i < row->ncols; i++)
		n += is_key_column(rel, pkey, row->names[i]) ? 1 : 0;
	return n;
}

/* Do all primary key columns have a default (identity, serial)? */
static bool
key_has_defaults(Relation rel, Bitmapset *pkey)
{
	int			member = -1;

	while ((member = bms_next_member(pkey, member)) >= 0)
	{
		Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel),
											   member + FirstLowInvalidHeapAttributeNumber - 1);

		if (!attr->atthasdef && !attr->attidentity)
			return false;
	}
	return true;
}

/*
 * INSERT INTO t AS t (c...) VALUES ($n...) ON CONFLICT (k...)
 *   DO UPDATE SET c = EXCLUDED.c ... WHERE (t.c...) IS DISTINCT FROM (EXCLUDED.c...)
 */
static void
append_upsert(StringInfo sql, Relation rel, const RsRow *row)
{
	Bitmapset  *pkey = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	StringInfoData keys,
				set,
				old,
				new;
	bool		comparable = true;

	initStringInfo(&keys);
	initStringInfo(&set);
	initStringInfo(&old);
	initStringInfo(&new);
	appendStringInfo(sql, "INSERT INTO %s AS t (", rs_qualified_name(RelationGetRelid(rel)));
	for (int i = 0; i < row->ncols; i++)
	{
		const char *col = quote_identifier(row->names[i]);

		appendStringInfo(sql, "%s%s", i ? ", " : "", col);
		if (is_key_column(rel, pkey, row->names[i]))
		{
			appendStringInfo(&keys, "%s%s", keys.len ? ", " : "", col);
			continue;
		}
		appendStringInfo(&set, "%s%s = EXCLUDED.%s", set.len ? ", " : "", col, col);
		appendStringInfo(&old, "%st.%s", old.len ? ", " : "", col);
		appendStringInfo(&new, "%sEXCLUDED.%s", new.len ? ", " : "", col);
		if (!OidIsValid(lookup_type_cache(row->types[i], TYPECACHE_EQ_OPR)->eq_opr))
			comparable = false;
	}
	appendStringInfoString(sql, ") VALUES (");
	for (int i = 0; i < row->ncols; i++)
		appendStringInfo(sql, "%s$%d", i ? ", " : "", i + 1);
	appendStringInfoChar(sql, ')');

	if (keys.len == 0 && key_has_defaults(rel, pkey))
		return;					/* a generated key: append */
	if (bms_num_members(pkey) != count_key_columns(rel, pkey, row))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("message has no value for the primary key of table \"%s\"",
						RelationGetRelationName(rel))));
	if (set.len == 0)
		appendStringInfo(sql, " ON CONFLICT (%s) DO NOTHING", keys.data);
	else if (comparable)
		appendStringInfo(sql, " ON CONFLICT (%s) DO UPDATE SET %s"
						 " WHERE ROW(%s) IS DISTINCT FROM ROW(%s)",
						 keys.data, set.data, old.data, new.data);
	else
		appendStringInfo(sql, " ON CONFLICT (%s) DO UPDATE SET %s",
						 keys.data, set.data);
}

/* DELETE FROM t WHERE c = $n AND ... */
static void
append_delete(StringInfo sql, Relation rel, const RsRow *row)
{
	appendStringInfo(sql, "DELETE FROM %s WHERE ", rs_qualified_name(RelationGetRelid(rel)));
	for (int i = 0; i < row->ncols; i++)
		appendStringInfo(sql, "%s%s = $%d", i ? " AND " : "",
						 quote_identifier(row->names[i]), i + 1);
}

/* Relcache callback: forget the plans of a changed table (or all). */
static void
invalidate_plans(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	SinkPlan   *plan;

	hash_seq_init(&status, sink_plans);
	while ((plan = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || plan->key.relid == relid)
			plan->valid = false;
	}
}

/*
 * rs_keep_plan
 *		Prepare a statement and keep its plan for the life of the process.
 */
SPIPlanPtr
rs_keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "could not prepare \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	return plan;
}
