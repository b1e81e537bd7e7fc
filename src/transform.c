/*-------------------------------------------------------------------------
 *
 * transform.c
 *	  Turn a message of a feed into rows for the sink.
 *
 * A message goes through two steps.  rs_split_message parses it and cuts it
 * into units, the parts that land or fail on their own (one per train
 * message of a TRUST frame).  rs_transform_unit turns a unit into RsRows,
 * typed datums under column names, which sink.c writes.  Neither step does
 * I/O or touches a table: both only ereport(ERROR) on bad input, and the
 * caller (ingest.c) decides what an error costs.
 *
 * This file holds the feed dispatch and the field conversions that every
 * feed shares; trust.c, cif.c and generic.c hold the feeds themselves.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/transform.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "feed_time.h"
#include "guc.h"
#include "transform.h"

static Oid	feed_target(const char *name, const char *default_schema);
static void add_field(RsRow *row, const RsJson *object, const RsField *field);
static int64 parse_int8(const char *field, const char *text,
						const char *expected);
static bool parse_json_bool(const char *field, const RsJson *node);
static void add_time(RsRow *row, const char *name, const char *text,
					 bool event_time);

/*
 * rs_feed_parse
 *		Check a feed specification and resolve its target table.
 *
 * A wrong specification is the caller's mistake, not the message's: it
 * raises an ERROR instead of going to the dead letters.  feed->name is the
 * specification with its table schema-qualified, so that it means the same
 * whatever the search_path of whoever reads it later.
 */
void
rs_feed_parse(const char *spec, RsFeed *feed)
{
	feed->relid = InvalidOid;
	feed->name = pstrdup(spec);
	if (strcmp(spec, "trust") == 0)
		feed->kind = RS_FEED_TRUST;
	else if (strcmp(spec, "cif") == 0)
		feed->kind = RS_FEED_CIF;
	else if (strncmp(spec, "reference:", 10) == 0)
	{
		feed->kind = RS_FEED_REFERENCE;
		feed->relid = feed_target(spec + 10, "rail");
		rs_generic_check_target(feed->relid);
		feed->name = psprintf("reference:%s", rs_qualified_name(feed->relid));
	}
	else if (strncmp(spec, "json:", 5) == 0)
	{
		feed->kind = RS_FEED_JSON;
		feed->relid = feed_target(spec + 5, NULL);
		rs_generic_check_target(feed->relid);
		feed->name = psprintf("json:%s", rs_qualified_name(feed->relid));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized feed \"%s\"", spec),
				 errhint("Use \"trust\", \"cif\", \"reference:<table>\" or \"json:<table>\".")));
}

/*
 * The table of a reference: or json: feed.  An unqualified name is looked up
 * in default_schema if given, else along the search_path.
 */
static Oid
feed_target(const char *name, const char *default_schema)
{
	List	   *names;
	RangeVar   *rv;

	if (*name == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feed names no table"),
				 errhint("Write the table after the colon, as in \"json:public.events\".")));
	names = stringToQualifiedNameList(name);
	rv = makeRangeVarFromNameList(names);
	if (rv->schemaname == NULL && default_schema != NULL)
		rv->schemaname = pstrdup(default_schema);
	return RangeVarGetRelid(rv, NoLock, false);
}

/* "schema.table" of a relation, each part quoted as needed */
char *
rs_qualified_name(Oid relid)
{
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  name);
}

/*
 * rs_check_message_size
 *		Raise an ERROR if a message of len bytes is too large to transform.
 */
void
rs_check_message_size(size_t len)
{
	if (len > (size_t) rs_max_message_size * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message of %zu bytes exceeds the limit of %d kB", len,
						rs_max_message_size),
				 errhint("Raise \"rail_stream.max_message_size\" to accept larger messages.")));
}

/*
 * rs_split_message
 *		Parse a message and cut it into units (List of RsUnit *).
 *
 * isnull marks a tombstone, a message without a value: for keyed feeds it is
 * one unit that deletes the row with the message's key.
 */
