/*-------------------------------------------------------------------------
 *
 * fuzz_driver.c
 *	  libFuzzer inside a real backend: the transforms of rail_stream under
 *	  AddressSanitizer, driven by rail_stream_fuzz.run(text[]).
 *
 * The transforms (transform.c, trust.c, cif.c with VSTP, generic.c, json.c,
 * feed_time.c, decode.c, avro_decode.c) and the template renderer
 * (alert_body.c) are
 * backend code: they palloc, ereport, build jsonb and look up tables.  So
 * they are fuzzed where they run, in a backend (test/fuzz/run.sh starts
 * "postgres --single" with the ASan runtime preloaded), and this library
 * holds its own copy of them compiled with clang -fsanitize=address,
 * undefined and fuzzer-no-link, libFuzzer itself, and this driver.  It is
 * linked with -Bsymbolic, so that the copies call each other and libFuzzer's
 * coverage hooks rather than the installed rail_stream.so or the ASan
 * runtime's empty ones.
 *
 * One input is one message for one target, chosen by its first byte (see
 * targets[] below): a TRUST frame, a CIF record, a reference: or json:
 * message "key\nvalue" (without a newline, a tombstone with that key), an
 * Avro value of the JMS message record that carries a TRUST frame (the
 * schema of test/registry/jms-envelope.avsc, as an Avro TRUST feed reads
 * it once its registry gave the schema), or an alert template
 * "template\0payload".  Each step runs as ingest.c runs it,
 * in a subtransaction that is always rolled back: an ERROR is the expected
 * answer to bad input and is ignored.  A finding is whatever a user must
 * never see: a crash or a sanitizer report, an internal error (SQLSTATE
 * class XX, i.e. elog(ERROR) or a failed cache lookup), running out of
 * memory on an input of at most -max_len bytes, a row whose values its own
 * types' output functions refuse, a template body that is not valid UTF-8
 * or outgrows its bound.  Those abort(), and libFuzzer writes the input.
 *
 * palloc normally carves chunks out of large blocks and keeps freed chunks
 * for reuse, which hides overruns and use after pfree from ASan.  So every
 * input runs in a "malloc context", whose every chunk is one malloc() of
 * exactly the requested size: ASan sees each chunk's bounds and lifetime.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_driver.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/memnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "avro_decode.h"
#include "transform.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(rs_fuzz_run);

/* libFuzzer's entry point for a program with its own main() */
extern int	LLVMFuzzerRunDriver(int *argc, char ***argv,
								int (*cb) (const uint8_t *data, size_t size));

/* alert_body.c: _render_template(template text, payload jsonb) */
extern Datum rs_render_template(PG_FUNCTION_ARGS);

/* The longest template body: RS_ALERT_BODY_MAX of alert_body.c */
#define FUZZ_BODY_MAX		(64 * 1024)

/*
 * The targets.  The first byte of an input picks one: its letter, or any
 * other byte modulo the number of targets, so that every input runs.
 */
typedef struct FuzzTarget
{
	char		letter;
	const char *spec;			/* feed specification, NULL for templates */
	bool		keyed;			/* input is "key\nvalue" */
	bool		avro;			/* input is an Avro JMS message record */
	RsFeed		feed;
} FuzzTarget;

static FuzzTarget targets[] = {
	{'t', "trust", false},
	{'A', "trust", false, true},
	{'c', "cif", false},
	{'v', "vstp", false},
	{'r', "reference:cancellation_reasons", true},
	{'e', "json:rail_stream_fuzz.events", true},
	{'p', "json:rail_stream_fuzz.readings", true},
	{'l', "json:rail_stream_fuzz.log", true},
	{'a', NULL, false},
};

#define NTARGETS	lengthof(targets)

/* A payload for templates whose input has none */
static const char default_payload[] =
"{\"text\": \"1A01 LATE at LEEDS by 12 min\", \"station\": \"LEEDS\","
" \"train_id\": \"172A01MZ28\", \"variation\": 12, \"late\": true,"
" \"detail\": {\"platform\": \"3\", \"codes\": [1, 2]}, \"none\": null}";

/* The context that an input's allocations go to; reset after each input */
static MemoryContext input_context = NULL;

/* The schema of the Avro target, from RAIL_STREAM_FUZZ_AVRO_SCHEMA */
static RsAvroSchema *avro_schema = NULL;

