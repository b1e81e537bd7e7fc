/*-------------------------------------------------------------------------
 *
 * sink.c
 *	  Write the rows of a batch into their tables, one statement per group.
 *
 * ingest.c hands the sink the rows of a batch, in Kafka order, and flushes
 * it when the batch ends or the sink is full.  A flush writes the rows with
 * one statement per group, a group being the rows of one table, operation
 * and shape (column names and types) in one "wave":
 *
 *	upsert	INSERT INTO t AS t (c...) SELECT r.c ... FROM unnest($1) AS r
 *			ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c ...
 *			WHERE ROW(t.c ...) IS DISTINCT FROM ROW(EXCLUDED.c ...)
 *	append	the same without ON CONFLICT, for a table whose key is
 *			generated (identity, serial) and that the row does not set
 *	delete	DELETE FROM t USING unnest($1, ...) AS u(c...) WHERE t.c = u.c ...
 *
 * $1 being one array of the table's row type (one tuplestore in the
 * executor; about 8 % less CPU through Kafka than one array per column,
 * ROWS FROM (unnest($1), unnest($2), ...), which remains for rows whose
 * types differ from their columns', and for deletes, where each $n is one
 * column's values).  A re-sent row changes nothing
 * and fires no trigger, as a one-row upsert would.  Statements run as the
 * current user, so privileges, row-level security and the tables' triggers
 * apply as to any INSERT.
 *
 * The final tables must be what writing the rows one by one would give,
 * triggers included (counts, alerts, enrichment).  Rows of different keys
 * commute; what does not is put in successive waves, written in order:
 *
 *	- the n-th version of a key in the batch goes into the n-th wave, so
 *	  that each version is applied, and fires its triggers, as on its own;
 *	- a delete that does not name the key (a CIF schedule's calling points)
 *	  and append-only rows keep their order with the table's other rows;
 *	- a row of stage 0 (a TRUST activation) is written before the rows of
 *	  stage 1 with the same link (its train's movements), which read it in
 *	  their enrichment, unless one of those came first: then it goes into
 *	  the next wave.  Within a wave, stage 0 goes first.
 *
 * In a feed of distinct keys, that is one statement per table per flush.
 *
 * The sink copies each row it is given into its own memory context, which
 * a flush resets: the caller may free its message at once, and a batch
 * holds at most RS_SINK_MAX_ROWS rows or RS_SINK_MAX_BYTES bytes before
 * the caller must flush (rs_sink_is_full), whatever batch_size is.  The
 * statements of a batch all run in its transaction: flushing early costs
 * nothing of the batch's atomicity.
 *
 * Statements are prepared once per (table, operation, shape) and kept for
 * the life of the process; a relcache invalidation of the table (ALTER,
 * DROP, RENAME) drops them.  The caller must be connected to SPI.  Errors
 * propagate: ingest.c decides whether they belong to a message.
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
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "parser/parse_relation.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/typcache.h"

#include "plans.h"
#include "sink.h"

/*
 * A flush is due beyond this many rows or bytes of rows.  A statement's
 * unnest() keeps each column's values in a tuplestore of its own (up to
 * work_mem each), so its memory is about rows times columns: 2,000 rows keep
 * a worker within its budget, and writing them costs no more per row than
 * writing 10,000 (bench/e2e).
 */
#define RS_SINK_MAX_ROWS	2000
#define RS_SINK_MAX_BYTES	(4 * 1024 * 1024)

typedef enum SinkKind
{
	SINK_UPSERT,				/* keyed: one row per key per statement */
	SINK_APPEND,				/* generated key: rows keep their order */
	SINK_DELETE_KEY,			/* delete naming the whole key */
	SINK_DELETE_OTHER			/* delete by other columns: a barrier */
} SinkKind;

typedef struct SinkPlanKey
{
	Oid			relid;
	RsRowOp		op;
	uint32		shape;			/* hash of the column names and types */
} SinkPlanKey;