List *
rs_split_message(const RsFeed *feed, const char *data, size_t len,
				 bool isnull)
{
	RsUnit	   *unit;
	const RsJson *json;

	if (isnull)
	{
		if (feed->kind == RS_FEED_TRUST || feed->kind == RS_FEED_CIF)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("message has no value"),
					 errdetail("Tombstones delete rows only in \"reference:\" and \"json:\" feeds.")));
		unit = palloc0(sizeof(RsUnit));
		unit->count = 1;
		return list_make1(unit);
	}
	rs_check_message_size(len);

	json = rs_json_parse(data, len, "message");
	if (feed->kind == RS_FEED_TRUST)
		return rs_trust_split(json);

	unit = palloc0(sizeof(RsUnit));
	unit->count = 1;
	unit->json = json;
	return list_make1(unit);
}

/*
 * rs_transform_unit
 *		The rows (List of RsRow *) that one unit writes.
 */
List *
rs_transform_unit(const RsFeed *feed, const RsUnit *unit, const char *key)
{
	switch (feed->kind)
	{
		case RS_FEED_TRUST:
			return rs_trust_transform(unit->json);
		case RS_FEED_CIF:
			return rs_cif_transform(unit->json);
		case RS_FEED_REFERENCE:
		case RS_FEED_JSON:
			return rs_generic_transform(feed->relid, unit->json, key);
	}
	return NIL;
}

/* The OID of table "rail.<table>", which the extension created. */
Oid
rs_rail_relid(const char *table)
{
	Oid			relid;

	relid = get_relname_relid(table, get_namespace_oid("rail", false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"rail.%s\" does not exist", table),
				 errhint("Recreate the extension \"rail_stream\" to restore its tables.")));
	return relid;
}

RsRow *
rs_row_new(RsRowOp op, Oid relid, int maxcols)
{
	RsRow	   *row = palloc(sizeof(RsRow));

	row->op = op;
	row->relid = relid;
	row->stage = 0;
	row->link = NULL;
	row->ncols = 0;
	row->maxcols = maxcols;
	row->names = palloc(maxcols * sizeof(char *));
	row->types = palloc(maxcols * sizeof(Oid));
	row->values = palloc(maxcols * sizeof(Datum));
	row->nulls = palloc(maxcols * sizeof(bool));
	return row;
}

void
rs_row_add(RsRow *row, const char *name, Oid type, Datum value, bool isnull)
{
	if (row->ncols >= row->maxcols)
		elog(ERROR, "too many columns for row: %d", row->maxcols);
	row->names[row->ncols] = name;
	row->types[row->ncols] = type;
	row->values[row->ncols] = value;
	row->nulls[row->ncols] = isnull;
	row->ncols++;
}

/* Add a text column; a NULL value is SQL NULL. */
void
rs_row_add_text(RsRow *row, const char *name, const char *value)
{
	rs_row_add(row, name, TEXTOID,
			   value ? CStringGetTextDatum(value) : (Datum) 0, value == NULL);
}

/* The number of columns that rs_add_fields adds for fields. */
int
rs_field_columns(const RsField *fields)
{
	int			n = 0;

	for (const RsField *f = fields; f->name != NULL; f++)
		n += (f->kind == RS_FIELD_EVENT_TIME || f->kind == RS_FIELD_UTC_TIME) ? 2 : 1;
	return n;
}

/*
 * rs_add_fields
 *		Convert each listed field of a JSON object to its column(s).
 *
 * A field may be missing (the current TRUST feed omits empty fields) or an
 * empty string (the 2017 feed): both give NULL, unless the field is required.
 */
void
rs_add_fields(RsRow *row, const RsJson *object, const RsField *fields)
{
	for (const RsField *f = fields; f->name != NULL; f++)
		add_field(row, object, f);
}

static void
add_field(RsRow *row, const RsJson *object, const RsField *field)
{
	const RsJson *node = rs_json_get(object, field->name);
	char	   *text = rs_field_text(object, field->name);
	const char *column = field->column ? field->column : field->name;

	if (text == NULL && field->required)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("required field \"%s\" is missing or empty", field->name)));

	switch (field->kind)
	{
		case RS_FIELD_TEXT:
			rs_row_add_text(row, column, text);
			break;
		case RS_FIELD_INT4:
			{
				bool		isnull;
				int32		v = rs_field_int4(object, field->name, &isnull);

				rs_row_add(row, column, INT4OID, Int32GetDatum(v), isnull);
			}
			break;
		case RS_FIELD_BOOL:
			rs_row_add(row, column, BOOLOID,
					   BoolGetDatum(text ? parse_json_bool(field->name, node) : false),
					   text == NULL);
			break;
		case RS_FIELD_EVENT_TIME:
		case RS_FIELD_UTC_TIME:
			add_time(row, column, text, field->kind == RS_FIELD_EVENT_TIME);
			break;
		case RS_FIELD_DATE:
			rs_row_add(row, column, DATEOID,
					   text ? DirectFunctionCall1(date_in,
												  CStringGetDatum(pnstrdup(text, 10)))
					   : (Datum) 0,
					   text == NULL);
			break;
	}
}

