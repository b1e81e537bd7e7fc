/*-------------------------------------------------------------------------
 *
 * schema_registry.c
 *	  Avro values in the Confluent wire format, with their schemas fetched
 *	  from a schema registry and cached by id.
 *
 * A feed with the option {"value_format": "avro", "schema_registry":
 * "<name>"} reads values as a Confluent (or Apicurio, Karapace) serializer
 * writes them: a zero magic byte, the writer's schema id in 4 bytes
 * big-endian, then the value in Avro's binary encoding.  The registry is a
 * row of rail_stream.schema_registries (URL and credentials, which only its
 * owner's members read); its schema of an id comes from GET
 * <url>/schemas/ids/<id>, is parsed once (avro_decode.c) and cached in this
 * process by registry name and id: schema ids are never reused within a
 * registry, so a new version of a schema is a new id, fetched when its
 * first message arrives, without a restart.
 *
 * Who pays for a failure:
 *	- a value that is not in the wire format, an id the registry does not
 *	  have (HTTP 404), or bytes that do not follow the schema: the message,
 *	  which becomes a dead letter (replayable once the schema is there);
 *	- a registry that cannot be reached, answers 5xx, refuses the
 *	  credentials or answers something that is not a schema: not the
 *	  message.  The error's class is 08 (connection exception), which
 *	  ingest.c re-throws: the worker's batch rolls back, its status shows
 *	  the error, and it starts again with backoff, from the same offsets.
 *
 * At most RS_SCHEMA_CACHE_SIZE schemas are kept; when more arrive, the
 * cache starts again empty.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/schema_registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "avro_decode.h"
#include "http_client.h"
#include "json.h"
#include "run_as.h"
#include "schema_registry.h"

#define RS_SCHEMA_CACHE_SIZE	256
#define RS_SCHEMA_MAX_LEN		(1024 * 1024)	/* a registry's answer */
#define RS_REGISTRY_CONNECT_TIMEOUT_MS	5000
#define RS_REGISTRY_TIMEOUT_MS	30000
#define RS_WIRE_HEADER_LEN		5	/* magic byte and schema id */

/* A cached schema, by registry and id */
typedef struct SchemaKey
{
	char		registry[NAMEDATALEN];
	int32		id;
} SchemaKey;

typedef struct SchemaEntry
{
	SchemaKey	key;
	RsAvroSchema *schema;
} SchemaEntry;

/* A registry, as its row says */
typedef struct Registry
{
	char	   *name;
	Oid			owner;
	char	   *url;
	char	   *username;
	char	   *password;
} Registry;

/* This process's schemas */
static HTAB *schemas = NULL;

static const RsAvroSchema *schema_by_id(const char *registry, int32 id);
static bool read_registry(const char *name, Registry *reg);
static RsAvroSchema *fetch_schema(const Registry *reg, int32 id);
static void check_answer(const Registry *reg, int32 id,
						 const RsHttpResult *result);
static void reset_cache(void);

/*
 * rs_registry_check_usable
 *		An ERROR unless the registry exists and the current user is a member
 *		of its owner (or a superuser).
 */
void
rs_registry_check_usable(const char *registry)
{
	Registry	reg;

	if (!read_registry(registry, &reg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("schema registry \"%s\" does not exist", registry),
				 errhint("Create it with rail_stream.create_schema_registry().")));
	if (!has_privs_of_role(GetUserId(), reg.owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for schema registry \"%s\"", registry),
				 errdetail("Only members of its owner use a schema registry.")));
}

/*
 * rs_registry_to_json
 *		Append the JSON text of a value in the Confluent wire format to out.
 */
void
rs_registry_to_json(const char *registry, const char *data, size_t len,
					StringInfo out)
{
	const unsigned char *b = (const unsigned char *) data;
	int32		id;

	if (len < RS_WIRE_HEADER_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("Avro message of %zu bytes is too short for the Confluent wire format",
						len),
				 errdetail("A value starts with a zero byte and a 4-byte schema id.")));
	if (b[0] != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("Avro message starts with byte 0x%02x, not the magic byte 0x00",
						b[0]),
				 errhint("Values of this feed must come from a schema registry's Avro serializer; JSON values need a feed without \"value_format\".")));
	id = (int32) ((uint32) b[1] << 24 | (uint32) b[2] << 16 | (uint32) b[3] << 8 | b[4]);
	rs_avro_to_json(schema_by_id(registry, id), data + RS_WIRE_HEADER_LEN,
					len - RS_WIRE_HEADER_LEN, out);
}

/* The schema of an id, from the cache or else from the registry */
static const RsAvroSchema *
schema_by_id(const char *registry, int32 id)
{
	SchemaKey	key;
	SchemaEntry *entry;
	Registry	reg;
	RsAvroSchema *schema;
	bool		found;

	if (schemas == NULL || hash_get_num_entries(schemas) >= RS_SCHEMA_CACHE_SIZE)
		reset_cache();
	memset(&key, 0, sizeof(key));
	strlcpy(key.registry, registry, NAMEDATALEN);
	key.id = id;
	entry = hash_search(schemas, &key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->schema;

	if (!read_registry(registry, &reg))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("schema registry \"%s\" does not exist", registry)));
	schema = fetch_schema(&reg, id);
	entry = hash_search(schemas, &key, HASH_ENTER, &found);
	entry->schema = schema;
	return schema;
}

