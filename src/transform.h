/*-------------------------------------------------------------------------
 *
 * transform.h
 *	  Turn a message of a feed into rows for the sink.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/transform.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_TRANSFORM_H
#define RAIL_STREAM_TRANSFORM_H

#include "nodes/pg_list.h"

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

typedef enum RsFeedKind
{
	RS_FEED_TRUST,				/* TRUST frames: arrays of {header, body} */
	RS_FEED_CIF,				/* SCHEDULE extract, one record per message */
	RS_FEED_REFERENCE,			/* key/value JSON into a keyed table */
	RS_FEED_JSON				/* JSON objects into any table */
} RsFeedKind;

/* A parsed feed specification, as "trust" or "json:public.events" */
typedef struct RsFeed
{
	RsFeedKind	kind;
	Oid			relid;			/* target of reference: and json: feeds */
	char	   *name;			/* canonical: the table schema-qualified */
} RsFeed;

/*
 * A unit of work: the part of a message that lands or fails as a whole.  A
 * TRUST frame has one unit per train message, other feeds one per message.
 */
typedef struct RsUnit
{
	int			index;			/* 1-based position in the frame, or 0 */
	int			count;			/* number of units in the message */
	const RsJson *json;			/* NULL for a tombstone */
} RsUnit;

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
} RsField;

/* transform.c */
extern void rs_feed_parse(const char *spec, RsFeed *feed);
extern void rs_check_message_size(size_t len);
extern List *rs_split_message(const RsFeed *feed, const char *data,
							  size_t len, bool isnull);
extern List *rs_transform_unit(const RsFeed *feed, const RsUnit *unit,
							   const char *key);
extern Oid	rs_rail_relid(const char *table);
extern char *rs_qualified_name(Oid relid);
extern RsRow *rs_row_new(RsRowOp op, Oid relid, int maxcols);
extern void rs_row_add(RsRow *row, const char *name, Oid type, Datum value,
					   bool isnull);
extern void rs_row_add_text(RsRow *row, const char *name, const char *value);
extern int	rs_field_columns(const RsField *fields);
extern void rs_add_fields(RsRow *row, const RsJson *object,
						  const RsField *fields);
extern char *rs_field_text(const RsJson *object, const char *name);
extern const RsJson *rs_field_object(const RsJson *object, const char *name);
extern int32 rs_field_int4(const RsJson *object, const char *name,
						   bool *isnull);

/* trust.c */
extern List *rs_trust_split(const RsJson *frame);
extern List *rs_trust_transform(const RsJson *message);

/* cif.c */
extern List *rs_cif_transform(const RsJson *record);

/* generic.c */
extern void rs_generic_check_target(Oid relid);
extern List *rs_generic_transform(Oid relid, const RsJson *value,
								  const char *key);

#endif							/* RAIL_STREAM_TRANSFORM_H */
