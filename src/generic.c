/*-------------------------------------------------------------------------
 *
 * generic.c
 *	  The "reference:" and "json:" feeds: JSON objects into any keyed table.
 *
 * The members of a message's JSON object map to the columns of the target
 * table by name, exactly or else ignoring case (the talk's alert_config
 * topic writes "STATION").  Members without a column are ignored; columns
 * without a member keep their value, or get their default on insert.  Each
 * value goes through its column type's input function, json and jsonb
 * columns take any JSON value, and the empty string is NULL for every type
 * but text types.
 *
 * A message upserts on the table's primary key (or is appended, if the key
 * is generated and the message lacks it: see sink.c).  When the key has a
 * single column that the object lacks, the Kafka key supplies it: that is how
 * "kcat -K:" reference data such as canx_reason_code.dat arrives.  A
 * tombstone (a message without a value) deletes the row with the Kafka key,
 * given as text for a single-column key or as a JSON object otherwise.
 *
 * Options after the table, as in
 *		json:public.events {"metadata": {"kafka_offset": "offset"}}
 * name columns that take the Kafka message's topic, partition, offset,
 * timestamp, key or headers instead of a member of the object, so that a
 * table can keep where each row came from (or be keyed by partition and
 * offset, an append-only log).  create_subscription() writes its
 * "metadata" option there, so that the worker, ingest_message() and the
 * replay of a dead letter read the same feed.  A message given to
 * ingest_message() has no Kafka origin: its metadata columns are NULL but
 * for the key.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/generic.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/sysattr.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/bitmapset.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "ingest.h"
#include "transform.h"

/* What the member callback needs to fill a row */
typedef struct MemberContext
{
	TupleDesc	tupdesc;
	RsRow	   *row;
	Bitmapset  *seen;			/* attnums already set */
} MemberContext;

static Bitmapset *primary_key(Relation rel);
static void add_member(const char *key, const RsJson *value, void *arg);
static int	find_column(TupleDesc tupdesc, const char *name);
static Datum convert_value(const RsJson *value, Form_pg_attribute attr,
						   bool *isnull);
static Datum convert_text(const char *text, Form_pg_attribute attr);
static void add_key(RsRow *row, TupleDesc tupdesc, Bitmapset *pkey,
					const char *key);
static bool generated_key(TupleDesc tupdesc, Bitmapset *pkey);
static List *generic_transform(const RsFeed *feed, const RsJson *value,
							   const char *key);
static void add_metadata_column(const char *key, const RsJson *value,
								void *arg);

/* upserts read the rows they update; tombstones delete */
static const char *const generic_privileges[] = {
	"SELECT", "INSERT", "UPDATE", "DELETE", NULL
};

/* reference data, "kcat -K:" style, into a table of schema rail by default */
const RsFeedType rs_reference_feed = {
	.name = "reference:",
	.default_schema = "rail",
	.keyed = true,
	.transform = generic_transform,
	.privileges = generic_privileges,
};

/* JSON objects into any table, found along the search_path */
const RsFeedType rs_json_feed = {
	.name = "json:",
	.keyed = true,
	.transform = generic_transform,
	.privileges = generic_privileges,
};

/*
 * rs_generic_check_target
 *		A feed's target table must have a primary key to upsert on.
 */
void
rs_generic_check_target(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel))));
	if (primary_key(rel) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
				 errhint("Messages are upserted on the primary key of the target table.")));
	relation_close(rel, AccessShareLock);
}

static Bitmapset *
primary_key(Relation rel)
{
	return RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
}

/*
 * generic_transform
 *		The row that one message upserts, or deletes for a tombstone.
 */
