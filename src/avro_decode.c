/*-------------------------------------------------------------------------
 *
 * avro_decode.c
 *	  Avro binary values as the JSON text the feeds read.
 *
 * An Avro value lands in exactly the rows of the same value sent as JSON:
 * it is written out as JSON text, which the feed then reads as any other
 * message (transform.c).  The mapping keeps what a JSON producer of the
 * same record would write:
 *
 *	record, map		an object (the record's field names, the map's keys)
 *	array			an array
 *	union			the value of its branch, without Avro JSON's
 *					{"type": value} wrapper: feeds map fields by name
 *	enum			its symbol, as a string
 *	string			a string (it must be UTF-8 without NUL)
 *	bytes, fixed	a string "\x0a1b...", as bytea reads it
 *	int, long		a number
 *	float, double	a number; NaN and the infinities as strings, which
 *					numeric and float columns read
 *	boolean, null	true, false, null
 *
 * libavro parses and checks the schemas (this is the only file that
 * includes it); the walk over a value's bytes is written here, because
 * libavro's reader trusts the block counts of arrays and maps: an array of
 * 2^62 nulls takes no bytes and allocates until memory runs out.  Here
 * every length and union branch is checked against what is left, the JSON
 * text is bounded by max_json, and a value with bytes left over after its
 * schema is refused (max_json: twice rail_stream.max_message_size):
 * whatever the bytes, memory stays bounded and a bad
 * value raises ERRCODE_INVALID_BINARY_REPRESENTATION, which makes it a
 * dead letter.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/avro_decode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <avro.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/json.h"

#include "avro_decode.h"
#include "guc.h"

struct RsAvroSchema
{
	avro_schema_t schema;
};

/* A value being read, and the JSON being written */
typedef struct AvroReader
{
	const unsigned char *data;
	size_t		len;
	size_t		pos;
	size_t		max_json;
	StringInfo	out;
} AvroReader;

static void read_value(AvroReader *r, avro_schema_t schema);
static void read_record(AvroReader *r, avro_schema_t schema);
static void read_blocks(AvroReader *r, avro_schema_t items, bool map);
static int64 read_long(AvroReader *r);
static const unsigned char *read_bytes(AvroReader *r, size_t n);
static void write_string(AvroReader *r, const unsigned char *s, size_t n);
static void write_hex(AvroReader *r, const unsigned char *s, size_t n);
static void write_double(AvroReader *r, double d, int digits);
static void check_json_size(AvroReader *r, size_t more);
static void bad_value(const AvroReader *r, const char *fmt,...) pg_attribute_printf(2, 3);

/*
 * rs_avro_schema_parse
 *		Parse an Avro schema given as JSON text; an ERROR says why not.
 */
