/*-------------------------------------------------------------------------
 *
 * row.c
 *	  Rows for the sink, and the conversions of feed fields to columns.
 *
 * An RsRow is a table, an operation and typed datums under column names;
 * the feed files (trust.c, cif.c, generic.c) build them, sink.c writes
 * them.  A row grows as columns are added.  The field conversions turn the
 * members of a feed's JSON object into columns by a table of RsFields: text,
 * integers written as numbers or strings, booleans, dates, and TRUST's epoch
 * milliseconds (feed_time.c), each with PostgreSQL's error for bad input.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/row.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "feed_time.h"
#include "row.h"

static int	add_fields(RsRow *row, const RsJson *object, const RsField *fields,
					   bool blank_is_null);
static bool add_field(RsRow *row, const RsJson *object, const RsField *field,
					  bool blank_is_null);
static char *node_text(const RsJson *node, const char *name);
static int32 text_int4(const char *text, const char *name, bool *isnull);
static int64 parse_int8(const char *field, const char *text,
						const char *expected);
static bool parse_json_bool(const char *field, const RsJson *node);
static void add_time(RsRow *row, const RsField *field, const char *name,
					 const char *text, bool event_time);

/* An empty row, with room for about ncols columns */
RsRow *
rs_row_new(RsRowOp op, Oid relid, int ncols)
{
	RsRow	   *row = palloc(sizeof(RsRow));
	int			maxcols = Max(ncols, 8);

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

/* Add a column; the row grows as needed. */
void
rs_row_add(RsRow *row, const char *name, Oid type, Datum value, bool isnull)
{
	if (row->ncols >= row->maxcols)
	{
		row->maxcols *= 2;
		row->names = repalloc(row->names, row->maxcols * sizeof(char *));
		row->types = repalloc(row->types, row->maxcols * sizeof(Oid));
		row->values = repalloc(row->values, row->maxcols * sizeof(Datum));
		row->nulls = repalloc(row->nulls, row->maxcols * sizeof(bool));
	}
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
 *		Convert each listed field of a JSON object to its column(s); returns
 *		how many of them the object has, so that a caller can tell that it
 *		has no other members without looking.
 *
 * A field may be missing (the current TRUST feed omits empty fields) or an
 * empty string (the 2017 feed): both give NULL, unless the field is required.
 */
int
rs_add_fields(RsRow *row, const RsJson *object, const RsField *fields)
{
	return add_fields(row, object, fields, false);
}

/*
 * rs_add_blank_fields
 *		rs_add_fields for a feed that writes blanks (" ") for "no value", as
 *		VSTP does: a value of spaces only is NULL too.
 */
int
rs_add_blank_fields(RsRow *row, const RsJson *object, const RsField *fields)
{
	return add_fields(row, object, fields, true);
}

static int
add_fields(RsRow *row, const RsJson *object, const RsField *fields,
		   bool blank_is_null)
{
	int			found = 0;

	for (const RsField *f = fields; f->name != NULL; f++)
		found += add_field(row, object, f, blank_is_null);
	return found;
}

/* Add one field's column(s); returns whether the object has the field. */
static bool
add_field(RsRow *row, const RsJson *object, const RsField *field,
		  bool blank_is_null)
{
	const RsJson *node = rs_json_get(object, field->name);
	char	   *text = node_text(node, field->name);
	const char *column = field->column ? field->column : field->name;

	if (blank_is_null && text != NULL && strspn(text, " ") == strlen(text))
		text = NULL;

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
				int32		v = text_int4(text, field->name, &isnull);

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
			add_time(row, field, column, text,
					 field->kind == RS_FIELD_EVENT_TIME);
			break;
		case RS_FIELD_DATE:
			rs_row_add(row, column, DATEOID,
					   text ? DirectFunctionCall1(date_in,
												  CStringGetDatum(pnstrdup(text, 10)))
					   : (Datum) 0,
					   text == NULL);
			break;
	}
	return node != NULL;
}

/*
 * rs_field_text
 *		The text of a scalar member; NULL when it is missing, JSON null or
 *		the empty string.  An object or array is an error.
 */
char *
rs_field_text(const RsJson *object, const char *name)
{
	return node_text(rs_json_get(object, name), name);
}

/* rs_field_text of the member node (NULL: missing) of field name */
static char *
node_text(const RsJson *node, const char *name)
{
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
	return text_int4(rs_field_text(object, name), name, isnull);
}

/* rs_field_int4 of the field's text (NULL: missing, null or empty) */
static int32
text_int4(const char *text, const char *name, bool *isnull)
{
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
 *		and the raw value as <name>_ms (the field's ms_column, a constant,
 *		when it names one: no name to format per message).  A time of 0 or
 *		less is TRUST's "none": NULL, with the raw value kept.
 */
static void
add_time(RsRow *row, const RsField *field, const char *name,
		 const char *text, bool event_time)
{
	const char *ms_name = field->ms_column ? field->ms_column :
		psprintf("%s_ms", name);
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