static int	fuzz_one_input(const uint8_t *data, size_t size);
static void fuzz_feed(const FuzzTarget *target, const char *data, size_t len);
static void fuzz_template(const char *data, size_t len);
static RsAvroSchema *load_avro_schema(void);
static bool run_guarded(void (*step) (void *), void *arg);
static void check_rows(List *rows);
static void finding(const char *fmt,...) pg_attribute_printf(1, 2);
static MemoryContext malloc_context_create(MemoryContext parent,
										   const char *name);

/*
 * rail_stream_fuzz.run(args text[]) RETURNS int
 *
 * Runs libFuzzer with args as its command line (corpus directories, files,
 * -max_total_time=N, ...).  libFuzzer ends the process itself: exit(0) when
 * done, exit status 1 (or 70, 71 ...) with the reproducer written on a
 * finding.  So this returns only if libFuzzer does.
 */
Datum
rs_fuzz_run(PG_FUNCTION_ARGS)
{
	ArrayType  *args = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			argc;
	char	  **argv;
	MemoryContext old;

	deconstruct_array(args, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	argv = palloc0((nelems + 2) * sizeof(char *));
	argv[0] = "rail_stream_fuzz";
	argc = 1;
	for (int i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("fuzzer arguments must not be null")));
		argv[argc++] = TextDatumGetCString(elems[i]);
	}

	/* resolve the feeds once, as a worker does when it starts */
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (int i = 0; i < NTARGETS; i++)
		if (targets[i].spec != NULL)
			rs_feed_parse(targets[i].spec, &targets[i].feed);
	input_context = malloc_context_create(TopMemoryContext,
										  "rail_stream fuzz input");
	avro_schema = load_avro_schema();
	MemoryContextSwitchTo(old);

	PG_RETURN_INT32(LLVMFuzzerRunDriver(&argc, &argv, fuzz_one_input));
}

static int
fuzz_one_input(const uint8_t *data, size_t size)
{
	const FuzzTarget *target = NULL;
	MemoryContext old;

	if (size == 0)
		return 0;
	for (int i = 0; i < NTARGETS; i++)
		if (targets[i].letter == data[0])
			target = &targets[i];
	if (target == NULL)
		target = &targets[data[0] % NTARGETS];

	/* the feeds copy the input: ASan then catches a read past its end */
	old = MemoryContextSwitchTo(input_context);
	if (target->spec != NULL)
		fuzz_feed(target, (const char *) data + 1, size - 1);
	else
		fuzz_template((const char *) data + 1, size - 1);
	MemoryContextSwitchTo(old);
	MemoryContextReset(input_context);
	return 0;
}

/* What one step of a feed works on */
typedef struct FeedStep
{
	const RsFeed *feed;
	const char *value;
	size_t		len;
	bool		isnull;
	const char *key;
	List	   *units;			/* from the split step */
	const RsUnit *unit;			/* for a transform step */
} FeedStep;

/* An Avro value as the JSON text that the feed then reads */
static void
avro_step(void *arg)
{
	FeedStep   *step = arg;
	StringInfoData json;

	initStringInfo(&json);
	rs_avro_to_json(avro_schema, step->value, step->len, &json);
	step->value = json.data;
	step->len = json.len;
}

static void
split_step(void *arg)
{
	FeedStep   *step = arg;

	step->units = rs_split_message(step->feed, step->value, step->len,
								   step->isnull);
}

static void
transform_step(void *arg)
{
	FeedStep   *step = arg;

	check_rows(rs_transform_unit(step->feed, step->unit, step->key));
}

/*
 * A message through a feed as ingest.c takes it: split it, then transform
 * each unit on its own (a unit that fails is one dead letter).
 */
static void
fuzz_feed(const FuzzTarget *target, const char *data, size_t len)
{
	FeedStep	step = {0};
	char	   *value = NULL;
	ListCell   *lc;

	step.feed = &target->feed;
	if (target->keyed)
	{
		const char *nl = memchr(data, '\n', len);
		size_t		keylen = nl ? (size_t) (nl - data) : len;

		/* a key as ingest_worker.c passes it on: as text if it is text, else hex */
		if (keylen > 0 && memchr(data, '\0', keylen) == NULL &&
			pg_verifymbstr(data, keylen, true))
			step.key = pnstrdup(data, keylen);
		else if (keylen > 0)
		{
			char	   *hex = palloc(keylen * 2 + 3);

			memcpy(hex, "\\x", 2);
			hex[2 + hex_encode(data, keylen, hex + 2)] = '\0';
			step.key = hex;
		}
		if (nl == NULL)
			step.isnull = true;
		else
		{
			data = nl + 1;
			len -= keylen + 1;
		}
	}
	if (!step.isnull)
	{
		/* exactly len bytes, not terminated: as a Kafka payload */
		value = palloc(len > 0 ? len : 1);
		memcpy(value, data, len);
		step.value = value;
		step.len = len;
	}

	if (target->avro && !run_guarded(avro_step, &step))
		return;
	if (!run_guarded(split_step, &step))
		return;
	foreach(lc, step.units)
	{
		step.unit = lfirst(lc);
		run_guarded(transform_step, &step);
	}
}

