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
 *
 * Windows are aligned in the session's TimeZone, as date_trunc() is: with
 * TimeZone = 'Europe/London' a day is a UK calendar day, 23 or 25 hours long
 * when the clocks change.  The origin is Monday 2000-01-03 00:00, so weekly
 * windows start on Mondays.  Widths with months or years are rejected, as
 * they are not of fixed length.
 *
 * The query runs through SPI as the calling user, with every identifier
 * quoted and every value passed as a parameter.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/window.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "transform.h"

PG_FUNCTION_INFO_V1(tumbling_window_counts);

static void check_width(const Interval *width);
static const char *column_expr(Oid relid, Name column, bool is_time);
static char *build_query(Oid relid, Name time_column, ArrayType *groups);

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
	Oid			argtypes[3] = {INTERVALOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *query;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation, time column, width and group columns must not be null")));
	relid = PG_GETARG_OID(0);
	width = PG_GETARG_INTERVAL_P(2);
	check_width(width);
	query = build_query(relid, PG_GETARG_NAME(1), PG_GETARG_ARRAYTYPE_P(3));

	args[0] = IntervalPGetDatum(width);
	for (int i = 1; i < 3; i++)
	{
		nulls[i] = PG_ARGISNULL(i + 3) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(i + 3) ? (Datum) 0 : PG_GETARG_DATUM(i + 3);
	}

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	if (SPI_execute_with_args(query, 3, argtypes, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "unexpected SPI result for window query");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[4];
		bool		isnull[4];

		for (int c = 0; c < 4; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									  c + 1, &isnull[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	SPI_finish();
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
 * column_expr
 *		The quoted column, checked to exist; a time column must be of a
 *		date/time type and is cast to timestamp (wall-clock in TimeZone).
 */
static const char *
column_expr(Oid relid, Name column, bool is_time)
{
	AttrNumber	attnum = get_attnum(relid, NameStr(*column));
	const char *quoted = quote_identifier(NameStr(*column));
	Oid			type;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						NameStr(*column), get_rel_name(relid))));
	if (!is_time)
		return psprintf("t.%s::text", quoted);

	type = get_atttype(relid, attnum);
	if (type != TIMESTAMPTZOID && type != TIMESTAMPOID && type != DATEOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is of type %s, not a date or timestamp",
						NameStr(*column), format_type_be(type)),
				 errhint("The time column must be of type timestamp with time zone, timestamp or date.")));
	return quoted;
}

static char *
build_query(Oid relid, Name time_column, ArrayType *groups)
{
	const char *time = column_expr(relid, time_column, true);
	StringInfoData sql;
	Datum	   *names;
	bool	   *nulls;
	int			ngroups;

	deconstruct_array(groups, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &names, &nulls, &ngroups);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT w::timestamptz, (w + $1)::timestamptz, g, count(*)"
					 " FROM (SELECT date_bin($1, t.%s::timestamp, '2000-01-03') AS w,"
					 " ARRAY[", time);
	for (int i = 0; i < ngroups; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("group column names must not be null")));
		appendStringInfo(&sql, "%s%s", i ? ", " : "",
						 column_expr(relid, DatumGetName(names[i]), false));
	}
	appendStringInfo(&sql,
					 "]::text[] AS g FROM %s t"
					 " WHERE t.%s IS NOT NULL"
					 " AND ($2 IS NULL OR t.%s >= $2) AND ($3 IS NULL OR t.%s < $3)) s"
					 " GROUP BY w, g ORDER BY w, g",
					 rs_qualified_name(relid),
					 time, time, time);
	return sql.data;
}