RsAvroSchema *
rs_avro_schema_parse(const char *json, size_t len)
{
	avro_schema_t schema;
	RsAvroSchema *result;

	if (avro_schema_from_json_length(json, len, &schema) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Avro schema: %s", avro_strerror())));
	result = malloc(sizeof(RsAvroSchema));
	if (result == NULL)
	{
		avro_schema_decref(schema);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
	result->schema = schema;
	return result;
}

void
rs_avro_schema_free(RsAvroSchema *schema)
{
	avro_schema_decref(schema->schema);
	free(schema);
}

/*
 * rs_avro_to_json
 *		Append to out the JSON text of the Avro binary value data[0..len)
 *		written with schema, at most twice rail_stream.max_message_size.
 */
void
rs_avro_to_json(const RsAvroSchema *schema, const char *data, size_t len,
				StringInfo out)
{
	AvroReader	r = {(const unsigned char *) data, len, 0,
	(size_t) rs_max_message_size * 1024 * 2, out};

	read_value(&r, schema->schema);
	if (r.pos != r.len)
		bad_value(&r, "%zu bytes left over after the value", r.len - r.pos);
}

/* Write the value of one schema at the reader's position */
static void
read_value(AvroReader *r, avro_schema_t schema)
{
	check_stack_depth();
	check_json_size(r, 0);
	switch (avro_typeof(schema))
	{
		case AVRO_NULL:
			appendStringInfoString(r->out, "null");
			break;
		case AVRO_BOOLEAN:
			{
				const unsigned char *b = read_bytes(r, 1);

				if (*b > 1)
					bad_value(r, "boolean byte %d", *b);
				appendStringInfoString(r->out, *b ? "true" : "false");
				break;
			}
		case AVRO_INT32:
			{
				int64		v = read_long(r);

				if (v < PG_INT32_MIN || v > PG_INT32_MAX)
					bad_value(r, "int %lld out of range", (long long) v);
				appendStringInfo(r->out, "%d", (int) v);
				break;
			}
		case AVRO_INT64:
			appendStringInfo(r->out, INT64_FORMAT, read_long(r));
			break;
		case AVRO_FLOAT:
			{
				const unsigned char *b = read_bytes(r, 4);
				uint32		bits = b[0] | b[1] << 8 | b[2] << 16 | (uint32) b[3] << 24;
				float		f;

				memcpy(&f, &bits, sizeof(f));
				write_double(r, f, 9);
				break;
			}
		case AVRO_DOUBLE:
			{
				const unsigned char *b = read_bytes(r, 8);
				uint64		bits = 0;
				double		d;

				for (int i = 7; i >= 0; i--)
					bits = bits << 8 | b[i];
				memcpy(&d, &bits, sizeof(d));
				write_double(r, d, 17);
				break;
			}
		case AVRO_STRING:
		case AVRO_BYTES:
			{
				int64		n = read_long(r);

				if (n < 0 || (uint64) n > r->len - r->pos)
					bad_value(r, "length %lld with %zu bytes left",
							  (long long) n, r->len - r->pos);
				if (avro_typeof(schema) == AVRO_STRING)
					write_string(r, read_bytes(r, n), n);
				else
					write_hex(r, read_bytes(r, n), n);
				break;
			}
		case AVRO_FIXED:
			{
				int64		n = avro_schema_fixed_size(schema);

				write_hex(r, read_bytes(r, n), n);
				break;
			}
		case AVRO_ENUM:
			{
				int64		i = read_long(r);

				if (i < 0 || i >= avro_schema_enum_number_of_symbols(schema))
					bad_value(r, "enum index %lld of %d symbols", (long long) i,
							  avro_schema_enum_number_of_symbols(schema));
				escape_json(r->out, avro_schema_enum_get(schema, (int) i));
				break;
			}
		case AVRO_UNION:
			{
				int64		i = read_long(r);

				if (i < 0 || (uint64) i >= avro_schema_union_size(schema))
					bad_value(r, "union branch %lld of %zu", (long long) i,
							  avro_schema_union_size(schema));
				read_value(r, avro_schema_union_branch(schema, (int) i));
				break;
			}
		case AVRO_RECORD:
			read_record(r, schema);
			break;
		case AVRO_ARRAY:
			read_blocks(r, avro_schema_array_items(schema), false);
			break;
		case AVRO_MAP:
			read_blocks(r, avro_schema_map_values(schema), true);
			break;
		case AVRO_LINK:
			read_value(r, avro_schema_link_target(schema));
			break;
		default:
			elog(ERROR, "unexpected Avro schema type %d", avro_typeof(schema));
	}
}

/* A record: its fields in the schema's order, as an object */
static void
read_record(AvroReader *r, avro_schema_t schema)
{
	size_t		nfields = avro_schema_record_size(schema);

	appendStringInfoChar(r->out, '{');
	for (size_t i = 0; i < nfields; i++)
	{
		if (i > 0)
			appendStringInfoString(r->out, ", ");
		escape_json(r->out, avro_schema_record_field_name(schema, (int) i));
		appendStringInfoString(r->out, ": ");
		read_value(r, avro_schema_record_field_get_by_index(schema, (int) i));
	}
	appendStringInfoChar(r->out, '}');
}

/*
 * An array or a map: blocks of items, each block a count (negative: followed
 * by its size in bytes) and the items, up to a block of count 0.
 */
static void
read_blocks(AvroReader *r, avro_schema_t items, bool map)
{
	bool		first = true;

	appendStringInfoChar(r->out, map ? '{' : '[');
	for (;;)
	{
		int64		count = read_long(r);

		if (count == 0)
			break;
		if (count < 0)
		{
			if (count == PG_INT64_MIN)
				bad_value(r, "block count %lld", (long long) count);
			count = -count;
			(void) read_long(r);	/* the block's size, not needed */
		}
		for (int64 i = 0; i < count; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (!first)
				appendStringInfoString(r->out, ", ");
			first = false;
			if (map)
			{
				int64		n = read_long(r);

				if (n < 0 || (uint64) n > r->len - r->pos)
					bad_value(r, "map key length %lld with %zu bytes left",
							  (long long) n, r->len - r->pos);
				write_string(r, read_bytes(r, n), n);
				appendStringInfoString(r->out, ": ");
			}
			read_value(r, items);
		}
	}
	appendStringInfoChar(r->out, map ? '}' : ']');
}

/* A zig-zag varint, at most 10 bytes */
static int64
read_long(AvroReader *r)
{
	uint64		v = 0;

	for (int shift = 0; shift < 70; shift += 7)
	{
		unsigned char b = *read_bytes(r, 1);

		if (shift == 63 && b > 1)
			break;
		v |= (uint64) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return (int64) (v >> 1) ^ -(int64) (v & 1);
	}
	bad_value(r, "varint longer than 64 bits");
	return 0;					/* not reached */
}

/* The next n bytes, which must be there */
static const unsigned char *
read_bytes(AvroReader *r, size_t n)
{
	const unsigned char *p = r->data + r->pos;

	if (n > r->len - r->pos)
		bad_value(r, "value ends %zu bytes early", n - (r->len - r->pos));
	r->pos += n;
	return p;
}

static void
write_string(AvroReader *r, const unsigned char *s, size_t n)
{
	char	   *text;

	if (!pg_verify_mbstr(PG_UTF8, (const char *) s, n, true))
		bad_value(r, "string is not valid UTF-8 without NUL");
	check_json_size(r, n + 2);
	text = pnstrdup((const char *) s, n);
	escape_json(r->out, text);
	pfree(text);
}

static void
write_hex(AvroReader *r, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	check_json_size(r, n * 2);
	appendStringInfoString(r->out, "\"\\\\x");
	for (size_t i = 0; i < n; i++)
	{
		appendStringInfoChar(r->out, hex[s[i] >> 4]);
		appendStringInfoChar(r->out, hex[s[i] & 0xf]);
	}
	appendStringInfoChar(r->out, '"');
}

static void
write_double(AvroReader *r, double d, int digits)
{
	if (isnan(d))
		appendStringInfoString(r->out, "\"NaN\"");
	else if (isinf(d))
		appendStringInfoString(r->out, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		appendStringInfo(r->out, "%.*g", digits, d);
}

/* An ERROR if the JSON would outgrow its bound with more bytes */
static void
check_json_size(AvroReader *r, size_t more)
{
	if ((size_t) r->out->len + more > r->max_json)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Avro value of %zu bytes is more than %zu bytes as JSON",
						r->len, r->max_json),
				 errhint("Raise \"rail_stream.max_message_size\" to accept larger messages.")));
}

/* A value that does not follow its schema */
static void
bad_value(const AvroReader *r, const char *fmt,...)
{
	char		why[256];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(why, sizeof(why), fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid Avro value: %s", why),
			 errdetail("At byte %zu of the %zu bytes after the schema id.",
					   r->pos, r->len)));
}
