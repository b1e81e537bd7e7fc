/*-------------------------------------------------------------------------
 *
 * window.c
 *	  tumbling_window_counts(): counts per fixed time window and group.
 *
 * The talk counts movements per day, TOC and variation status with a
 * ksqlDB tumbling window.  This function does the same over any table and
 * time column, in one grouped scan:
 *
 *	 SELECT date_bin(width, time::timestamp, origin) AS w, ARRAY[g...], count(*)
 *	 FROM relation WHERE time >= from AND time < until GROUP BY 1, 2
 *	 ORDER BY 1, 2
 *
 * Windows are aligned in the session's TimeZone, as date_trunc() is: with
 * TimeZone = 'Europe/London' a day is a UK calendar day, 23 or 25 hours long
 * when the clocks change.  The origin is Monday 2000-01-03 00:00, so weekly
 * windows start on Mondays.  Widths with months or years are rejected, as
 * they are not of fixed length.
 *
 * Memory.  The number of groups is not bounded (a key per train gives
 * millions), so nothing here holds the result in memory: the executor does
 * the grouping (HashAgg or Sort + GroupAggregate, both spilling to disk past
 * work_mem) and the sort, and its output goes through a tuplestore
 * DestReceiver straight into the ReturnSetInfo tuplestore, which
 * InitMaterializedSRF() creates with work_mem and which spills to a
 * temporary file past it: no SPI_tuptable, no second copy of the rows.
 * The receiver is given the function's result descriptor, so a query whose
 * columns did not match it would fail rather than return wrong rows.  The
 * query groups and sorts on the group columns rather than on their array
 * when that gives the same result (see build_query), which brings the time
 * down to that of a plain GROUP BY.
 *
 * Security.  The query runs through SPI as the calling user (the function
 * is not SECURITY DEFINER), so the executor checks privileges and row-level
 * security as for the user's own query; the relation is also checked for
 * SELECT privilege up front, on the table or on each column used, so that a
 * user who may not read it gets "permission denied" before anything else.
 * Every identifier is quoted and every value passed as a parameter.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/window.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/objectaddress.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "transform.h"

PG_FUNCTION_INFO_V1(tumbling_window_counts);

#define WINDOW_NARGS 3

static void check_width(const Interval *width);
static bool check_relation(Oid relid);
static const char *column_expr(Oid relid, Name column, bool is_time,
							   bool table_readable, Oid *collation);
static char *build_query(Oid relid, Name time_column, ArrayType *groups,
						 bool table_readable);

/*
 * tumbling_window_counts(relation regclass, time_column name, width interval,
 *		group_columns name[], "from" timestamptz, until timestamptz)
 *	 RETURNS TABLE (window_start, window_end, group_values text[], count)
 */
Datum
tumbling_window_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	Interval   *width;
	Oid			argtypes[WINDOW_NARGS] = {INTERVALOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	ParamListInfo params;
	SPIExecuteOptions options;
	SPIPlanPtr	plan;
	DestReceiver *dest;
	char	   *query;
	bool		table_readable;
	int			rc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation, time column, width and group columns must not be null")));
	relid = PG_GETARG_OID(0);
	width = PG_GETARG_INTERVAL_P(2);
	check_width(width);
	table_readable = check_relation(relid);
	query = build_query(relid, PG_GETARG_NAME(1), PG_GETARG_ARRAYTYPE_P(3),
						table_readable);

	/* $1 is the width, $2 and $3 the bounds (NULL: unbounded) */
	params = makeParamList(WINDOW_NARGS);
	for (int i = 0; i < WINDOW_NARGS; i++)
	{
		ParamExternData *prm = &params->params[i];

		prm->ptype = argtypes[i];
		prm->pflags = PARAM_FLAG_CONST;
		if (i == 0)
		{
			prm->isnull = false;
			prm->value = IntervalPGetDatum(width);
		}
		else
		{
			prm->isnull = PG_ARGISNULL(i + 3);
			prm->value = prm->isnull ? (Datum) 0 : PG_GETARG_DATUM(i + 3);
		}
	}

	/*
	 * The executor writes the rows straight into the set-returning
	 * function's tuplestore (bounded by work_mem, spilling past it), checked
	 * against the result descriptor.
	 */
	InitMaterializedSRF(fcinfo, 0);
	dest = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
									rsinfo->econtext->ecxt_per_query_memory,
									false, rsinfo->setDesc,
									"window query does not match the result type of tumbling_window_counts");

	SPI_connect();
	plan = SPI_prepare_cursor(query, WINDOW_NARGS, argtypes,
							  CURSOR_OPT_PARALLEL_OK);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed for window query: %s",
			 SPI_result_code_string(SPI_result));
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = dest;
	rc = SPI_execute_plan_extended(plan, &options);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "unexpected SPI result for window query: %s",
			 SPI_result_code_string(rc));
	SPI_finish();
	dest->rDestroy(dest);
	return (Datum) 0;
}

