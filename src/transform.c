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
 * Each feed is an RsFeedType that its file declares (trust.c, cif.c,
 * generic.c): its name, how it splits a message, how it transforms a unit,
 * and the tables it writes with the privileges that takes, which
 * rail_stream._check_feed reads through _feed_tables().  This file holds
 * the dispatch over them; row.c holds the rows and field conversions that
 * the feeds share.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/transform.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "guc.h"
#include "ingest.h"
#include "pg_compat.h"
#include "schema_registry.h"
#include "transform.h"

static Oid	feed_target(const char *name, const char *default_schema);
static const char *options_start(const char *spec);
static void parse_options(RsFeed *feed, const char *head, const char *options);
static bool option_is(const RsJson *value, const char *s);

static const RsFeedType *const feed_types[] = {
	&rs_trust_feed, &rs_cif_feed, &rs_vstp_feed, &rs_reference_feed,
	&rs_json_feed
};

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
	const char *options = options_start(spec);
	char	   *head = pnstrdup(spec, options - spec);

	/* the feed without its options, trailing blanks dropped */
	for (char *end = head + strlen(head); end > head && end[-1] == ' '; end--)
		end[-1] = '\0';

	feed->type = NULL;
	feed->relid = InvalidOid;
	feed->metadata = NIL;
	feed->schema_registry = NULL;
	for (size_t i = 0; i < lengthof(feed_types) && feed->type == NULL; i++)
	{
		const RsFeedType *type = feed_types[i];

		if (type->tables != NULL ? strcmp(head, type->name) == 0 :
			strncmp(head, type->name, strlen(type->name)) == 0)
			feed->type = type;
	}
	if (feed->type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized feed \"%s\"", spec),
				 errhint("Use \"trust\", \"cif\", \"vstp\", \"reference:<table>\" or \"json:<table>\".")));
	if (feed->type->tables == NULL)
	{
		feed->relid = feed_target(head + strlen(feed->type->name),
								  feed->type->default_schema);
		rs_generic_check_target(feed->relid);
		head = psprintf("%s%s", feed->type->name,
						rs_qualified_name(feed->relid));
	}
	feed->name = head;
	if (*options != '\0')
		parse_options(feed, head, options);
}

/*
 * parse_options
 *		Check the options written after a feed, as in
 *			json:public.events {"value_format": "avro",
 *				"schema_registry": "local", "metadata": {"kafka_offset": "offset"}}
 *		and append them to feed->name in a canonical form.
 */
static void
parse_options(RsFeed *feed, const char *head, const char *options)
{
	const RsJson *json = rs_json_parse(options, strlen(options), "feed options");
	const RsJson *format;
	const RsJson *registry;
	const RsJson *metadata;
	StringInfoData canonical;
	size_t		known = 0;

	if (rs_json_type(json) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feed options are a JSON %s, not an object",
						rs_json_type_name(json))));
	format = rs_json_get(json, "value_format");
	registry = rs_json_get(json, "schema_registry");
	metadata = rs_json_get(json, "metadata");
	known = (format != NULL) + (registry != NULL) + (metadata != NULL);
	if (rs_json_size(json) != known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized feed option in %s", options),
				 errhint("The feed options are \"value_format\", \"schema_registry\" and \"metadata\".")));

	initStringInfo(&canonical);
	appendStringInfoChar(&canonical, '{');
	if (format != NULL && !option_is(format, "json"))
	{
		if (!option_is(format, "avro"))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for feed option \"value_format\""),
					 errhint("Use \"json\" or \"avro\".")));
		if (registry == NULL || rs_json_type(registry) != RS_JSON_STRING)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feed option \"value_format\": \"avro\" needs option \"schema_registry\""),
					 errhint("Name a registry made with rail_stream.create_schema_registry().")));
		feed->schema_registry = rs_json_scalar_text(registry);
		rs_registry_check_usable(feed->schema_registry);
		appendStringInfoString(&canonical, "\"value_format\": \"avro\", \"schema_registry\": ");
		escape_json(&canonical, feed->schema_registry);
	}
	else if (registry != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feed option \"schema_registry\" is only for \"value_format\": \"avro\"")));
	if (metadata != NULL)
	{
		StringInfoData columns;

		if (feed->type->tables != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feed \"%s\" takes no option \"metadata\"", head),
					 errdetail("Only \"json:\" and \"reference:\" feeds fill columns with Kafka metadata, as in \"json:public.events {\"metadata\": {\"kafka_offset\": \"offset\"}}\".")));
		initStringInfo(&columns);
		feed->metadata = rs_generic_parse_metadata(feed->relid, metadata,
												   &columns);
		if (columns.len > 0)
			appendStringInfo(&canonical, "%s%s",
							 canonical.len > 1 ? ", " : "", columns.data);
	}
	appendStringInfoChar(&canonical, '}');
	if (canonical.len > 2)
		feed->name = psprintf("%s %s", head, canonical.data);
}

/* Whether a feed option's value is the string s */
static bool
option_is(const RsJson *value, const char *s)
{
	return rs_json_type(value) == RS_JSON_STRING &&
		strcmp(rs_json_scalar_text(value), s) == 0;
}

/*
 * Where the options of a feed specification begin: at the first "{" that
 * is not inside a double-quoted identifier, or at the end of spec.
 */
static const char *
options_start(const char *spec)
{
	bool		quoted = false;
	const char *p;

	for (p = spec; *p != '\0'; p++)
	{
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '{' && !quoted)
			break;
	}
	return p;
}

/*
 * rs_feed_tables
 *		The tables a feed writes (List of Oid).
 */
List *
rs_feed_tables(const RsFeed *feed)
{
	List	   *tables = NIL;

	if (feed->type->tables == NULL)
		return list_make1_oid(feed->relid);
	for (const char *const *t = feed->type->tables; *t != NULL; t++)
		tables = lappend_oid(tables, rs_rail_relid(*t));
	return tables;
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
	names = rs_stringToQualifiedNameList(name);
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
		if (!feed->type->keyed)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("message has no value"),
					 errdetail("Tombstones delete rows only in \"reference:\" and \"json:\" feeds.")));
		unit = palloc0(sizeof(RsUnit));
		unit->count = 1;
		return list_make1(unit);
	}
	rs_check_message_size(len);

	if (feed->schema_registry != NULL)
	{
		StringInfoData text;

		initStringInfo(&text);
		rs_registry_to_json(feed->schema_registry, data, len, &text);
		data = text.data;
		len = text.len;
	}
	json = rs_json_parse(data, len, "message");
	if (feed->type->split != NULL)
		return feed->type->split(json);

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
	return feed->type->transform(feed, unit->json, key);
}

/*
 * rs_transform_message_unit
 *		rs_transform_unit for a unit of msg, with the Kafka metadata that the
 *		feed's options ask for in the rows it upserts into its table.
 */
List *
rs_transform_message_unit(const RsMessage *msg, const RsUnit *unit)
{
	const RsFeed *feed = &msg->feed;
	List	   *rows = rs_transform_unit(feed, unit, msg->key);
	ListCell   *lc;

	if (feed->metadata == NIL)
		return rows;
	foreach(lc, rows)
	{
		RsRow	   *row = lfirst(lc);

		if (row->op == RS_ROW_UPSERT && row->relid == feed->relid)
			rs_generic_add_metadata(feed, row, msg);
	}
	return rows;
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
