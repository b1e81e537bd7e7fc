/*-------------------------------------------------------------------------
 *
 * json.c
 *	  Parse messages into an arena DOM and read them; convert nodes to jsonb.
 *
 * Kafka messages arrive as raw bytes.  rs_json_parse checks them (no NUL
 * byte, valid UTF-8), copies them once into a palloc'd buffer and parses
 * that copy in one pass with a recursive-descent parser (RFC 8259, any
 * top-level value), building a read-only tree of RsJson nodes:
 *
 *	- every node, and every array of nodes, is palloc'd in the current memory
 *	  context: the document is an arena, freed when the caller's context is
 *	  reset or deleted (also when an ERROR unwinds past the parser), and
 *	  nothing is ever freed one by one;
 *	- strings point into the copy: a string without escapes is used where it
 *	  lies, one with escapes is de-escaped in place (the result is never
 *	  longer than its source), and the closing quote is overwritten with a
 *	  NUL, so every string and key is also a C string;
 *	- a number keeps its source text and whether it is an integer; its value
 *	  is computed when asked for (rs_json_scalar_text, jsonb);
 *	- an array is a C array of nodes; an object is two parallel arrays, keys
 *	  and values, in input order.  Keys are unique: a repeated key keeps its
 *	  first place and its last value, as in jansson and jsonb.  Duplicates
 *	  are found while parsing (compare length and first byte before memcmp),
 *	  and by sorting the keys when an object is large;
 *	- rs_json_get scans from just after its previous hit in that object and
 *	  wraps around, so reading the fields of a message in their usual order
 *	  (the TRUST transform does ~45 lookups on ~30 members) costs one or two
 *	  comparisons per lookup.
 *
 * The children of the containers being parsed are gathered on two scratch
 * stacks (values, keys) and copied into exactly-sized arrays when their
 * container closes.
 *
 * This replaces jansson, which malloc'd every node and key, built a hash
 * table per object, and was freed through a reset callback: with the user
 * triggers off, about half of the ingest worker's CPU time went to jansson
 * and malloc/free/memmove, and a TRUST message (an envelope whose "text"
 * member holds the escaped frame) is parsed twice.  bench/json/run.sh, on
 * the 2-core test machine (best runs, microseconds per TRUST envelope):
 *
 *							explode_movements		ingest_message, triggers off
 *							jansson		this		jansson		this
 *	real frame, 14 kB		693			247			1429		1044
 *	gen_trust.py 32, 27 kB	1522		435			2872		2178
 *
 * Errors keep PostgreSQL's SQLSTATEs: 22P02 for syntax, with the line,
 * column (in characters) and byte of the offending input; 22021 for invalid
 * UTF-8; 22P05 for a NUL byte or the escape \u0000, which text cannot hold;
 * 54001 beyond RS_JSON_MAX_DEPTH nested containers.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "json.h"
#include "pg_compat.h"

/* deepest nesting of arrays and objects accepted, as jansson's */
#define RS_JSON_MAX_DEPTH 2048

/* members checked for a repeated key at each new key; larger: sort at end */
#define DEDUP_SCAN_MAX 32

typedef struct RsJsonKey
{
	const char *str;			/* NUL-terminated */
	uint32		len;
} RsJsonKey;

struct RsJson
{
	uint8		type;			/* RsJsonType */
	bool		flag;			/* boolean: its value; number: integer? */
	uint32		size;			/* elements, members, or string length */
	uint32		hint;			/* object: where rs_json_get looks first */
	union
	{
		const char *str;		/* string (NUL-terminated), number's text */
		RsJson	   *elems;		/* array */
		struct
		{
			RsJsonKey  *keys;
			RsJson	   *values;
		}			obj;
	}			u;
};

typedef struct JsonParser
{
	const char *src;			/* the caller's input, for error positions */
	size_t		len;
	const char *what;			/* names the input in error messages */
	char	   *buf;			/* palloc'd copy, NUL-terminated */
	char	   *p;				/* next byte to read */
	int			depth;
	RsJson	   *vals;			/* scratch stack of children */
	int			nvals;
	int			maxvals;
	RsJsonKey  *keys;			/* scratch stack of object keys */
	int			nkeys;
	int			maxkeys;
} JsonParser;