static List *
generic_transform(const RsFeed *feed, const RsJson *value, const char *key)
{
	Oid			relid = feed->relid;
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Bitmapset  *pkey = primary_key(rel);
	MemberContext cxt;

	if (value != NULL && rs_json_type(value) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("message is a JSON %s, not an object", rs_json_type_name(value)),
				 errhint("Each message must be a JSON object whose members are columns of table \"%s\".",
						 RelationGetRelationName(rel))));

	cxt.tupdesc = tupdesc;
	cxt.row = rs_row_new(value ? RS_ROW_UPSERT : RS_ROW_DELETE, relid,
						 tupdesc->natts);
	cxt.seen = NULL;
	if (value != NULL)
	{
		ListCell   *lc;

		/* metadata columns take no member, nor the Kafka key as a key */
		foreach(lc, feed->metadata)
		{
			RsMetadataColumn *meta = lfirst(lc);

			cxt.seen = bms_add_member(cxt.seen,
									  meta->attnum - FirstLowInvalidHeapAttributeNumber);
		}
		rs_json_foreach(value, add_member, &cxt);
	}

	/*
	 * The Kafka key fills a single-column key the object lacks, unless that
	 * column is generated: then the table is an append-only log.
	 */
	if (!bms_is_subset(pkey, cxt.seen) && key != NULL &&
		(value == NULL || (bms_num_members(pkey) == 1 && !generated_key(tupdesc, pkey))))
		add_key(cxt.row, tupdesc, bms_difference(pkey, cxt.seen), key);
	else if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("tombstone has no key"),
				 errdetail("A message without a value deletes the row with its key.")));

	relation_close(rel, AccessShareLock);
	return list_make1(cxt.row);
}

/* Is the (single-column) primary key filled in by a default or identity? */
static bool
generated_key(TupleDesc tupdesc, Bitmapset *pkey)
{
	Form_pg_attribute attr;

	attr = TupleDescAttr(tupdesc, bms_next_member(pkey, -1) +
						 FirstLowInvalidHeapAttributeNumber - 1);
	return attr->atthasdef || attr->attidentity;
}

static void
add_member(const char *key, const RsJson *value, void *arg)
{
	MemberContext *cxt = arg;
	int			attnum = find_column(cxt->tupdesc, key);
	Form_pg_attribute attr;
	bool		isnull;
	Datum		datum;

	if (attnum == InvalidAttrNumber || bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, cxt->seen))
		return;
	attr = TupleDescAttr(cxt->tupdesc, attnum - 1);
	datum = convert_value(value, attr, &isnull);
	rs_row_add(cxt->row, pstrdup(NameStr(attr->attname)), attr->atttypid,
			   datum, isnull);
	cxt->seen = bms_add_member(cxt->seen, attnum - FirstLowInvalidHeapAttributeNumber);
}

/* The column for a JSON member: same name, else same name ignoring case. */
static int
find_column(TupleDesc tupdesc, const char *name)
{
	int			match = InvalidAttrNumber;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (attr->attisdropped || attr->attgenerated)
			continue;
		if (strcmp(NameStr(attr->attname), name) == 0)
			return attr->attnum;
		if (match == InvalidAttrNumber &&
			pg_strcasecmp(NameStr(attr->attname), name) == 0)
			match = attr->attnum;
	}
	return match;
}

static Datum
convert_value(const RsJson *value, Form_pg_attribute attr, bool *isnull)
{
	RsJsonType type = rs_json_type(value);
	char	   *text;

	*isnull = (type == RS_JSON_NULL);
	if (*isnull)
		return (Datum) 0;
	if (attr->atttypid == JSONBOID)
		return PointerGetDatum(rs_json_to_jsonb(value));
	if (attr->atttypid == JSONOID)
	{
		size_t		len;

		return PointerGetDatum(cstring_to_text(rs_json_dump(value, &len)));
	}
	if (type == RS_JSON_OBJECT || type == RS_JSON_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("field \"%s\" is a JSON %s, but column \"%s\" is of type %s",
						NameStr(attr->attname), rs_json_type_name(value),
						NameStr(attr->attname), format_type_be(attr->atttypid))));
	text = rs_json_scalar_text(value);
	if (*text == '\0' && TypeCategory(attr->atttypid) != TYPCATEGORY_STRING)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return convert_text(text, attr);
}

