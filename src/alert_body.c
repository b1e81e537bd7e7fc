/*-------------------------------------------------------------------------
 *
 * alert_body.c
 *	  Fill an alert rule's request template with the alert's fields.
 *
 * A rule's template is JSON whose strings may hold placeholders such as
 * {{text}} or {{station}}; each names a field of the alert's payload, and
 * is replaced by that field's value, escaped as the inside of a JSON
 * string.  The template is read once, from left to right: a value that
 * itself contains "{{...}}" is copied as it is, never expanded again, so a
 * message cannot make the body grow by more than its own length per
 * placeholder.  The body is also bounded as a whole: a value that would
 * take it past RS_ALERT_BODY_MAX is cut at a character boundary, which
 * keeps the JSON valid, since every placeholder stands inside a string.
 * A placeholder that names no field of the payload is left as it is.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/alert_body.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

/* The largest request body an alert gets, in bytes */
#define RS_ALERT_BODY_MAX	(64 * 1024)

PG_FUNCTION_INFO_V1(rs_render_template);

static const char *find_placeholder(const char *p, const char *end,
									const char **name, int *namelen);
static JsonbValue *payload_field(Jsonb *payload, const char *name, int len);
static const char *value_text(JsonbValue *value);
static void append_escaped(StringInfo buf, const char *s, int len, int limit);

/*
 * _render_template(template text, payload jsonb) RETURNS text
 *
 * The template with each {{field}} replaced, in one pass.
 */
Datum
rs_render_template(PG_FUNCTION_ARGS)
{
	text	   *template = PG_GETARG_TEXT_PP(0);
	Jsonb	   *payload = PG_GETARG_JSONB_P(1);
	const char *p = VARDATA_ANY(template);
	const char *end = p + VARSIZE_ANY_EXHDR(template);
	StringInfoData buf;

	initStringInfo(&buf);
	while (p < end)
	{
		const char *name;
		int			namelen;
		const char *open = find_placeholder(p, end, &name, &namelen);
		JsonbValue *value;

		if (open == NULL)
		{
			appendBinaryStringInfo(&buf, p, end - p);
			break;
		}
		appendBinaryStringInfo(&buf, p, open - p);
		p = name + namelen + 2;
		value = payload_field(payload, name, namelen);
		if (value == NULL)
			appendBinaryStringInfo(&buf, open, p - open);
		else if (value->type == jbvString)
			append_escaped(&buf, value->val.string.val, value->val.string.len,
						   RS_ALERT_BODY_MAX);
		else if (value->type != jbvNull)
		{
			const char *s = value_text(value);

			append_escaped(&buf, s, strlen(s), RS_ALERT_BODY_MAX);
		}
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * The next "{{name}}" at or after p, with name letters, digits and
 * underscores; returns where it opens and sets *name, or NULL.
 */
static const char *
find_placeholder(const char *p, const char *end, const char **name, int *namelen)
{
	for (; p + 4 <= end; p++)
	{
		const char *q;

		if (p[0] != '{' || p[1] != '{')
			continue;
		for (q = p + 2; q < end && (isalnum((unsigned char) *q) || *q == '_'); q++)
			;
		if (q > p + 2 && q + 1 < end && q[0] == '}' && q[1] == '}')
		{
			*name = p + 2;
			*namelen = q - (p + 2);
			return p;
		}
	}
	return NULL;
}

/* The payload's top-level field name, or NULL */
static JsonbValue *
payload_field(Jsonb *payload, const char *name, int len)
{
	JsonbValue	key;

	if (!JB_ROOT_IS_OBJECT(payload))
		return NULL;
	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = len;
	return findJsonbValueFromContainer(&payload->root, JB_FOBJECT, &key);
}

/* A number, boolean, object or array as the text ->> gives */
static const char *
value_text(JsonbValue *value)
{
	if (value->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out,
												   NumericGetDatum(value->val.numeric)));
	if (value->type == jbvBool)
		return value->val.boolean ? "true" : "false";
	return JsonbToCString(NULL, value->val.binary.data, value->val.binary.len);
}

/*
 * Append s as the inside of a JSON string, a whole character at a time,
 * while buf stays within limit bytes.
 */
static void
append_escaped(StringInfo buf, const char *s, int len, int limit)
{
	const char *end = s + len;

	while (s < end)
	{
		int			charlen = pg_mblen(s);
		char		esc[8];
		const char *out = s;
		int			outlen = Min(charlen, end - s);

		if (*s == '"' || *s == '\\')
		{
			snprintf(esc, sizeof(esc), "\\%c", *s);
			out = esc;
			outlen = 2;
		}
		else if ((unsigned char) *s < 0x20)
		{
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char) *s);
			out = esc;
			outlen = 6;
		}
		if (buf->len + outlen > limit)
			return;
		appendBinaryStringInfo(buf, out, outlen);
		s += Min(charlen, end - s);
	}
}
