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

#include "access/attnum.h"
#include "nodes/pg_list.h"

#include "json.h"
#include "row.h"

typedef struct RsFeed RsFeed;
struct RsMessage;				/* ingest.h */

/*
 * A kind of feed, as its file (trust.c, cif.c, generic.c) declares it: how
 * its messages split into units, how a unit becomes rows, and which tables
 * the rows go to, with the privileges a writer needs on them.
 */
typedef struct RsFeedType
{
	const char *name;			/* "trust", or "json:" before a table */
	const char *default_schema; /* of the table after the colon, or NULL */
	bool		keyed;			/* tombstones delete by the Kafka key */
	List	   *(*split) (const RsJson *message);	/* NULL: one unit */
	List	   *(*transform) (const RsFeed *feed, const RsJson *unit,
							  const char *key);
	const char *const *tables;	/* in schema rail; NULL: the named table */
	const char *const *privileges;	/* needed on each table */
} RsFeedType;

/* What of a Kafka message a metadata column holds */
typedef enum RsMetadataField
{
	RS_META_TOPIC,
	RS_META_PARTITION,
	RS_META_OFFSET,
	RS_META_TIMESTAMP,
	RS_META_KEY,
	RS_META_HEADERS
} RsMetadataField;

/* A column of the target table filled from the message's Kafka metadata */
typedef struct RsMetadataColumn
{
	char	   *column;
	AttrNumber	attnum;
	RsMetadataField field;
} RsMetadataColumn;

/* A parsed feed specification, as "trust" or "json:public.events" */
struct RsFeed
{
	const RsFeedType *type;
	Oid			relid;			/* target of reference: and json: feeds */
	char	   *name;			/* canonical: the table schema-qualified */
	List	   *metadata;		/* of RsMetadataColumn *, json: feeds only */
	char	   *schema_registry;	/* values are Avro, by this registry's
									 * schemas; NULL: values are JSON */
};

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

/* transform.c */
extern void rs_feed_parse(const char *spec, RsFeed *feed);
extern void rs_check_message_size(size_t len);
extern List *rs_split_message(const RsFeed *feed, const char *data,
							  size_t len, bool isnull);
extern List *rs_transform_unit(const RsFeed *feed, const RsUnit *unit,
							   const char *key);
extern List *rs_transform_message_unit(const struct RsMessage *msg,
									   const RsUnit *unit);
extern List *rs_feed_tables(const RsFeed *feed);
extern Oid	rs_rail_relid(const char *table);
extern char *rs_qualified_name(Oid relid);

/* the feeds */
extern const RsFeedType rs_trust_feed;	/* trust.c */
extern const RsFeedType rs_cif_feed;	/* cif.c */
extern const RsFeedType rs_vstp_feed;	/* cif.c */
extern const RsFeedType rs_reference_feed;	/* generic.c */
extern const RsFeedType rs_json_feed;	/* generic.c */
extern void rs_generic_check_target(Oid relid);
extern List *rs_generic_parse_metadata(Oid relid, const RsJson *metadata,
									   StringInfo canonical);
extern void rs_generic_add_metadata(const RsFeed *feed, RsRow *row,
									const struct RsMessage *msg);

#endif							/* RAIL_STREAM_TRANSFORM_H */