/* What a template step works on */
typedef struct TemplateStep
{
	text	   *template;
	const char *payload;
} TemplateStep;

static void
template_step(void *arg)
{
	TemplateStep *step = arg;
	Datum		payload;
	text	   *body;
	int			len;

	payload = DirectFunctionCall1(jsonb_in, CStringGetDatum(step->payload));
	body = DatumGetTextPP(DirectFunctionCall2(rs_render_template,
											  PointerGetDatum(step->template),
											  payload));
	len = VARSIZE_ANY_EXHDR(body);

	/* values are cut at a character boundary, within the body's bound */
	if (!pg_verifymbstr(VARDATA_ANY(body), len, true))
		finding("template body is not valid UTF-8");
	if (len > FUZZ_BODY_MAX + (int) VARSIZE_ANY_EXHDR(step->template))
		finding("template body of %d bytes exceeds its bound", len);
}

/*
 * An alert template and its payload, "template\0payload".  Both are text in
 * the database, hence valid UTF-8 without NUL bytes: other inputs are
 * skipped.
 */
static void
fuzz_template(const char *data, size_t len)
{
	TemplateStep step;
	const char *nul = memchr(data, '\0', len);
	size_t		tlen = nul ? (size_t) (nul - data) : len;

	if (!pg_verifymbstr(data, tlen, true))
		return;
	step.template = cstring_to_text_with_len(data, tlen);
	if (nul == NULL)
		step.payload = default_payload;
	else
	{
		size_t		plen = len - tlen - 1;

		if (memchr(nul + 1, '\0', plen) != NULL ||
			!pg_verifymbstr(nul + 1, plen, true))
			return;
		step.payload = pnstrdup(nul + 1, plen);
	}
	run_guarded(template_step, &step);
}

/*
 * Run step(arg) in a subtransaction, which is rolled back: false if it
 * raised an ERROR.  An ERROR is bad input refused, unless it is one that no
 * input may cause.
 */