static void check_input(const char *data, size_t len, const char *what);
static void parse_value(JsonParser *ps, RsJson *out);
static void parse_array(JsonParser *ps, RsJson *out);
static void parse_object(JsonParser *ps, RsJson *out);
static void add_member(JsonParser *ps, int kbase, int vbase,
					   const RsJsonKey *key, const RsJson *value);
static int	dedup_sorted(RsJsonKey *keys, RsJson *vals, int n);
static void parse_string(JsonParser *ps, const char **str, uint32 *len);
static char *parse_escape(JsonParser *ps, char *s, char **dst);
static void parse_number(JsonParser *ps, RsJson *out);
static void parse_literal(JsonParser *ps, RsJson *out);
static void enter(JsonParser *ps);
static size_t error_position(JsonParser *ps, const char *at, int *line,
							 int *column);
static void syntax_error(JsonParser *ps, const char *at,
						 const char *reason) pg_attribute_noreturn();
static void unexpected(JsonParser *ps, const char *at) pg_attribute_noreturn();
static bool number_int64(const RsJson *node, int64 *value);
static double number_double(const RsJson *node);
static void dump_node(StringInfo out, const RsJson *node);
static void dump_string(StringInfo out, const char *s, size_t len);
static JsonbValue *push_node(JsonbParseState **state, const RsJson *node,
							 JsonbIteratorToken token);
static Numeric number_to_numeric(const RsJson *node);

static inline char *
skip_ws(char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	return p;
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * rs_json_parse
 *		Parse len bytes of JSON, any top-level value.
 *
 * "what" names the input in error messages ("message", "field \"text\"").
 * Raises an ERROR with the reason and position on invalid input.  The
 * document lives in CurrentMemoryContext.
 */
RsJson *
rs_json_parse(const char *data, size_t len, const char *what)
{
	JsonParser	ps;
	RsJson	   *root;

	check_input(data, len, what);
	ps.src = data;
	ps.len = len;
	ps.what = what;
	ps.buf = palloc(len + 1);
	memcpy(ps.buf, data, len);
	ps.buf[len] = '\0';
	ps.depth = 0;
	ps.maxvals = ps.maxkeys = 64;
	ps.nvals = ps.nkeys = 0;
	ps.vals = palloc(ps.maxvals * sizeof(RsJson));
	ps.keys = palloc(ps.maxkeys * sizeof(RsJsonKey));

	root = palloc(sizeof(RsJson));
	ps.p = skip_ws(ps.buf);
	parse_value(&ps, root);
	ps.p = skip_ws(ps.p);
	if (ps.p != ps.buf + len)
		unexpected(&ps, ps.p);
	return root;
}

/* Refuse empty input, NUL bytes and invalid UTF-8 before parsing. */
static void
check_input(const char *data, size_t len, const char *what)
{
	const char *nul;
	int			valid;

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

	if (len >= MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s of %zu bytes is too large to parse", what, len)));

	valid = pg_encoding_verifymbstr(PG_UTF8, data, (int) len);
	if (valid < (int) len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid byte sequence for encoding \"UTF8\" in %s", what),
				 errdetail("The invalid byte is byte %d of %zu.",
						   valid + 1, len)));
}

/* Parse the value at ps->p (no whitespace before it) into *out. */
static void
parse_value(JsonParser *ps, RsJson *out)
{
	switch (*ps->p)
	{
		case '{':
			parse_object(ps, out);
			break;
		case '[':
			parse_array(ps, out);
			break;
		case '"':
			out->type = RS_JSON_STRING;
			parse_string(ps, &out->u.str, &out->size);
			break;
		case '-':
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
		case '8':
		case '9':
			parse_number(ps, out);
			break;
		default:
			parse_literal(ps, out);
			break;
	}
}

/* Push a child onto the scratch stack of values. */
static inline void
push_value(JsonParser *ps, const RsJson *value)
{
	if (ps->nvals == ps->maxvals)
	{
		ps->maxvals *= 2;
		ps->vals = repalloc_huge(ps->vals, ps->maxvals * sizeof(RsJson));
	}
	ps->vals[ps->nvals++] = *value;
}