/* A kept statement for one table, operation and shape */
typedef struct SinkPlan
{
	SinkPlanKey key;
	bool		valid;
	SinkKind	kind;
	int			ncols;
	char	  **names;
	Oid		   *types;
	int16	   *typlens;
	bool	   *typbyvals;
	char	   *typaligns;
	int			nkeys;			/* key columns, for SINK_UPSERT/DELETE_KEY */
	int		   *keycols;		/* their positions in the row, by attnum */
	TupleDesc	rowdesc;		/* rows go as one array of the table's row
								 * type, or NULL: one array per column */
	AttrNumber *attnos;			/* with rowdesc: each column's attnum */
	SPIPlanPtr	plan;
} SinkPlan;

/* The rows of one statement */
typedef struct SinkGroup
{
	SinkPlan   *plan;
	int			wave;
	int			stage;
	int			seq;			/* order of creation */
	int			nrows;
	int			maxrows;
	Datum	  **values;			/* per row, plan->ncols each */
	bool	  **nulls;
} SinkGroup;

/* A pending key of a table, and the last wave that writes it */
typedef struct PendingKey
{
	uint32		hash;
	SinkPlan   *plan;			/* where to find the key columns */
	Datum	   *values;
	bool	   *nulls;
	int			wave;
} PendingKey;

/* What a table's pending rows impose on the next ones */
typedef struct PendingTable
{
	Oid			relid;			/* hash key */
	int			floor;			/* next rows go into this wave or later */
	int			max_wave;
	SinkPlan   *append_plan;	/* group of the last append-only row */
	int			append_wave;
} PendingTable;

/* The waves of the pending rows of each stage for one link */
typedef struct PendingLink
{
	char		link[NAMEDATALEN];	/* hash key, truncated */
	int			max_wave[2];	/* -1: none */
} PendingLink;

struct RsSink
{
	MemoryContext cxt;			/* everything pending; reset by a flush */
	int			nrows;
	List	   *groups;			/* of SinkGroup * */
	SinkGroup  *last_group;
	HTAB	   *keys;
	HTAB	   *tables;
	HTAB	   *links;
};

/* Process-wide, in CacheMemoryContext */
static HTAB *sink_plans = NULL;

static void reset_pending(RsSink *sink);
static SinkPlan *get_plan(const RsRow *row);
static uint32 row_shape(const RsRow *row);
static bool same_shape(const SinkPlan *plan, const RsRow *row);
static void build_plan(SinkPlan *plan, const RsRow *row);
static void rebuild_plan(SinkPlan *plan);
static int	choose_wave(RsSink *sink, SinkPlan *plan, const RsRow *row,
						Datum *values, bool *nulls);
static SinkGroup *find_group(RsSink *sink, SinkPlan *plan, int wave, int stage);
static int	compare_groups(const ListCell *a, const ListCell *b);
static uint64 write_group(SinkGroup *group);
static uint64 write_group_rows(SinkGroup *group);
static AttrNumber *row_type_columns(Relation rel, const RsRow *row);
static void append_upsert(StringInfo sql, Relation rel, const RsRow *row,
						  SinkPlan *plan, bool as_rows);
static void append_delete(StringInfo sql, Relation rel, const RsRow *row);
static void append_unnest(StringInfo sql, int ncols);
static uint32 key_hash(const void *key, Size keysize);
static int	key_match(const void *key1, const void *key2, Size keysize);
static void invalidate_plans(Datum arg, Oid relid);

/*
 * rs_sink_create
 *		An empty sink, in the current memory context.
 */
RsSink *
rs_sink_create(void)
{
	RsSink	   *sink = palloc0(sizeof(RsSink));

	sink->cxt = AllocSetContextCreate(CurrentMemoryContext, "rail_stream sink",
									  ALLOCSET_DEFAULT_SIZES);
	reset_pending(sink);
	return sink;
}