static void
check_width(const Interval *width)
{
	if (width->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window width cannot include months or years"),
				 errdetail("Windows have a fixed length, and months do not."),
				 errhint("Use days, as in '7 days'.")));
	if (width->day < 0 || width->time < 0 ||
		(width->day == 0 && width->time <= 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window width must be positive"),
				 errdetail("The width given was \"%s\".",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(width))))));
}

/*
 * check_relation
 *		The relation must exist and the caller must be allowed to read it: on
 *		the whole table (returns true) or at least on some of its columns
 *		(returns false: column_expr then checks each column used), as the
 *		executor would.
 */
static bool
check_relation(Oid relid)
{
	Oid			userid = GetUserId();
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (pg_class_aclcheck(relid, userid, ACL_SELECT) == ACLCHECK_OK)
		return true;
	if (pg_attribute_aclcheck_all(relid, userid, ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV,
					   get_relkind_objtype(get_rel_relkind(relid)), relname);
	return false;
}

/*
 * column_expr
 *		The quoted column, checked to exist and, when the table as a whole is
 *		not readable, to be readable by the caller; a time column must be of a
 *		date/time type (it is cast to timestamp, wall-clock in TimeZone by the
 *		query).  *collation is the collation of "t.column::text": the
 *		column's, or the default one for a type without collation.
 */
static const char *
column_expr(Oid relid, Name column, bool is_time, bool table_readable,
			Oid *collation)
{
	AttrNumber	attnum = get_attnum(relid, NameStr(*column));
	Oid			type;
	int32		typmod;
	Oid			attcollation;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						NameStr(*column), get_rel_name(relid))));
	/* system columns have no privileges of their own: the table's apply */
	if (!table_readable &&
		(attnum < 0 ||
		 pg_attribute_aclcheck(relid, attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK))
		aclcheck_error_col(ACLCHECK_NO_PRIV,
						   get_relkind_objtype(get_rel_relkind(relid)),
						   get_rel_name(relid), NameStr(*column));

	get_atttypetypmodcoll(relid, attnum, &type, &typmod, &attcollation);
	if (collation)
		*collation = OidIsValid(attcollation) ? attcollation : DEFAULT_COLLATION_OID;
	if (is_time &&
		type != TIMESTAMPTZOID && type != TIMESTAMPOID && type != DATEOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is of type %s, not a date or timestamp",
						NameStr(*column), format_type_be(type)),
				 errhint("The time column must be of type timestamp with time zone, timestamp or date.")));
	return quote_identifier(NameStr(*column));
}