static inline void
push_key(JsonParser *ps, const RsJsonKey *key)
{
	if (ps->nkeys == ps->maxkeys)
	{
		ps->maxkeys *= 2;
		ps->keys = repalloc_huge(ps->keys, ps->maxkeys * sizeof(RsJsonKey));
	}
	ps->keys[ps->nkeys++] = *key;
}

/* A palloc'd copy of n scratch entries of size "size", NULL when none. */
static void *
copy_out(const void *from, int n, size_t size)
{
	void	   *to;

	if (n == 0)
		return NULL;
	to = palloc_extended(n * size, MCXT_ALLOC_HUGE);
	memcpy(to, from, n * size);
	return to;
}

static void
parse_array(JsonParser *ps, RsJson *out)
{
	int			base = ps->nvals;
	RsJson		v;

	enter(ps);
	ps->p = skip_ws(ps->p + 1);
	if (*ps->p != ']')
	{
		for (;;)
		{
			parse_value(ps, &v);
			push_value(ps, &v);
			ps->p = skip_ws(ps->p);
			if (*ps->p == ']')
				break;
			if (*ps->p != ',')
				unexpected(ps, ps->p);
			ps->p = skip_ws(ps->p + 1);
		}
	}
	ps->p++;
	out->type = RS_JSON_ARRAY;
	out->size = ps->nvals - base;
	out->u.elems = copy_out(ps->vals + base, out->size, sizeof(RsJson));
	ps->nvals = base;
	ps->depth--;
}

static void
parse_object(JsonParser *ps, RsJson *out)
{
	int			vbase = ps->nvals;
	int			kbase = ps->nkeys;
	int			n;
	RsJsonKey	key;
	RsJson		v;

	enter(ps);
	ps->p = skip_ws(ps->p + 1);
	if (*ps->p != '}')
	{
		for (;;)
		{
			if (*ps->p != '"')
				unexpected(ps, ps->p);
			parse_string(ps, &key.str, &key.len);
			ps->p = skip_ws(ps->p);
			if (*ps->p != ':')
				unexpected(ps, ps->p);
			ps->p = skip_ws(ps->p + 1);
			parse_value(ps, &v);
			add_member(ps, kbase, vbase, &key, &v);
			ps->p = skip_ws(ps->p);
			if (*ps->p == '}')
				break;
			if (*ps->p != ',')
				unexpected(ps, ps->p);
			ps->p = skip_ws(ps->p + 1);
		}
	}
	ps->p++;
	n = ps->nkeys - kbase;
	if (n > DEDUP_SCAN_MAX)
		n = dedup_sorted(ps->keys + kbase, ps->vals + vbase, n);
	out->type = RS_JSON_OBJECT;
	out->size = n;
	out->hint = 0;
	out->u.obj.keys = copy_out(ps->keys + kbase, n, sizeof(RsJsonKey));
	out->u.obj.values = copy_out(ps->vals + vbase, n, sizeof(RsJson));
	ps->nvals = vbase;
	ps->nkeys = kbase;
	ps->depth--;
}

static inline bool
key_equal(const RsJsonKey *a, const char *str, uint32 len)
{
	return a->len == len && a->str[0] == str[0] &&
		memcmp(a->str, str, len) == 0;
}

/*
 * add_member
 *		Append a member to the object being parsed, or, when its key is among
 *		the object's first DEDUP_SCAN_MAX keys, replace that member's value.
 *		Repeats among later keys are left to dedup_sorted.
 */
static void
add_member(JsonParser *ps, int kbase, int vbase,
		   const RsJsonKey *key, const RsJson *value)
{
	int			n = Min(ps->nkeys - kbase, DEDUP_SCAN_MAX);

	for (int i = 0; i < n; i++)
	{
		if (key_equal(&ps->keys[kbase + i], key->str, key->len))
		{
			ps->vals[vbase + i] = *value;
			return;
		}
	}
	push_key(ps, key);
	push_value(ps, value);
}

static int
key_order_cmp(const void *a, const void *b, void *arg)
{
	const RsJsonKey *keys = arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	const RsJsonKey *ka = &keys[ia];
	const RsJsonKey *kb = &keys[ib];
	int			c;

	if (ka->len != kb->len)
		return ka->len < kb->len ? -1 : 1;
	c = memcmp(ka->str, kb->str, ka->len);
	if (c != 0)
		return c;
	return ia < ib ? -1 : (ia > ib);
}