/* Forget every pending row; the hash tables start again empty. */
static void
reset_pending(RsSink *sink)
{
	HASHCTL		ctl;

	MemoryContextReset(sink->cxt);
	sink->nrows = 0;
	sink->groups = NIL;
	sink->last_group = NULL;

	ctl.hcxt = sink->cxt;
	ctl.keysize = sizeof(PendingKey);
	ctl.entrysize = sizeof(PendingKey);
	ctl.hash = key_hash;
	ctl.match = key_match;
	sink->keys = hash_create("rail_stream pending keys", 1024, &ctl,
							 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(PendingTable);
	sink->tables = hash_create("rail_stream pending tables", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(PendingLink);
	sink->links = hash_create("rail_stream pending links", 1024, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * rs_sink_add
 *		Add a copy of a row to the batch.
 */
void
rs_sink_add(RsSink *sink, const RsRow *row)
{
	SinkPlan   *plan = get_plan(row);
	MemoryContext old = MemoryContextSwitchTo(sink->cxt);
	Datum	   *values = palloc(plan->ncols * sizeof(Datum));
	bool	   *nulls = palloc(plan->ncols * sizeof(bool));
	SinkGroup  *group;
	int			wave;

	for (int i = 0; i < plan->ncols; i++)
	{
		nulls[i] = row->nulls[i];
		values[i] = nulls[i] ? (Datum) 0 :
			datumCopy(row->values[i], plan->typbyvals[i], plan->typlens[i]);
	}
	wave = choose_wave(sink, plan, row, values, nulls);
	group = find_group(sink, plan, wave, row->stage);
	if (group->nrows == group->maxrows)
	{
		group->maxrows *= 2;
		group->values = repalloc(group->values, group->maxrows * sizeof(Datum *));
		group->nulls = repalloc(group->nulls, group->maxrows * sizeof(bool *));
	}
	group->values[group->nrows] = values;
	group->nulls[group->nrows] = nulls;
	group->nrows++;
	sink->nrows++;
	MemoryContextSwitchTo(old);
}

/* Whether the caller must flush before adding more rows */
bool
rs_sink_is_full(const RsSink *sink)
{
	return sink->nrows >= RS_SINK_MAX_ROWS ||
		MemoryContextMemAllocated(sink->cxt, true) >= RS_SINK_MAX_BYTES;
}

/*
 * rs_sink_flush
 *		Write the pending rows, wave by wave; returns the number of rows
 *		inserted, updated or deleted.  The sink is empty afterwards, and
 *		also when an error is raised.
 */
uint64
rs_sink_flush(RsSink *sink)
{
	MemoryContext old = MemoryContextSwitchTo(sink->cxt);
	volatile uint64 rows = 0;
	ListCell   *lc;

	list_sort(sink->groups, compare_groups);
	PG_TRY();
	{
		foreach(lc, sink->groups)
			rows += write_group(lfirst(lc));
	}
	PG_FINALLY();
	{
		MemoryContextSwitchTo(old);
		reset_pending(sink);
	}
	PG_END_TRY();
	return rows;
}

/* Drop the pending rows unwritten (their subtransaction failed). */
void
rs_sink_discard(RsSink *sink)
{
	reset_pending(sink);
}

/* Waves in order; in a wave, stage 0 first; then the order of creation */
static int
compare_groups(const ListCell *a, const ListCell *b)
{
	const SinkGroup *ga = lfirst(a);
	const SinkGroup *gb = lfirst(b);

	if (ga->wave != gb->wave)
		return ga->wave < gb->wave ? -1 : 1;
	if (ga->stage != gb->stage)
		return ga->stage < gb->stage ? -1 : 1;
	return ga->seq < gb->seq ? -1 : (ga->seq > gb->seq ? 1 : 0);
}

/*
 * choose_wave
 *		The first wave in which a row may be written, by the rules in the
 *		header; records what the row imposes on the rows after it.
 */
static int
choose_wave(RsSink *sink, SinkPlan *plan, const RsRow *row, Datum *values,
			bool *nulls)
{
	PendingTable *table;
	PendingLink *link = NULL;
	bool		found;
	int			wave;

	table = hash_search(sink->tables, &plan->key.relid, HASH_ENTER, &found);
	if (!found)
	{
		table->floor = 0;
		table->max_wave = -1;
		table->append_plan = NULL;
		table->append_wave = 0;
	}
	wave = table->floor;

	if (row->link != NULL)
	{
		char		name[NAMEDATALEN] = {0};

		strlcpy(name, row->link, NAMEDATALEN);
		link = hash_search(sink->links, name, HASH_ENTER, &found);
		if (!found)
			link->max_wave[0] = link->max_wave[1] = -1;
		if (row->stage == 0)
			wave = Max(wave, link->max_wave[1] + 1);
		else
			wave = Max(wave, link->max_wave[0]);
	}

	switch (plan->kind)
	{
		case SINK_UPSERT:
		case SINK_DELETE_KEY:
			{
				PendingKey	probe;
				PendingKey *key;

				probe.plan = plan;
				probe.values = values;
				probe.nulls = nulls;
				probe.hash = 0;
				key = hash_search(sink->keys, &probe, HASH_ENTER, &found);
				if (found)
					wave = Max(wave, key->wave + 1);
				else
				{
					key->plan = plan;
					key->values = values;
					key->nulls = nulls;
				}
				key->wave = wave;
			}
			break;
		case SINK_APPEND:
			if (table->append_plan != NULL && table->append_plan != plan)
				wave = Max(wave, table->append_wave + 1);
			wave = Max(wave, table->append_wave);
			table->append_plan = plan;
			table->append_wave = wave;
			break;
		case SINK_DELETE_OTHER:
			wave = Max(wave, table->max_wave + 1);
			table->floor = wave + 1;
			break;
	}

	table->max_wave = Max(table->max_wave, wave);
	if (link != NULL)
		link->max_wave[row->stage ? 1 : 0] =
			Max(link->max_wave[row->stage ? 1 : 0], wave);
	return wave;
}

/* The group of a plan in a wave, created if needed */
static SinkGroup *
find_group(RsSink *sink, SinkPlan *plan, int wave, int stage)
{
	SinkGroup  *group = sink->last_group;
	ListCell   *lc;

	if (group == NULL || group->plan != plan || group->wave != wave ||
		group->stage != stage)
	{
		group = NULL;
		foreach(lc, sink->groups)
		{
			SinkGroup  *g = lfirst(lc);

			if (g->plan == plan && g->wave == wave && g->stage == stage)
			{
				group = g;
				break;
			}
		}
	}
	if (group == NULL)
	{
		group = palloc0(sizeof(SinkGroup));
		group->plan = plan;
		group->wave = wave;
		group->stage = stage;
		group->seq = list_length(sink->groups);
		group->maxrows = 64;
		group->values = palloc(group->maxrows * sizeof(Datum *));
		group->nulls = palloc(group->maxrows * sizeof(bool *));
		sink->groups = lappend(sink->groups, group);
	}
	sink->last_group = group;
	return group;
}

/*
 * write_group
 *		Run a group's statement with one array per column.
 */
static uint64
write_group(SinkGroup *group)
{
	SinkPlan   *plan = group->plan;
	Datum	   *args = palloc(plan->ncols * sizeof(Datum));
	Datum	   *column = palloc(group->nrows * sizeof(Datum));
	bool	   *column_nulls = palloc(group->nrows * sizeof(bool));
	int			dims[1] = {group->nrows};
	int			lbs[1] = {1};
	int			ret;

	if (!plan->valid)
		rebuild_plan(plan);
	if (plan->rowdesc != NULL)
		return write_group_rows(group);
	for (int c = 0; c < plan->ncols; c++)
	{
		for (int r = 0; r < group->nrows; r++)
		{
			column[r] = group->values[r][c];
			column_nulls[r] = group->nulls[r][c];
		}
		args[c] = PointerGetDatum(construct_md_array(column, column_nulls, 1,
													 dims, lbs,
													 plan->types[c],
													 plan->typlens[c],
													 plan->typbyvals[c],
													 plan->typaligns[c]));
	}
	ret = SPI_execute_plan(plan->plan, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT && ret != SPI_OK_DELETE)
		elog(ERROR, "unexpected SPI result %d writing to relation %u",
			 ret, plan->key.relid);
	return SPI_processed;
}

/*
 * write_group_rows
 *		Run a group's statement with one array of the table's row type.
 */
static uint64
write_group_rows(SinkGroup *group)
{
	SinkPlan   *plan = group->plan;
	TupleDesc	desc = plan->rowdesc;
	Datum	   *rows = palloc(group->nrows * sizeof(Datum));
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *nulls = palloc(desc->natts * sizeof(bool));
	Datum		arg;
	int			ret;

	for (int r = 0; r < group->nrows; r++)
	{
		memset(nulls, true, desc->natts * sizeof(bool));
		for (int c = 0; c < plan->ncols; c++)
		{
			values[plan->attnos[c] - 1] = group->values[r][c];
			nulls[plan->attnos[c] - 1] = group->nulls[r][c];
		}
		rows[r] = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	}
	arg = PointerGetDatum(construct_array(rows, group->nrows, desc->tdtypeid,
										  -1, false, TYPALIGN_DOUBLE));
	ret = SPI_execute_plan(plan->plan, &arg, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "unexpected SPI result %d writing to relation %u",
			 ret, plan->key.relid);
	return SPI_processed;
}

/*
 * get_plan
 *		The kept statement for a row's table, operation and shape; built if
 *		needed.
 */
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
	for (;;)
	{
		plan = hash_search(sink_plans, &key, HASH_ENTER, &found);
		/* an entry whose build failed holds no shape: take it over */
		if (!found || plan->names == NULL || same_shape(plan, row))
			break;
		key.shape++;			/* another shape with the same hash */
	}
	if (!found || plan->names == NULL)
	{
		if (found && plan->plan != NULL)
			SPI_freeplan(plan->plan);
		memset(((char *) plan) + sizeof(SinkPlanKey), 0,
			   sizeof(SinkPlan) - sizeof(SinkPlanKey));
	}
	else if (plan->valid)
		return plan;

	/* new, or its table changed: (re)build it, for the same shape */
	build_plan(plan, row);
	return plan;
}

static uint32
row_shape(const RsRow *row)
{
	uint32		h = row->ncols;

	for (int i = 0; i < row->ncols; i++)
	{
		h = hash_combine(h, hash_bytes((const unsigned char *) row->names[i],
									   strlen(row->names[i])));
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
			(plan->names[i] != row->names[i] &&
			 strcmp(plan->names[i], row->names[i]) != 0))
			return false;
	}
	return true;
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
 * build_plan
 *		Prepare the statement of a row's shape, and note its column types
 *		and key columns, all in CacheMemoryContext.
 */
static void
build_plan(SinkPlan *plan, const RsRow *row)
{
	Relation	rel = relation_open(row->relid, AccessShareLock);
	Bitmapset  *pkey = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	MemoryContext old;
	StringInfoData sql;
	Oid		   *argtypes = palloc(row->ncols * sizeof(Oid));
	int			nkeys = 0;
	int		   *keycols = palloc(row->ncols * sizeof(int));
	AttrNumber *attnos = NULL;

	if (plan->plan)
		SPI_freeplan(plan->plan);
	plan->plan = NULL;
	plan->valid = false;

	for (int i = 0; i < row->ncols; i++)
	{
		argtypes[i] = get_array_type(row->types[i]);
		if (!OidIsValid(argtypes[i]))
			elog(ERROR, "type %u has no array type", row->types[i]);
	}
	/* the key columns in the order of the table, whatever the row's order */
	for (int a = 0; a < RelationGetNumberOfAttributes(rel); a++)
	{
		Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), a);

		if (attr->attisdropped ||
			!bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, pkey))
			continue;
		for (int i = 0; i < row->ncols; i++)
		{
			if (strcmp(NameStr(attr->attname), row->names[i]) == 0)
				keycols[nkeys++] = i;
		}
	}

	initStringInfo(&sql);
	if (row->op == RS_ROW_UPSERT)
	{
		attnos = row_type_columns(rel, row);
		append_upsert(&sql, rel, row, plan, attnos != NULL);
		if (plan->kind == SINK_UPSERT && nkeys != bms_num_members(pkey))
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("message has no value for the primary key of table \"%s\"",
							RelationGetRelationName(rel))));
	}
	else
	{
		append_delete(&sql, rel, row);
		plan->kind = (nkeys == row->ncols && nkeys == bms_num_members(pkey)) ?
			SINK_DELETE_KEY : SINK_DELETE_OTHER;
	}
	old = MemoryContextSwitchTo(CacheMemoryContext);
	if (plan->rowdesc != NULL)
	{
		FreeTupleDesc(plan->rowdesc);
		pfree(plan->attnos);
		plan->rowdesc = NULL;
	}
	if (attnos != NULL)
	{
		plan->rowdesc = CreateTupleDescCopy(RelationGetDescr(rel));
		plan->attnos = palloc(row->ncols * sizeof(AttrNumber));
		memcpy(plan->attnos, attnos, row->ncols * sizeof(AttrNumber));
		argtypes[0] = get_array_type(rel->rd_rel->reltype);
	}
	MemoryContextSwitchTo(old);
	relation_close(rel, AccessShareLock);

	old = MemoryContextSwitchTo(CacheMemoryContext);
	if (plan->names != NULL)
	{
		for (int i = 0; i < plan->ncols; i++)
			pfree(plan->names[i]);
		pfree(plan->names);
		pfree(plan->types);
		pfree(plan->typlens);
		pfree(plan->typbyvals);
		pfree(plan->typaligns);
		pfree(plan->keycols);
	}
	plan->ncols = row->ncols;
	plan->names = palloc(row->ncols * sizeof(char *));
	plan->types = palloc(row->ncols * sizeof(Oid));
	plan->typlens = palloc(row->ncols * sizeof(int16));
	plan->typbyvals = palloc(row->ncols * sizeof(bool));
	plan->typaligns = palloc(row->ncols * sizeof(char));
	plan->keycols = palloc(Max(nkeys, 1) * sizeof(int));
	for (int i = 0; i < row->ncols; i++)
	{
		plan->names[i] = pstrdup(row->names[i]);
		plan->types[i] = row->types[i];
		get_typlenbyvalalign(row->types[i], &plan->typlens[i],
							 &plan->typbyvals[i], &plan->typaligns[i]);
	}
	plan->nkeys = nkeys;
	memcpy(plan->keycols, keycols, nkeys * sizeof(int));
	MemoryContextSwitchTo(old);

	plan->plan = rs_keep_plan(sql.data, attnos ? 1 : row->ncols, argtypes);
	plan->valid = true;
}