/*
 * build_query
 *		The grouped query; $1 is the width, $2 and $3 the bounds.
 *
 * The result is ordered and grouped by window and group_values, the text[]
 * of the group columns cast to text.  Grouping and sorting on that array
 * costs half as much again as on the columns themselves (an array is built
 * for every row, and every comparison walks two arrays), so when it makes no
 * difference the query groups by the columns cast to text and sorts on them,
 * and builds the array once per group, after the sort (which then moves
 * narrower rows):
 *
 *	 SELECT ws, (w + $1)::timestamptz, ARRAY[g1, g2]::text[], n
 *	 FROM (SELECT w, w::timestamptz AS ws, g1, g2, count(*) AS n
 *		   FROM (SELECT date_bin(...) AS w, t.a::text AS g1, t.b::text AS g2
 *				 FROM relation t WHERE ...) s
 *		   GROUP BY w, g1, g2 ORDER BY ws, g1, g2) a
 *	 ORDER BY ws, g1, g2
 *
 * (the outer ORDER BY is the subquery's order, so it costs no second sort;
 * windows are sorted as timestamptz, as they always were: the order of the
 * wall-clock starts is not the same when a window starts in the hour
 * skipped by a change of clocks).
 *
 * This is the same result, in the same order, when the group columns' text
 * has one and the same deterministic collation: equality is then equality
 * of bytes, element by element, as for the arrays; and arrays compare
 * element by element in the array's collation, which is then that of each
 * element, with NULL after anything else, as ORDER BY sorts NULLs by
 * default.  Otherwise (columns of different collations, or a
 * nondeterministic collation) the query groups and sorts on the array
 * itself, whose collation the parser derives (or rejects) as it always did.
 */
static char *
build_query(Oid relid, Name time_column, ArrayType *groups, bool table_readable)
{
	const char *time = column_expr(relid, time_column, true, table_readable,
								   NULL);
	StringInfoData sql;
	StringInfoData inner;
	Datum	   *names;
	bool	   *nulls;
	int			ngroups;
	const char **exprs;
	Oid			first_collation = InvalidOid;
	bool		by_columns = true;

	deconstruct_array(groups, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &names, &nulls, &ngroups);
	exprs = palloc(sizeof(char *) * Max(ngroups, 1));
	for (int i = 0; i < ngroups; i++)
	{
		Oid			collation;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("group column names must not be null")));
		exprs[i] = column_expr(relid, DatumGetName(names[i]), false,
							   table_readable, &collation);
		if (i == 0)
			first_collation = collation;
		if (collation != first_collation ||
			!get_collation_isdeterministic(collation))
			by_columns = false;
	}

	/* the rows of the relation in the window bounds: t.time is not null */
	initStringInfo(&inner);
	appendStringInfo(&inner, "SELECT date_bin($1, t.%s::timestamp, '2000-01-03') AS w",
					 time);
	if (by_columns)
	{
		for (int i = 0; i < ngroups; i++)
			appendStringInfo(&inner, ", t.%s::text AS g%d", exprs[i], i + 1);
	}
	else
	{
		appendStringInfoString(&inner, ", ARRAY[");
		for (int i = 0; i < ngroups; i++)
			appendStringInfo(&inner, "%st.%s::text", i ? ", " : "", exprs[i]);
		appendStringInfoString(&inner, "]::text[] AS g");
	}
	appendStringInfo(&inner,
					 " FROM %s t WHERE t.%s IS NOT NULL"
					 " AND ($2 IS NULL OR t.%s >= $2) AND ($3 IS NULL OR t.%s < $3)",
					 rs_qualified_name(relid), time, time, time);

	initStringInfo(&sql);
	if (by_columns)
	{
		StringInfoData keys;

		initStringInfo(&keys);
		for (int i = 0; i < ngroups; i++)
			appendStringInfo(&keys, ", g%d", i + 1);
		appendStringInfoString(&sql,
							   "SELECT ws, (w + $1)::timestamptz, ARRAY[");
		for (int i = 0; i < ngroups; i++)
			appendStringInfo(&sql, "%sg%d", i ? ", " : "", i + 1);
		appendStringInfo(&sql,
						 "]::text[], n"
						 " FROM (SELECT w, w::timestamptz AS ws%s, count(*) AS n"
						 " FROM (%s) s GROUP BY w%s ORDER BY ws%s) a"
						 " ORDER BY ws%s",
						 keys.data, inner.data, keys.data, keys.data, keys.data);
	}
	else
		appendStringInfo(&sql,
						 "SELECT w::timestamptz, (w + $1)::timestamptz, g, count(*)"
						 " FROM (%s) s GROUP BY w, g ORDER BY w, g",
						 inner.data);
	return sql.data;
}