/*
 * dedup_sorted
 *		Merge the members of a large object that share a key: the first keeps
 *		its place and takes the last one's value.  Returns the new count.
 */
static int
dedup_sorted(RsJsonKey *keys, RsJson *vals, int n)
{
	int		   *order = palloc_extended(n * sizeof(int), MCXT_ALLOC_HUGE);
	int			i,
				j,
				m = 0;

	for (i = 0; i < n; i++)
		order[i] = i;
	qsort_arg(order, n, sizeof(int), key_order_cmp, keys);
	for (i = 0; i < n; i = j)
	{
		for (j = i + 1; j < n; j++)
		{
			if (!key_equal(&keys[order[i]], keys[order[j]].str,
						   keys[order[j]].len))
				break;
			keys[order[j]].str = NULL;
		}
		if (j - i > 1)
			vals[order[i]] = vals[order[j - 1]];
	}
	for (i = 0; i < n; i++)
	{
		if (keys[i].str == NULL)
			continue;
		keys[m] = keys[i];
		vals[m++] = vals[i];
	}
	pfree(order);
	return m;
}

/*
 * parse_string
 *		Parse the string at ps->p (its opening quote) in place: *str points
 *		into the copy, NUL-terminated where the closing quote was.
 */
static void
parse_string(JsonParser *ps, const char **str, uint32 *len)
{
	char	   *start = ps->p + 1;
	char	   *s = start;
	char	   *dst;

	/* fast path: up to the closing quote or the first escape */
	while ((unsigned char) *s >= 0x20 && *s != '"' && *s != '\\')
		s++;
	dst = s;
	while (*s != '"')
	{
		if (*s == '\\')
			s = parse_escape(ps, s, &dst);
		else if ((unsigned char) *s < 0x20)
		{
			if (*s == '\0')
				syntax_error(ps, s, "unexpected end of input in a string");
			syntax_error(ps, s, psprintf("unescaped control character U+%04X in a string",
										 (unsigned char) *s));
		}
		else
			*dst++ = *s++;
	}
	*dst = '\0';
	*str = start;
	*len = dst - start;
	ps->p = s + 1;
}

/* The value of the four hex digits at s, or -1. */
static int
hex4(const char *s)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		char		c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * parse_unicode
 *		Decode the escape \uXXXX at s (and the low surrogate after a high
 *		one); return the code point and set *next past the escape(s).
 */
static pg_wchar
parse_unicode(JsonParser *ps, char *s, char **next)
{
	int			cp = hex4(s + 2);
	int			lo;

	if (cp < 0)
		syntax_error(ps, s, "invalid \\u escape: four hexadecimal digits must follow \\u");
	if (cp == 0)
	{
		int			line,
					column;

		error_position(ps, s, &line, &column);
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("unsupported Unicode escape sequence in %s", ps->what),
				 errdetail("\\u0000 cannot be converted to text (line %d, column %d).",
						   line, column)));
	}
	*next = s + 6;
	if (cp < 0xD800 || cp > 0xDFFF)
		return cp;
	lo = (cp <= 0xDBFF && s[6] == '\\' && s[7] == 'u') ? hex4(s + 8) : -1;
	if (lo < 0xDC00 || lo > 0xDFFF)
		syntax_error(ps, s, psprintf("invalid Unicode escape \"%.6s\": a lone surrogate", s));
	*next = s + 12;
	return 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
}

/* Decode the escape at s into *dst; return where the input goes on. */
static char *
parse_escape(JsonParser *ps, char *s, char **dst)
{
	static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
	char	   *next;
	pg_wchar	cp;

	if (s[1] != 'u')
	{
		for (int i = 0; simple[i] != '\0'; i += 2)
		{
			if (s[1] == simple[i])
			{
				*(*dst)++ = simple[i + 1];
				return s + 2;
			}
		}
		if (s[1] == '\0')
			syntax_error(ps, s + 1, "unexpected end of input in a string");
		syntax_error(ps, s, psprintf("invalid escape \"\\%.*s\"",
									 pg_utf_mblen((unsigned char *) s + 1), s + 1));
	}
	cp = parse_unicode(ps, s, &next);
	unicode_to_utf8(cp, (unsigned char *) *dst);
	*dst += pg_utf_mblen((unsigned char *) *dst);
	return next;
}