/*
 * row_type_columns
 *		The attnums of a row's columns if it can travel as the table's row
 *		type (each column there, of the very type the row carries, and not
 *		generated); else NULL, and it goes as one array per column.
 */
static AttrNumber *
row_type_columns(Relation rel, const RsRow *row)
{
	AttrNumber *attnos = palloc(row->ncols * sizeof(AttrNumber));

	if (!OidIsValid(rel->rd_rel->reltype) ||
		!OidIsValid(get_array_type(rel->rd_rel->reltype)))
		return NULL;
	for (int i = 0; i < row->ncols; i++)
	{
		Form_pg_attribute attr;

		attnos[i] = attnameAttNum(rel, row->names[i], false);
		if (attnos[i] <= 0)
			return NULL;
		attr = TupleDescAttr(RelationGetDescr(rel), attnos[i] - 1);
		if (attr->atttypid != row->types[i] || attr->attgenerated)
			return NULL;
		for (int j = 0; j < i; j++)
		{
			if (attnos[j] == attnos[i])
				return NULL;
		}
	}
	return attnos;
}

/*
 * rebuild_plan
 *		Prepare a plan's statement again, for the same shape, after its
 *		table changed (ALTER TABLE, or only new statistics).
 */
static void
rebuild_plan(SinkPlan *plan)
{
	RsRow		shape;

	memset(&shape, 0, sizeof(shape));
	shape.op = plan->key.op;
	shape.relid = plan->key.relid;
	shape.ncols = plan->ncols;
	shape.names = palloc(plan->ncols * sizeof(char *));
	shape.types = palloc(plan->ncols * sizeof(Oid));
	for (int i = 0; i < plan->ncols; i++)
	{
		shape.names[i] = pstrdup(plan->names[i]);
		shape.types[i] = plan->types[i];
	}
	build_plan(plan, &shape);
}