static Datum
convert_text(const char *text, Form_pg_attribute attr)
{
	Oid			typinput;
	Oid			typioparam;

	getTypeInputInfo(attr->atttypid, &typinput, &typioparam);
	return OidInputFunctionCall(typinput, (char *) text, typioparam,
								attr->atttypmod);
}

/*
 * add_key
 *		The key columns in missing, from the Kafka key: its text for one
 *		column, a JSON object of the columns for several.
 */
static void
add_key(RsRow *row, TupleDesc tupdesc, Bitmapset *missing, const char *key)
{
	if (bms_num_members(missing) == 1)
	{
		int			member = bms_next_member(missing, -1);
		Form_pg_attribute attr;

		attr = TupleDescAttr(tupdesc, member + FirstLowInvalidHeapAttributeNumber - 1);
		rs_row_add(row, pstrdup(NameStr(attr->attname)), attr->atttypid,
				   convert_text(key, attr), false);
	}
	else
	{
		MemberContext cxt = {tupdesc, row, NULL};
		const RsJson *json = rs_json_parse(key, strlen(key), "message key");

		if (rs_json_type(json) != RS_JSON_OBJECT)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("message key is a JSON %s, not an object",
							rs_json_type_name(json)),
					 errdetail("The table's primary key has several columns.")));
		rs_json_foreach(json, add_member, &cxt);
		if (!bms_is_subset(missing, cxt.seen))
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("message key lacks a column of the primary key")));
	}
}

/* The metadata names of the "metadata" option, in RsMetadataField order */
static const char *const metadata_names[] = {
	"topic", "partition", "offset", "timestamp", "key", "headers", NULL
};

/*
 * rs_generic_parse_metadata
 *		Check the "metadata" option of a json: or reference: feed into table
 *		relid; returns its columns (List of RsMetadataColumn *) and appends
 *		the option as it is written back in the feed's name to canonical
 *		(nothing when it names no column).
 */
List *
rs_generic_parse_metadata(Oid relid, const RsJson *metadata,
						  StringInfo canonical)
{
	Relation	rel;
	TupleDesc	tupdesc;
	List	   *columns = NIL;

	if (rs_json_type(metadata) == RS_JSON_NULL)
		return NIL;
	if (rs_json_type(metadata) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"metadata\": a JSON %s",
						rs_json_type_name(metadata)),
				 errhint("Give an object of columns and what each holds, as in {\"kafka_offset\": \"offset\"}.")));
	if (rs_json_size(metadata) == 0)
		return NIL;

	rel = relation_open(relid, AccessShareLock);
	tupdesc = RelationGetDescr(rel);
	appendStringInfoString(canonical, "\"metadata\": {");
	rs_json_foreach(metadata, add_metadata_column, &columns);
	for (int i = 0; i < list_length(columns); i++)
	{
		RsMetadataColumn *meta = list_nth(columns, i);
		int			attnum = find_column(tupdesc, meta->column);
		Form_pg_attribute attr;

		/* exactly the name: a column named by an option is not guessed */
		if (attnum == InvalidAttrNumber ||
			strcmp(NameStr(TupleDescAttr(tupdesc, attnum - 1)->attname),
				   meta->column) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							meta->column, RelationGetRelationName(rel)),
					 errdetail("Option \"metadata\" names the column for the Kafka %s.",
							   metadata_names[meta->field])));
		attr = TupleDescAttr(tupdesc, attnum - 1);
		meta->attnum = attnum;
		meta->column = pstrdup(NameStr(attr->attname));
		if (i > 0)
			appendStringInfoString(canonical, ", ");
		escape_json(canonical, meta->column);
		appendStringInfo(canonical, ": \"%s\"", metadata_names[meta->field]);
	}
	appendStringInfoChar(canonical, '}');
	relation_close(rel, AccessShareLock);
	return columns;
}