/* Parse a number; its text stays in the copy, its value is computed later. */
static void
parse_number(JsonParser *ps, RsJson *out)
{
	char	   *s = ps->p;
	bool		integer = true;

	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (is_digit(*s))
		while (is_digit(*s))
			s++;
	else
		unexpected(ps, s);
	if (*s == '.')
	{
		integer = false;
		if (!is_digit(*++s))
			unexpected(ps, s);
		while (is_digit(*s))
			s++;
	}
	if (*s == 'e' || *s == 'E')
	{
		integer = false;
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!is_digit(*s))
			unexpected(ps, s);
		while (is_digit(*s))
			s++;
	}
	out->type = RS_JSON_NUMBER;
	out->flag = integer;
	out->u.str = ps->p;
	out->size = s - ps->p;
	if (!integer && isinf(number_double(out)))
		syntax_error(ps, ps->p, psprintf("number out of range \"%.*s\"",
										 (int) Min(out->size, 40), ps->p));
	ps->p = s;
}

static void
parse_literal(JsonParser *ps, RsJson *out)
{
	char	   *s = ps->p;

	if (strncmp(s, "true", 4) == 0 || strncmp(s, "null", 4) == 0)
		ps->p += 4;
	else if (strncmp(s, "false", 5) == 0)
		ps->p += 5;
	else
		unexpected(ps, s);
	out->type = (*s == 'n') ? RS_JSON_NULL : RS_JSON_BOOL;
	out->flag = (*s == 't');
}

/* Open an array or object. */
static void
enter(JsonParser *ps)
{
	check_stack_depth();
	if (++ps->depth > RS_JSON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("%s is nested too deeply", ps->what),
				 errdetail("The maximum depth of JSON arrays and objects is %d.",
						   RS_JSON_MAX_DEPTH)));
}

/*
 * error_position
 *		Where the byte at "at" (in the copy) is in the input: returns its
 *		1-based byte number (the input's length at its end) and sets its line
 *		and column, counted in characters.
 */
static size_t
error_position(JsonParser *ps, const char *at, int *line, int *column)
{
	size_t		byte = Min((size_t) (at - ps->buf) + 1, ps->len);

	*line = 1;
	*column = 0;
	for (size_t i = 0; i < byte; i++)
	{
		unsigned char c = ps->src[i];

		if (c == '\n')
		{
			(*line)++;
			*column = 0;
		}
		else if ((c & 0xC0) != 0x80)
			(*column)++;
	}
	return byte;
}

/* Raise a syntax error about the input at "at". */
static void
syntax_error(JsonParser *ps, const char *at, const char *reason)
{
	int			line,
				column;
	size_t		byte = error_position(ps, at, &line, &column);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid JSON in %s: %s", ps->what, reason),
			 errdetail("The error is at line %d, column %d (byte %zu of %zu).",
					   line, column, byte, ps->len)));
}

/*
 * unexpected
 *		Raise a syntax error naming the token at "at": a run of letters,
 *		digits and number characters, or else one character.
 */
static void
unexpected(JsonParser *ps, const char *at)
{
	const char *s = ps->src + (at - ps->buf);
	const char *end = ps->src + ps->len;
	int			n = 0;

	if (at >= ps->buf + ps->len)
		syntax_error(ps, at, "unexpected end of input");
	while (s + n < end && n < 40 &&
		   (isalnum((unsigned char) s[n]) || strchr("+-._", s[n]) != NULL))
		n++;
	if (n == 0)
		n = pg_utf_mblen((const unsigned char *) s);
	syntax_error(ps, at, psprintf("unexpected token \"%.*s\"", n, s));
}