/* Empty the cache, freeing libavro's schemas */
static void
reset_cache(void)
{
	HASHCTL		ctl;

	if (schemas != NULL)
	{
		HASH_SEQ_STATUS seq;
		SchemaEntry *entry;

		hash_seq_init(&seq, schemas);
		while ((entry = hash_seq_search(&seq)) != NULL)
			rs_avro_schema_free(entry->schema);
		hash_destroy(schemas);
	}
	ctl.keysize = sizeof(SchemaKey);
	ctl.entrysize = sizeof(SchemaEntry);
	ctl.hcxt = TopMemoryContext;
	schemas = hash_create("rail_stream Avro schemas", 64, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * read_registry
 *		The registry's row, read as the extension's owner (the row-level
 *		security of rail_stream.schema_registries hides it from others);
 *		false if there is none.
 */
static bool
read_registry(const char *name, Registry *reg)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	MemoryContext cxt = CurrentMemoryContext;
	RsSavedUser saved;
	bool		found;

	SPI_connect();
	rs_become_owner(&saved);
	if (SPI_execute_with_args("SELECT owner::oid, url, username, password"
							  " FROM rail_stream.schema_registries"
							  " WHERE name OPERATOR(pg_catalog.=) $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rail_stream.schema_registries");
	rs_restore_user(&saved);
	found = SPI_processed > 0;
	if (found)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		MemoryContext spi = MemoryContextSwitchTo(cxt);
		bool		isnull;

		reg->name = pstrdup(name);
		reg->owner = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		reg->url = SPI_getvalue(t, d, 2);
		reg->username = SPI_getvalue(t, d, 3);
		reg->password = SPI_getvalue(t, d, 4);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return found;
}

/* GET <url>/schemas/ids/<id>, and parse the schema it holds */
static RsAvroSchema *
fetch_schema(const Registry *reg, int32 id)
{
	RsHttpGetSpec spec = {0};
	RsHttpResult result;
	StringInfoData body;
	const RsJson *answer;
	const RsJson *schema;
	const RsJson *type;
	const char *text;
	size_t		len;

	spec.url = psprintf("%s%sschemas/ids/%d", reg->url,
						reg->url[strlen(reg->url) - 1] == '/' ? "" : "/", id);
	spec.username = reg->username;
	spec.password = reg->password;
	spec.connect_timeout_ms = RS_REGISTRY_CONNECT_TIMEOUT_MS;
	spec.timeout_ms = RS_REGISTRY_TIMEOUT_MS;
	spec.max_len = RS_SCHEMA_MAX_LEN;
	initStringInfo(&body);
	rs_http_get(&spec, &body, &result);
	CHECK_FOR_INTERRUPTS();
	check_answer(reg, id, &result);

	if (body.len == 0 || body.data[strspn(body.data, " \t\r\n")] != '{')
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("schema registry \"%s\" answered schema %d with something that is not a JSON object",
						reg->name, id),
				 errhint("The registry's URL must be its Confluent-compatible API, as in http://host:8081 or http://host:8080/apis/ccompat/v7.")));
	answer = rs_json_parse(body.data, body.len, "schema registry answer");
	schema = rs_json_type(answer) == RS_JSON_OBJECT ?
		rs_json_get(answer, "schema") : NULL;
	type = rs_json_type(answer) == RS_JSON_OBJECT ?
		rs_json_get(answer, "schemaType") : NULL;
	if (schema == NULL || rs_json_type(schema) != RS_JSON_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("schema registry \"%s\" answered schema %d without a \"schema\" string",
						reg->name, id),
				 errhint("The registry's URL must be its Confluent-compatible API, as in http://host:8081 or http://host:8080/apis/ccompat/v7.")));
	if (type != NULL && rs_json_type(type) == RS_JSON_STRING &&
		strcmp(rs_json_scalar_text(type), "AVRO") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("schema %d of schema registry \"%s\" is a %s schema, not Avro",
						id, reg->name, rs_json_scalar_text(type))));
	text = rs_json_string(schema, &len);
	return rs_avro_schema_parse(text, len);
}

/*
 * What a registry's HTTP answer means: an unknown id is the message's
 * fault (a dead letter); anything else that is not a 200 is not.
 */
static void
check_answer(const Registry *reg, int32 id, const RsHttpResult *result)
{
	if (!result->transport_error && result->status == 200)
		return;
	if (!result->transport_error && result->status == 404)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("schema %d is not in schema registry \"%s\"", id, reg->name),
				 errdetail("The registry answered: %s", result->error),
				 errhint("Replay the dead letter once the schema is registered.")));
	if (!result->transport_error && (result->status == 401 || result->status == 403))
		ereport(ERROR,
				(errcode(ERRCODE_SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION),
				 errmsg("schema registry \"%s\" refused the request for schema %d",
						reg->name, id),
				 errdetail("The registry answered: %s", result->error),
				 errhint("Check its username and password in rail_stream.schema_registries.")));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("could not fetch schema %d from schema registry \"%s\"",
					id, reg->name),
			 errdetail("%s", result->error[0] ? result->error :
					   psprintf("HTTP %d", result->status))));
}