/* rs_json_foreach callback: one member of the "metadata" option */
static void
add_metadata_column(const char *key, const RsJson *value, void *arg)
{
	List	  **columns = arg;
	char	   *name = rs_json_type(value) == RS_JSON_STRING ?
		rs_json_scalar_text(value) : NULL;
	RsMetadataColumn *meta;
	int			field = -1;

	for (int i = 0; name != NULL && metadata_names[i] != NULL; i++)
	{
		if (strcmp(name, metadata_names[i]) == 0)
			field = i;
	}
	if (field < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized Kafka metadata %s for column \"%s\"",
						name ? psprintf("\"%s\"", name) :
						psprintf("a JSON %s", rs_json_type_name(value)),
						key),
				 errhint("Use \"topic\", \"partition\", \"offset\", \"timestamp\", \"key\" or \"headers\".")));
	meta = palloc0(sizeof(RsMetadataColumn));
	meta->column = pstrdup(key);
	meta->field = (RsMetadataField) field;
	*columns = lappend(*columns, meta);
}

/*
 * rs_generic_add_metadata
 *		Add the metadata columns of feed to a row it upserts, from msg.  A
 *		message without a Kafka origin (ingest_message()) has only a key.
 */
void
rs_generic_add_metadata(const RsFeed *feed, RsRow *row, const RsMessage *msg)
{
	Relation	rel = relation_open(feed->relid, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	bool		kafka = (msg->topic != NULL);
	ListCell   *lc;

	foreach(lc, feed->metadata)
	{
		RsMetadataColumn *meta = lfirst(lc);
		Form_pg_attribute attr;
		Oid			type = InvalidOid;
		Datum		value = (Datum) 0;
		bool		isnull = true;

		if (meta->attnum > tupdesc->natts ||
			TupleDescAttr(tupdesc, meta->attnum - 1)->attisdropped ||
			strcmp(NameStr(TupleDescAttr(tupdesc, meta->attnum - 1)->attname),
				   meta->column) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							meta->column, RelationGetRelationName(rel)),
					 errdetail("The feed's option \"metadata\" names it.")));
		attr = TupleDescAttr(tupdesc, meta->attnum - 1);
		switch (meta->field)
		{
			case RS_META_TOPIC:
				type = TEXTOID;
				isnull = !kafka;
				if (kafka)
					value = CStringGetTextDatum(msg->topic);
				break;
			case RS_META_PARTITION:
				type = INT4OID;
				isnull = !kafka || msg->partition < 0;
				value = Int32GetDatum(msg->partition);
				break;
			case RS_META_OFFSET:
				type = INT8OID;
				isnull = !kafka || msg->offset < 0;
				value = Int64GetDatum(msg->offset);
				break;
			case RS_META_TIMESTAMP:
				type = TIMESTAMPTZOID;
				isnull = !kafka || msg->timestamp == 0;
				value = TimestampTzGetDatum(msg->timestamp);
				break;
			case RS_META_KEY:
				type = TEXTOID;
				isnull = (msg->key == NULL);
				if (msg->key != NULL)
					value = CStringGetTextDatum(msg->key);
				break;
			case RS_META_HEADERS:
				type = JSONBOID;
				isnull = !kafka || msg->headers == NULL;
				if (!isnull)
					value = JsonbPGetDatum(msg->headers);
				break;
		}
		if (!isnull && type != attr->atttypid)
		{
			Oid			typoutput;
			bool		typisvarlena;

			getTypeOutputInfo(type, &typoutput, &typisvarlena);
			value = convert_text(OidOutputFunctionCall(typoutput, value), attr);
		}
		rs_row_add(row, meta->column, attr->atttypid, value, isnull);
	}
	relation_close(rel, AccessShareLock);
}