/*
 * INSERT INTO t AS t (c...) SELECT * FROM unnest($n...) ON CONFLICT (k...)
 *   DO UPDATE SET c = EXCLUDED.c ... WHERE (t.c...) IS DISTINCT FROM (EXCLUDED.c...)
 * Sets plan->kind to SINK_UPSERT or SINK_APPEND.
 */
static void
append_upsert(StringInfo sql, Relation rel, const RsRow *row, SinkPlan *plan,
			  bool as_rows)
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
	if (as_rows)
	{
		/* one array of the table's row type: one tuplestore, not one per column */
		appendStringInfoString(sql, ") SELECT ");
		for (int i = 0; i < row->ncols; i++)
			appendStringInfo(sql, "%sr.%s", i ? ", " : "",
							 quote_identifier(row->names[i]));
		appendStringInfoString(sql, " FROM pg_catalog.unnest($1) AS r");
	}
	else
	{
		appendStringInfoString(sql, ") SELECT * FROM ");
		append_unnest(sql, row->ncols);
	}

	plan->kind = SINK_UPSERT;
	if (keys.len == 0 && key_has_defaults(rel, pkey))
	{
		plan->kind = SINK_APPEND;	/* a generated key: append */
		return;
	}
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

/*
 * The rows of ncols arrays $1 ... $n: ROWS FROM (unnest($1), ...), which is
 * what unnest($1, ...) means, but with the function schema-qualified.
 */
