/*-------------------------------------------------------------------------
 *
 * json.c
 *	  Parse messages with jansson and read them; convert nodes to jsonb.
 *
 * This is the only file that knows about jansson.  Kafka messages arrive as
 * raw bytes: jansson parses them straight from that buffer, checking UTF-8
 * and rejecting \u0000, without first building a PostgreSQL text datum.
 *
 * jansson allocates with malloc.  rs_json_parse ties the document to the
 * current memory context with a reset callback, so a document is freed when
 * that context is reset or deleted, including when an ERROR unwinds past the
 * code that parsed it.  Nodes handed out by the accessors are borrowed from
 * their document and must not outlive that context.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "json.h"

/* RsJson is jansson's json_t; the cast is confined to this file. */
#define NODE(n) ((json_t *) (n))

static void free_document(void *arg);
static void report_parse_error(const json_error_t *error, const char *what,
							   size_t len);
static Numeric number_to_numeric(const json_t *node);
static JsonbValue *push_node(JsonbParseState **state, const json_t *node,
							 JsonbIteratorToken token);

/*
 * rs_json_parse
 *		Parse len bytes of JSON, any top-level value.
 *
 * "what" names the input in error messages ("message", "field \"text\"").
 * Raises an ERROR with the parser's reason and position on invalid input.
 * The document is freed with CurrentMemoryContext.
 */
RsJson *
rs_json_parse(const char *data, size_t len, const char *what)
{
	json_error_t error;
	json_t	   *root;
	const char *nul;
	MemoryContextCallback *cb;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%s is empty", what),
				 errhint("A message must hold one JSON document.")));

	nul = memchr(data, '\0', len);
	if (nul != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("%s contains a NUL byte", what),
				 errdetail("The NUL byte is byte %zu of %zu.",
						   (size_t) (nul - data) + 1, len)));

	/* allocate the callback first, so that a palloc failure leaks nothing */
	cb = palloc(sizeof(MemoryContextCallback));
	root = json_loadb(data, len, JSON_DECODE_ANY, &error);
	if (root == NULL)
		report_parse_error(&error, what, len);

	cb->func = free_document;
	cb->arg = root;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return (RsJson *) root;
}

static void
free_document(void *arg)
{
	json_decref((json_t *) arg);
}

/*
 * report_parse_error
 *		Raise jansson's reason for rejecting input as an ERROR with a SQLSTATE
 *		and PostgreSQL's wording where PostgreSQL has one.
 */
static void
report_parse_error(const json_error_t *error, const char *what, size_t len)
{
	switch (json_error_code(error))
	{
		case json_error_invalid_utf8:
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("invalid byte sequence for encoding \"UTF8\" in %s", what),
					 errdetail("The invalid byte is byte %d of %zu.",
							   error->position, len)));
			break;
		case json_error_null_character:
		case json_error_null_byte_in_key:
			ereport(ERROR,
					(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
					 errmsg("unsupported Unicode escape sequence in %s", what),
					 errdetail("\\u0000 cannot be converted to text (line %d, column %d).",
							   error->line, error->column)));
			break;
		case json_error_stack_overflow:
			ereport(ERROR,
					(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
					 errmsg("%s is nested too deeply", what),
					 errdetail("The maximum depth of JSON arrays and objects is %d.",
							   JSON_PARSER_MAX_DEPTH)));
			break;
		case json_error_out_of_memory:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Failed while parsing %s of %zu bytes.", what, len)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid JSON in %s: %s", what, error->text),
					 errdetail("The error is at line %d, column %d (byte %d of %zu).",
							   error->line, error->column, error->position, len)));
	}
}

RsJsonType
rs_json_type(const RsJson *node)
{
	switch (json_typeof(NODE(node)))
	{
		case JSON_OBJECT:
			return RS_JSON_OBJECT;
		case JSON_ARRAY:
			return RS_JSON_ARRAY;
		case JSON_STRING:
			return RS_JSON_STRING;
		case JSON_INTEGER:
		case JSON_REAL:
			return RS_JSON_NUMBER;
		case JSON_TRUE:
		case JSON_FALSE:
			return RS_JSON_BOOL;
		case JSON_NULL:
			break;
	}
	return RS_JSON_NULL;
}

/* The JSON name of a node's type, for error messages. */
const char *
rs_json_type_name(const RsJson *node)
{
	static const char *const names[] = {
		[RS_JSON_OBJECT] = "object",
		[RS_JSON_ARRAY] = "array",
		[RS_JSON_STRING] = "string",
		[RS_JSON_NUMBER] = "number",
		[RS_JSON_BOOL] = "boolean",
		[RS_JSON_NULL] = "null",
	};

	return names[rs_json_type(node)];
}

/* Member "key" of an object; NULL when absent or when node is no object. */
const RsJson *
rs_json_get(const RsJson *object, const char *key)
{
	return (const RsJson *) json_object_get(NODE(object), key);
}

/* Number of elements of an array or members of an object, else 0. */
size_t
rs_json_size(const RsJson *node)
{
	if (json_is_array(NODE(node)))
		return json_array_size(NODE(node));
	return json_object_size(NODE(node));
}