static bool
run_guarded(void (*step) (void *), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		step(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
			ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR) ||
			edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
			finding("unexpected error %s: %s (%s:%d)",
					unpack_sql_state(edata->sqlerrcode), edata->message,
					edata->filename ? edata->filename : "?", edata->lineno);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * The rows of a unit must be what sink.c can write: columns within the
 * row's size, named, of existing types, with values that their type's
 * output function accepts (a bad datum crashes it, or ASan stops it).
 */
static void
check_rows(List *rows)
{
	ListCell   *lc;

	foreach(lc, rows)
	{
		RsRow	   *row = lfirst(lc);

		if (row->ncols > row->maxcols)
			finding("row has %d columns for %d", row->ncols, row->maxcols);
		if (get_rel_name(row->relid) == NULL)
			finding("row for a relation that does not exist: %u", row->relid);
		for (int i = 0; i < row->ncols; i++)
		{
			Oid			output;
			bool		isvarlena;

			if (row->names[i] == NULL || row->names[i][0] == '\0')
				finding("column %d of a row has no name", i + 1);
			if (row->nulls[i])
				continue;
			getTypeOutputInfo(row->types[i], &output, &isvarlena);
			(void) OidOutputFunctionCall(output, row->values[i]);
		}
	}
}

/* Report what no input may cause, and let libFuzzer save the input */
static void
finding(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "rail_stream fuzz: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

/*
 * The malloc context: each chunk one malloc() of its exact size, after a
 * header that links the context's chunks for reset.  PostgreSQL 15 finds the
 * context of a chunk in the pointer-sized word just before it, so that is
 * the header's last member.
 */
typedef struct MallocChunk
{
	struct MallocChunk *prev;
	struct MallocChunk *next;
	Size		size;
	MemoryContext context;		/* must come last */
} MallocChunk;

#define CHUNK_HDRSZ		MAXALIGN(sizeof(MallocChunk))
#define CHUNK_OF(p)		((MallocChunk *) ((char *) (p) - CHUNK_HDRSZ))
#define POINTER_OF(c)	((void *) ((char *) (c) + CHUNK_HDRSZ))

typedef struct MallocContext
{
	MemoryContextData header;
	MallocChunk *chunks;
	Size		nchunks;
} MallocContext;

StaticAssertDecl(sizeof(MallocChunk) == MAXALIGN(sizeof(MallocChunk)),
				 "chunk header must end just before the chunk");

static void *
malloc_alloc(MemoryContext context, Size size)
{
	MallocContext *mc = (MallocContext *) context;
	MallocChunk *chunk = malloc(CHUNK_HDRSZ + size);

	if (chunk == NULL)
		return NULL;
	chunk->size = size;
	chunk->context = context;
	chunk->prev = NULL;
	chunk->next = mc->chunks;
	if (mc->chunks)
		mc->chunks->prev = chunk;
	mc->chunks = chunk;
	mc->nchunks++;
	context->mem_allocated += size;
	return POINTER_OF(chunk);
}

static void
malloc_unlink(MallocContext *mc, MallocChunk *chunk)
{
	if (chunk->prev)
		chunk->prev->next = chunk->next;
	else
		mc->chunks = chunk->next;
	if (chunk->next)
		chunk->next->prev = chunk->prev;
	mc->nchunks--;
	mc->header.mem_allocated -= chunk->size;
}

static void
malloc_free(MemoryContext context, void *pointer)
{
	MallocChunk *chunk = CHUNK_OF(pointer);

	malloc_unlink((MallocContext *) context, chunk);
	free(chunk);
}

static void *
malloc_realloc(MemoryContext context, void *pointer, Size size)
{
	MallocChunk *chunk = CHUNK_OF(pointer);
	void	   *copy = malloc_alloc(context, size);

	/* always move, so that ASan catches a use of the old pointer */
	if (copy == NULL)
		return NULL;
	memcpy(copy, pointer, Min(size, chunk->size));
	malloc_free(context, pointer);
	return copy;
}

static void
malloc_reset(MemoryContext context)
{
	MallocContext *mc = (MallocContext *) context;

	while (mc->chunks)
	{
		MallocChunk *chunk = mc->chunks;

		malloc_unlink(mc, chunk);
		free(chunk);
	}
}

static void
malloc_delete(MemoryContext context)
{
	malloc_reset(context);
	free(context);
}

static Size
malloc_chunk_space(MemoryContext context, void *pointer)
{
	return CHUNK_OF(pointer)->size + CHUNK_HDRSZ;
}

static bool
malloc_is_empty(MemoryContext context)
{
	return ((MallocContext *) context)->chunks == NULL;
}

static void
malloc_stats(MemoryContext context, MemoryStatsPrintFunc printfunc,
			 void *passthru, MemoryContextCounters *totals,
			 bool print_to_stderr)
{
	MallocContext *mc = (MallocContext *) context;

	if (printfunc)
	{
		char		stats[100];

		snprintf(stats, sizeof(stats), "%zu bytes in %zu chunks",
				 context->mem_allocated, mc->nchunks);
		printfunc(context, passthru, stats, print_to_stderr);
	}
	if (totals)
	{
		totals->nblocks += mc->nchunks;
		totals->totalspace += context->mem_allocated;
	}
}

#ifdef MEMORY_CONTEXT_CHECKING
static void
malloc_check(MemoryContext context)
{
}
#endif

static const MemoryContextMethods malloc_methods = {
	malloc_alloc,
	malloc_free,
	malloc_realloc,
	malloc_reset,
	malloc_delete,
	malloc_chunk_space,
	malloc_is_empty,
	malloc_stats
#ifdef MEMORY_CONTEXT_CHECKING
	,malloc_check
#endif
};

static MemoryContext
malloc_context_create(MemoryContext parent, const char *name)
{
	MallocContext *mc = malloc(sizeof(MallocContext));

	if (mc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	mc->chunks = NULL;
	mc->nchunks = 0;
	MemoryContextCreate(&mc->header, T_GenerationContext, &malloc_methods,
						parent, name);
	return &mc->header;
}

/* Read and parse the Avro target's schema, named by the environment */
static RsAvroSchema *
load_avro_schema(void)
{
	const char *path = getenv("RAIL_STREAM_FUZZ_AVRO_SCHEMA");
	StringInfoData text;
	FILE	   *f;
	char		buf[4096];
	size_t		n;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		elog(ERROR, "RAIL_STREAM_FUZZ_AVRO_SCHEMA must name a readable Avro schema");
	initStringInfo(&text);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		appendBinaryStringInfo(&text, buf, n);
	fclose(f);
	return rs_avro_schema_parse(text.data, text.len);
}