/*
 * rs_field_text
 *		The text of a scalar member; NULL when it is missing, JSON null or
 *		the empty string.  An object or array is an error.
 */
char *
rs_field_text(const RsJson *object, const char *name)
{
	const RsJson *node = rs_json_get(object, name);
	char	   *text;

	if (node == NULL)
		return NULL;
	if (rs_json_type(node) == RS_JSON_OBJECT || rs_json_type(node) == RS_JSON_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("field \"%s\" is a JSON %s, not a scalar", name,
						rs_json_type_name(node))));
	text = rs_json_scalar_text(node);
	if (text != NULL && *text == '\0')
		return NULL;
	return text;
}

/* An object-valued member, or NULL when it is missing or JSON null. */
const RsJson *
rs_field_object(const RsJson *object, const char *name)
{
	const RsJson *node = rs_json_get(object, name);

	if (node == NULL || rs_json_type(node) == RS_JSON_NULL)
		return NULL;
	if (rs_json_type(node) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("field \"%s\" is a JSON %s, not an object", name,
						rs_json_type_name(node))));
	return node;
}

/*
 * rs_field_int4
 *		An integer member, written as a JSON number or a string of digits;
 *		*isnull when missing, null, empty or blank.
 */
int32
rs_field_int4(const RsJson *object, const char *name, bool *isnull)
{
	char	   *text = rs_field_text(object, name);
	int64		v;

	*isnull = (text == NULL || strspn(text, " ") == strlen(text));
	if (*isnull)
		return 0;
	v = parse_int8(name, text, "an integer");
	if (v < PG_INT32_MIN || v > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value \"%s\" of field \"%s\" is out of range for type integer",
						text, name)));
	return (int32) v;
}

/* expected completes "The field must hold ..." in the error detail */
static int64
parse_int8(const char *field, const char *text, const char *expected)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(text, &end, 10);
	while (*end == ' ')
		end++;
	if (end == text || *end != '\0' || errno == ERANGE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid value for field \"%s\": \"%s\"", field, text),
				 errdetail("The field must hold %s.", expected)));
	return (int64) v;
}

static bool
parse_json_bool(const char *field, const RsJson *node)
{
	char	   *text = rs_json_scalar_text(node);

	if (strcmp(text, "true") == 0)
		return true;
	if (strcmp(text, "false") == 0)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid value for field \"%s\": \"%s\"", field, text),
			 errdetail("The field must be \"true\" or \"false\".")));
	return false;				/* keep compiler quiet */
}

/*
 * add_time
 *		A TRUST time in epoch milliseconds: the column <name> as timestamptz
 *		and the raw value as <name>_ms.  A time of 0 or less is TRUST's
 *		"none": NULL, with the raw value kept.
 */
static void
add_time(RsRow *row, const char *name, const char *text, bool event_time)
{
	char	   *ms_name = psprintf("%s_ms", name);
	int64		ms;
	TimestampTz ts;

	if (text == NULL)
	{
		rs_row_add(row, name, TIMESTAMPTZOID, (Datum) 0, true);
		rs_row_add(row, ms_name, INT8OID, (Datum) 0, true);
		return;
	}
	ms = parse_int8(name, text, "milliseconds since the Unix epoch");
	/* TRUST writes 0 (and sometimes -1) for "no time": the raw value stays */
	if (ms <= 0)
		rs_row_add(row, name, TIMESTAMPTZOID, (Datum) 0, true);
	else
	{
		ts = event_time ? rs_local_ms_to_timestamptz(ms) : rs_utc_ms_to_timestamptz(ms);
		rs_row_add(row, name, TIMESTAMPTZOID, TimestampTzGetDatum(ts), false);
	}
	rs_row_add(row, ms_name, INT8OID, Int64GetDatum(ms), false);
}