const RsJson *
rs_json_at(const RsJson *array, size_t index)
{
	return (const RsJson *) json_array_get(NODE(array), index);
}

/* The bytes of a string node (not NUL-free in general: see len). */
const char *
rs_json_string(const RsJson *node, size_t *len)
{
	Assert(json_is_string(NODE(node)));
	*len = json_string_length(NODE(node));
	return json_string_value(NODE(node));
}

/*
 * rs_json_scalar_text
 *		The text of a string, number or boolean node, palloc'd; NULL for a
 *		JSON null.  Objects and arrays are the caller's business.
 */
char *
rs_json_scalar_text(const RsJson *node)
{
	json_t	   *j = NODE(node);

	switch (json_typeof(j))
	{
		case JSON_STRING:
			return pnstrdup(json_string_value(j), json_string_length(j));
		case JSON_INTEGER:
			return psprintf("%lld", (long long) json_integer_value(j));
		case JSON_REAL:
			return psprintf("%.17g", json_real_value(j));
		case JSON_TRUE:
			return pstrdup("true");
		case JSON_FALSE:
			return pstrdup("false");
		default:
			return NULL;
	}
}

void
rs_json_foreach(const RsJson *object, RsJsonMemberCallback cb, void *arg)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(NODE(object), key, value)
		cb(key, (const RsJson *) value, arg);
}

/* Compact serialisation of a node, palloc'd, keys in their input order. */
char *
rs_json_dump(const RsJson *node, size_t *len)
{
	size_t		size;
	char	   *out;

	size = json_dumpb(NODE(node), NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	out = palloc(size + 1);
	json_dumpb(NODE(node), out, size, JSON_COMPACT | JSON_ENCODE_ANY);
	out[size] = '\0';
	*len = size;
	return out;
}

/*
 * rs_json_to_jsonb
 *		Build a jsonb value from a node, without printing and re-parsing it.
 */
Jsonb *
rs_json_to_jsonb(const RsJson *node)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	if (json_is_object(NODE(node)) || json_is_array(NODE(node)))
		result = push_node(&state, NODE(node), WJB_VALUE);
	else
	{
		/* jsonb stores a top-level scalar as a one-element raw array */
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		state->contVal.val.array.rawScalar = true;
		push_node(&state, NODE(node), WJB_ELEM);
		result = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	return JsonbValueToJsonb(result);
}

/*
 * rs_json_members_jsonb
 *		A jsonb object of the members of object for which keep() is true, or
 *		NULL when there are none.
 */
Jsonb *
rs_json_members_jsonb(const RsJson *object, RsJsonKeyFilter keep, void *arg)
{
	JsonbParseState *state = NULL;
	JsonbValue	k;
	const char *key;
	json_t	   *child;
	bool		any = false;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	json_object_foreach(NODE(object), key, child)
	{
		if (!keep(key, arg))
			continue;
		k.type = jbvString;
		k.val.string.val = (char *) key;
		k.val.string.len = strlen(key);
		pushJsonbValue(&state, WJB_KEY, &k);
		push_node(&state, child, WJB_VALUE);
		any = true;
	}
	if (!any)
		return NULL;
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * push_node
 *		Append node to the jsonb under construction; token says whether it is
 *		an object member's value (WJB_VALUE) or an array element (WJB_ELEM).
 *		Returns what pushJsonbValue returned for the node's last token: the
 *		finished value once the outermost container is closed.
 */
static JsonbValue *
push_node(JsonbParseState **state, const json_t *node, JsonbIteratorToken token)
{
	JsonbValue	v;
	const char *key;
	json_t	   *child;
	size_t		i;

	check_stack_depth();
	switch (json_typeof(node))
	{
		case JSON_OBJECT:
			pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
			json_object_foreach((json_t *) node, key, child)
			{
				v.type = jbvString;
				v.val.string.val = (char *) key;
				v.val.string.len = strlen(key);
				pushJsonbValue(state, WJB_KEY, &v);
				push_node(state, child, WJB_VALUE);
			}
			return pushJsonbValue(state, WJB_END_OBJECT, NULL);
		case JSON_ARRAY:
			pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
			json_array_foreach((json_t *) node, i, child)
				push_node(state, child, WJB_ELEM);
			return pushJsonbValue(state, WJB_END_ARRAY, NULL);
		case JSON_STRING:
			v.type = jbvString;
			v.val.string.val = (char *) json_string_value(node);
			v.val.string.len = json_string_length(node);
			break;
		case JSON_INTEGER:
		case JSON_REAL:
			v.type = jbvNumeric;
			v.val.numeric = number_to_numeric(node);
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			v.type = jbvBool;
			v.val.boolean = json_is_true(node);
			break;
		case JSON_NULL:
			v.type = jbvNull;
			break;
	}
	return pushJsonbValue(state, token, &v);
}

static Numeric
number_to_numeric(const json_t *node)
{
	Oid			typinput;
	Oid			typioparam;

	if (json_is_integer(node))
		return int64_to_numeric(json_integer_value(node));
	getTypeInputInfo(NUMERICOID, &typinput, &typioparam);
	return DatumGetNumeric(OidInputFunctionCall(typinput,
												rs_json_scalar_text((const RsJson *) node),
												typioparam, -1));
}
