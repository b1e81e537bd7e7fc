/*-------------------------------------------------------------------------
 *
 * row.h
 *	  Rows for the sink, and the conversions of feed fields to columns.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/row.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_ROW_H
#define RAIL_STREAM_ROW_H

#include "json.h"

/* What the sink does with a row */
typedef enum RsRowOp
{
	RS_ROW_UPSERT,				/* insert, or update the row with its key */
	RS_ROW_DELETE				/* delete the rows matching every column */
} RsRowOp;

/*
 * One row for one table, as typed datums under column names.
 *
 * stage and link tell the sink which rows of a batch must see which: rows
 * of stage 0 are written before rows of stage 1 that carry the same link
 * (a TRUST activation before the movements of its train, which read it in
 * their enrichment), and after those that came before them.
 */
typedef struct RsRow
{
	RsRowOp		op;
	Oid			relid;
	int			stage;			/* 0 or 1; 0 unless set */
	const char *link;			/* or NULL */
	int			ncols;
	int			maxcols;
	const char **names;
	Oid		   *types;
	Datum	   *values;
	bool	   *nulls;
} RsRow;

/* How a field of a feed record becomes a column */
typedef enum RsFieldKind
{
	RS_FIELD_TEXT,				/* text; "" becomes NULL */
	RS_FIELD_INT4,				/* integer, from a string or a number */
	RS_FIELD_BOOL,				/* "true"/"false" or a JSON boolean */
	RS_FIELD_EVENT_TIME,		/* TRUST UK wall-clock ms: <name> + <name>_ms */
	RS_FIELD_UTC_TIME,			/* TRUST UTC ms: <name> + <name>_ms */
	RS_FIELD_DATE				/* "YYYY-MM-DD" (a time part is ignored) */
} RsFieldKind;

typedef struct RsField
{
	const char *name;			/* field name in the JSON object */
	RsFieldKind kind;
	bool		required;		/* a missing or empty value is an error */
	const char *column;			/* column name, if not the field name */
	const char *ms_column;		/* a time's <column>_ms, if spelled out */
} RsField;

extern RsRow *rs_row_new(RsRowOp op, Oid relid, int ncols);
extern void rs_row_add(RsRow *row, const char *name, Oid type, Datum value,
					   bool isnull);
extern void rs_row_add_text(RsRow *row, const char *name, const char *value);
extern int	rs_field_columns(const RsField *fields);
extern int	rs_add_fields(RsRow *row, const RsJson *object,
						  const RsField *fields);
extern int	rs_add_blank_fields(RsRow *row, const RsJson *object,
								const RsField *fields);
extern char *rs_field_text(const RsJson *object, const char *name);
extern const RsJson *rs_field_object(const RsJson *object, const char *name);
extern int32 rs_field_int4(const RsJson *object, const char *name,
						   bool *isnull);

#endif							/* RAIL_STREAM_ROW_H */