static void
append_unnest(StringInfo sql, int ncols)
{
	appendStringInfoString(sql, "ROWS FROM (");
	for (int i = 0; i < ncols; i++)
		appendStringInfo(sql, "%spg_catalog.unnest($%d)", i ? ", " : "", i + 1);
	appendStringInfoChar(sql, ')');
}

/* DELETE FROM t USING unnest($n...) AS u(c...) WHERE t.c = u.c AND ... */
static void
append_delete(StringInfo sql, Relation rel, const RsRow *row)
{
	appendStringInfo(sql, "DELETE FROM %s AS t USING ",
					 rs_qualified_name(RelationGetRelid(rel)));
	append_unnest(sql, row->ncols);
	appendStringInfoString(sql, " AS u(");
	for (int i = 0; i < row->ncols; i++)
		appendStringInfo(sql, "%s%s", i ? ", " : "",
						 quote_identifier(row->names[i]));
	appendStringInfoString(sql, ") WHERE ");
	for (int i = 0; i < row->ncols; i++)
	{
		const char *col = quote_identifier(row->names[i]);

		appendStringInfo(sql, "%st.%s = u.%s", i ? " AND " : "", col, col);
	}
}

/* Pending keys: the table and the images of the key columns' values */
static uint32
key_hash(const void *key, Size keysize)
{
	PendingKey *k = (PendingKey *) key;
	const SinkPlan *plan = k->plan;
	uint32		h;

	if (k->hash != 0)
		return k->hash;
	h = murmurhash32(plan->key.relid);
	for (int i = 0; i < plan->nkeys; i++)
	{
		int			c = plan->keycols[i];

		if (!k->nulls[c])
			h = hash_combine(h, datum_image_hash(k->values[c], plan->typbyvals[c],
												 plan->typlens[c]));
	}
	k->hash = h | 1;			/* 0 means "not computed" */
	return k->hash;
}

static int
key_match(const void *key1, const void *key2, Size keysize)
{
	const PendingKey *a = key1;
	const PendingKey *b = key2;

	if (a->plan->key.relid != b->plan->key.relid ||
		a->plan->nkeys != b->plan->nkeys)
		return 1;
	for (int i = 0; i < a->plan->nkeys; i++)
	{
		int			ca = a->plan->keycols[i];
		int			cb = b->plan->keycols[i];

		if (a->plan->types[ca] != b->plan->types[cb] ||
			a->nulls[ca] != b->nulls[cb])
			return 1;
		if (!a->nulls[ca] &&
			!datum_image_eq(a->values[ca], b->values[cb],
							a->plan->typbyvals[ca], a->plan->typlens[ca]))
			return 1;
	}
	return 0;
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