RsJsonType
rs_json_type(const RsJson *node)
{
	return (RsJsonType) node->type;
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

/*
 * rs_json_get
 *		Member "key" of an object; NULL when absent or when node is no object.
 *
 * The search starts after the previous hit and wraps around: fields read in
 * the order they were written are found at once.
 */
const RsJson *
rs_json_get(const RsJson *object, const char *key)
{
	uint32		n;
	uint32		i;
	uint32		len;

	if (object->type != RS_JSON_OBJECT || object->size == 0)
		return NULL;
	n = object->size;
	len = strlen(key);
	i = object->hint;
	for (uint32 k = 0; k < n; k++, i++)
	{
		if (i >= n)
			i = 0;
		if (key_equal(&object->u.obj.keys[i], key, len))
		{
			((RsJson *) object)->hint = i + 1;
			return &object->u.obj.values[i];
		}
	}
	return NULL;
}

/* Number of elements of an array or members of an object, else 0. */
size_t
rs_json_size(const RsJson *node)
{
	if (node->type == RS_JSON_ARRAY || node->type == RS_JSON_OBJECT)
		return node->size;
	return 0;
}

/* Element "index" of an array; NULL when out of range or no array. */
const RsJson *
rs_json_at(const RsJson *array, size_t index)
{
	if (array->type != RS_JSON_ARRAY || index >= array->size)
		return NULL;
	return &array->u.elems[index];
}

/* The bytes of a string node, NUL-terminated (no NUL inside: see len). */
const char *
rs_json_string(const RsJson *node, size_t *len)
{
	Assert(node->type == RS_JSON_STRING);
	*len = node->size;
	return node->u.str;
}

/*
 * rs_json_scalar_text
 *		The text of a string, number or boolean node, palloc'd; NULL for a
 *		JSON null.  Objects and arrays are the caller's business.
 *
 * Numbers print as jansson printed them: an integer that fits int64 as its
 * value ("-0" is "0"), a fraction or exponent as "%.17g".  A larger
 * integer, which jansson refused, keeps all its digits.
 */
char *
rs_json_scalar_text(const RsJson *node)
{
	int64		ival;

	switch (rs_json_type(node))
	{
		case RS_JSON_STRING:
			return pnstrdup(node->u.str, node->size);
		case RS_JSON_NUMBER:
			if (!node->flag)
				return psprintf("%.17g", number_double(node));
			if (number_int64(node, &ival))
				return psprintf(INT64_FORMAT, ival);
			return pnstrdup(node->u.str, node->size);
		case RS_JSON_BOOL:
			return pstrdup(node->flag ? "true" : "false");
		default:
			return NULL;
	}
}

/* The value of an integer node, false when it does not fit int64. */
static bool
number_int64(const RsJson *node, int64 *value)
{
	const char *s = node->u.str;
	const char *end = s + node->size;
	bool		neg = (*s == '-');
	int64		acc = 0;

	/* accumulate negatively, which reaches PG_INT64_MIN */
	for (s += neg; s < end; s++)
	{
		if (pg_mul_s64_overflow(acc, 10, &acc) ||
			pg_sub_s64_overflow(acc, *s - '0', &acc))
			return false;
	}
	if (!neg && acc == PG_INT64_MIN)
		return false;
	*value = neg ? acc : -acc;
	return true;
}

/* strtod of a number's text (which is not NUL-terminated in the copy). */
static double
number_double(const RsJson *node)
{
	char		small[64];
	char	   *text = small;
	double		d;

	if (node->size >= sizeof(small))
		text = palloc(node->size + 1);
	memcpy(text, node->u.str, node->size);
	text[node->size] = '\0';
	d = strtod(text, NULL);
	if (text != small)
		pfree(text);
	return d;
}

void
rs_json_foreach(const RsJson *object, RsJsonMemberCallback cb, void *arg)
{
	if (object->type != RS_JSON_OBJECT)
		return;
	for (uint32 i = 0; i < object->size; i++)
		cb(object->u.obj.keys[i].str, &object->u.obj.values[i], arg);
}

/*
 * rs_json_dump
 *		Compact serialisation of a node, palloc'd, keys in their input order,
 *		escaped as jansson did; numbers as rs_json_scalar_text prints them.
 */
char *
rs_json_dump(const RsJson *node, size_t *len)
{
	StringInfoData out;

	initStringInfo(&out);
	dump_node(&out, node);
	*len = out.len;
	return out.data;
}

static void
dump_node(StringInfo out, const RsJson *node)
{
	check_stack_depth();
	switch (rs_json_type(node))
	{
		case RS_JSON_OBJECT:
			appendStringInfoChar(out, '{');
			for (uint32 i = 0; i < node->size; i++)
			{
				if (i > 0)
					appendStringInfoChar(out, ',');
				dump_string(out, node->u.obj.keys[i].str,
							node->u.obj.keys[i].len);
				appendStringInfoChar(out, ':');
				dump_node(out, &node->u.obj.values[i]);
			}
			appendStringInfoChar(out, '}');
			break;
		case RS_JSON_ARRAY:
			appendStringInfoChar(out, '[');
			for (uint32 i = 0; i < node->size; i++)
			{
				if (i > 0)
					appendStringInfoChar(out, ',');
				dump_node(out, &node->u.elems[i]);
			}
			appendStringInfoChar(out, ']');
			break;
		case RS_JSON_STRING:
			dump_string(out, node->u.str, node->size);
			break;
		case RS_JSON_NUMBER:
		case RS_JSON_BOOL:
			appendStringInfoString(out, rs_json_scalar_text(node));
			break;
		case RS_JSON_NULL:
			appendStringInfoString(out, "null");
			break;
	}
}

/* A JSON string: '"', '\' and control characters escaped, UTF-8 kept. */
static void
dump_string(StringInfo out, const char *s, size_t len)
{
	size_t		run = 0;

	appendStringInfoChar(out, '"');
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(out, s + run, i - run);
		run = i + 1;
		switch (c)
		{
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			default:
				appendStringInfo(out, "\\u%04X", c);
				break;
		}
	}
	appendBinaryStringInfo(out, s + run, len - run);
	appendStringInfoChar(out, '"');
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

	if (node->type == RS_JSON_OBJECT || node->type == RS_JSON_ARRAY)
		result = push_node(&state, node, WJB_VALUE);
	else
	{
		/* jsonb stores a top-level scalar as a one-element raw array */
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		state->contVal.val.array.rawScalar = true;
		push_node(&state, node, WJB_ELEM);
		result = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	return JsonbValueToJsonb(result);
}

static void
push_jsonb_key(JsonbParseState **state, const RsJsonKey *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key->str;
	k.val.string.len = key->len;
	pushJsonbValue(state, WJB_KEY, &k);
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
	bool		any = false;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (uint32 i = 0; i < rs_json_size(object); i++)
	{
		if (!keep(object->u.obj.keys[i].str, arg))
			continue;
		push_jsonb_key(&state, &object->u.obj.keys[i]);
		push_node(&state, &object->u.obj.values[i], WJB_VALUE);
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
push_node(JsonbParseState **state, const RsJson *node, JsonbIteratorToken token)
{
	JsonbValue	v;

	check_stack_depth();
	switch (rs_json_type(node))
	{
		case RS_JSON_OBJECT:
			pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
			for (uint32 i = 0; i < node->size; i++)
			{
				push_jsonb_key(state, &node->u.obj.keys[i]);
				push_node(state, &node->u.obj.values[i], WJB_VALUE);
			}
			return pushJsonbValue(state, WJB_END_OBJECT, NULL);
		case RS_JSON_ARRAY:
			pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
			for (uint32 i = 0; i < node->size; i++)
				push_node(state, &node->u.elems[i], WJB_ELEM);
			return pushJsonbValue(state, WJB_END_ARRAY, NULL);
		case RS_JSON_STRING:
			v.type = jbvString;
			v.val.string.val = (char *) node->u.str;
			v.val.string.len = node->size;
			break;
		case RS_JSON_NUMBER:
			v.type = jbvNumeric;
			v.val.numeric = number_to_numeric(node);
			break;
		case RS_JSON_BOOL:
			v.type = jbvBool;
			v.val.boolean = node->flag;
			break;
		case RS_JSON_NULL:
			v.type = jbvNull;
			break;
	}
	return pushJsonbValue(state, token, &v);
}

/* A number as numeric: integers exactly, others from their "%.17g". */
static Numeric
number_to_numeric(const RsJson *node)
{
	int64		ival;

	if (node->flag && number_int64(node, &ival))
		return int64_to_numeric(ival);
	return DatumGetNumeric(DirectFunctionCall3(numeric_in,
											   CStringGetDatum(rs_json_scalar_text(node)),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}
