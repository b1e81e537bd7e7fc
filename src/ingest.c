/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  Run one message through transform and sink; keep what fails.
 *
 * This is the path of every message, from ingest_message(),
 * ingest_messages() and the Kafka workers alike.  A bad message must neither be lost nor take its
 * neighbours down, and the good path must stay fast, so:
 *
 *	0. A worker's batch of Kafka messages, or a chunk of ingest_messages()'s
 *	   array, is written in one subtransaction
 *	   (rs_ingest_batch): each message is parsed and transformed in a
 *	   memory context reset after it, and its rows go to a sink (sink.c),
 *	   which writes them with one statement per table when it fills up and
 *	   at the end.  If any message fails, the batch is rolled back and
 *	   written again in halves, down to the failing message, which goes
 *	   through the steps below on its own.
 *	1. The whole message (for TRUST, every train message of the frame) is
 *	   transformed and written in one subtransaction, through a sink of its
 *	   own.
 *	2. If that fails with an error that belongs to the message (bad JSON, a
 *	   bad field, a constraint the row breaks), the subtransaction is rolled
 *	   back and, for a frame of several train messages, each is written again
 *	   in a subtransaction of its own, as the JDBC sink "unrolls" a batch.
 *	3. What still fails goes to rail_stream.dead_letters, in the caller's
 *	   transaction, with its raw bytes, its error and SQLSTATE.
 *
 * Errors that do not belong to the message (cancel, out of memory, lost
 * privileges, deadlock, internal errors) are re-thrown after the rollback:
 * the caller's transaction fails as a whole, and nothing is dead-lettered
 * that a retry could have written.
 *
 * A message larger than rail_stream.max_message_size is not parsed: it
 * goes straight to the dead letters, where only its first
 * rail_stream.dead_letter_max_size bytes are kept, with its length and
 * SHA-256, so that no input makes memory or the table grow without bound.
 *
 * A permission error is the message's own only if the role still holds its
 * table privileges: then a row-level security policy refused that row, and
 * the message is a dead letter.  A lost grant stops the caller instead.
 *
 * Dead letters are written as the extension's owner (run_as.c), so that a
 * subscription owner or an ingest_message() caller without rights on the
 * dead letters can still leave one; each records the role whose rights the
 * message was written with (written_as), and a replay runs with that role's
 * rights.  The caller must be connected to SPI.  Everything a message
 * allocates, its parsed JSON documents included (json.c allocates them with
 * palloc), lives in a context deleted at the end.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/ingest.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "ingest.h"
#include "pg_compat.h"
#include "plans.h"
#include "run_as.h"
#include "sink.h"

/* What ingest is working on, for error context */
typedef struct IngestState
{
	RsMessage  *msg;
	const RsUnit *unit;			/* NULL while splitting the message */
	RsSink	   *sink;			/* where the rows go */
} IngestState;

static bool try_write(IngestState *state, List **units, uint64 *rows,
					  ErrorData **error);
static bool try_write_batch(RsMessage *msgs, int n, uint64 *rows);
static bool catch_message_error(const RsMessage *msg, MemoryContext cxt,
								ResourceOwner owner, ErrorData **error);
static void write_units(IngestState *state, List *units);
static uint64 add_message(IngestState *state, RsMessage *msg);
static void note_event_time(RsMessage *msg, const RsRow *row);
static bool is_message_error(const RsMessage *msg, const ErrorData *edata);
static bool feed_still_writable(const RsMessage *msg);
static bool is_oversize(const RsMessage *msg, ErrorData *edata);
static void dead_letter(const RsMessage *msg, const RsUnit *unit,
						const ErrorData *edata);
static void ingest_error_context(void *arg);
static bytea *make_bytea(const char *data, size_t len);

/*
 * rs_ingest
 *		Transform and write one message; returns the number of rows written
 *		and adds the number of dead letters it stored to *dead_letters.
 */
uint64
rs_ingest(RsMessage *msg, int *dead_letters)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext msgcxt;
	IngestState state = {msg, NULL, NULL};
	ErrorData  *error;
	ErrorData	oversize;
	List	   *units = NIL;
	uint64		rows = 0;

	msgcxt = AllocSetContextCreate(caller, "rail_stream message",
								   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(msgcxt);
	state.sink = rs_sink_create();

	if (is_oversize(msg, &oversize))
	{
		dead_letter(msg, NULL, &oversize);
		(*dead_letters)++;
	}
	else if (!try_write(&state, &units, &rows, &error))
	{
		if (list_length(units) <= 1)
		{
			/* the message as a whole is bad */
			dead_letter(msg, units ? linitial(units) : NULL, error);
			(*dead_letters)++;
		}
		else
		{
			/* unroll: each train message of the frame on its own */
			ListCell   *lc;

			rows = 0;
			foreach(lc, units)
			{
				List	   *one = list_make1(lfirst(lc));
				uint64		n;

				if (try_write(&state, &one, &n, &error))
					rows += n;
				else
				{
					dead_letter(msg, lfirst(lc), error);
					(*dead_letters)++;
				}
			}
		}
	}

	MemoryContextSwitchTo(caller);
	MemoryContextDelete(msgcxt);
	return rows;
}

/*
 * try_write
 *		Write *units in one subtransaction, splitting the message first if
 *		*units is NIL.  On success sets *rows and returns true; on an error
 *		of the message's own, rolls back, sets *error and returns false.
 *
 * Must be called in the message's memory context, which survives the
 * subtransaction: *units and *error are allocated there.
 */
static bool
try_write(IngestState *state, List **units, uint64 *rows, ErrorData **error)
{
	MemoryContext msgcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorContextCallback errcallback;
	volatile bool ok = true;

	errcallback.callback = ingest_error_context;
	errcallback.arg = state;
	errcallback.previous = error_context_stack;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(msgcxt);
	PG_TRY();
	{
		error_context_stack = &errcallback;
		if (*units == NIL)
			*units = rs_split_message(&state->msg->feed, state->msg->data,
									  state->msg->len, state->msg->isnull);
		write_units(state, *units);
		state->unit = NULL;
		*rows = rs_sink_flush(state->sink);
		error_context_stack = errcallback.previous;
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		error_context_stack = errcallback.previous;
		rs_sink_discard(state->sink);
		ok = catch_message_error(state->msg, msgcxt, owner, error);
	}
	PG_END_TRY();

	MemoryContextSwitchTo(msgcxt);
	CurrentResourceOwner = owner;
	state->unit = NULL;
	return ok;
}

/*
 * catch_message_error
 *		In a PG_CATCH block: roll back the subtransaction, and re-throw the
 *		error unless it belongs to the message.  Returns false, with the
 *		error copied into cxt.
 */
static bool
catch_message_error(const RsMessage *msg, MemoryContext cxt,
					ResourceOwner owner, ErrorData **error)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (!is_message_error(msg, edata))
		ReThrowError(edata);
	if (error)
		*error = edata;
	return false;
}

/*
 * rs_ingest_batch
 *		Write n messages, fast: all in one subtransaction, their rows set by
 *		set (sink.c).  If one of them fails, roll back and write each half
 *		the same way, in order, down to a message alone, which goes through
 *		rs_ingest(): a bad message costs a few rollbacks, not the batch's
 *		speed.
 */
uint64
rs_ingest_batch(RsMessage *msgs, int n, int *dead_letters)
{
	uint64		rows = 0;

	if (n == 1)
		return rs_ingest(&msgs[0], dead_letters);
	if (try_write_batch(msgs, n, &rows))
		return rows;
	rows = rs_ingest_batch(msgs, n / 2, dead_letters);
	rows += rs_ingest_batch(msgs + n / 2, n - n / 2, dead_letters);
	return rows;
}

/*
 * try_write_batch
 *		Transform each message in a context of its own, reset after it, and
 *		give its rows to one sink; the sink is flushed when full and at the
 *		end.  Returns false, everything rolled back, if a message's error
 *		was raised.
 */
static bool
try_write_batch(RsMessage *msgs, int n, uint64 *rows)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext batchcxt;
	MemoryContext msgcxt;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorContextCallback errcallback;
	IngestState state = {NULL, NULL, NULL};
	volatile bool ok = true;

	batchcxt = AllocSetContextCreate(caller, "rail_stream batch",
									 ALLOCSET_DEFAULT_SIZES);
	msgcxt = AllocSetContextCreate(batchcxt, "rail_stream batch message",
								   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(batchcxt);
	state.sink = rs_sink_create();
	errcallback.callback = ingest_error_context;
	errcallback.arg = &state;
	errcallback.previous = error_context_stack;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(msgcxt);
	PG_TRY();
	{
		error_context_stack = &errcallback;
		for (int i = 0; i < n; i++)
		{
			*rows += add_message(&state, &msgs[i]);
			MemoryContextReset(msgcxt);
		}
		state.msg = NULL;
		*rows += rs_sink_flush(state.sink);
		error_context_stack = errcallback.previous;
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		error_context_stack = errcallback.previous;
		rs_sink_discard(state.sink);
		ok = catch_message_error(state.msg ? state.msg : &msgs[0], batchcxt,
								 owner, NULL);
	}
	PG_END_TRY();

	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
	MemoryContextDelete(batchcxt);
	return ok;
}

/*
 * add_message
 *		Give a message's rows to the batch's sink, flushing it first if it
 *		is full; returns the rows that flush wrote.
 */
static uint64
add_message(IngestState *state, RsMessage *msg)
{
	uint64		rows = 0;

	if (rs_sink_is_full(state->sink))
	{
		state->msg = NULL;
		rows = rs_sink_flush(state->sink);
	}
	state->msg = msg;
	state->unit = NULL;
	write_units(state, rs_split_message(&msg->feed, msg->data, msg->len,
										msg->isnull));
	state->unit = NULL;			/* freed with the message */
	return rows;
}

/*
 * write_units
 *		Give the rows of units to the sink, which the caller flushes.
 */
static void
write_units(IngestState *state, List *units)
{
	ListCell   *lc;

	foreach(lc, units)
	{
		ListCell   *rc;

		state->unit = lfirst(lc);
		foreach(rc, rs_transform_message_unit(state->msg, state->unit))
		{
			rs_sink_add(state->sink, lfirst(rc));
			note_event_time(state->msg, lfirst(rc));
		}
	}
}

/* Keep the feed's own latest time (msg_queue_timestamp) for the status view. */
static void
note_event_time(RsMessage *msg, const RsRow *row)
{
	for (int i = 0; i < row->ncols; i++)
	{
		if (row->types[i] == TIMESTAMPTZOID && !row->nulls[i] &&
			strcmp(row->names[i], "msg_queue_timestamp") == 0)
		{
			TimestampTz t = DatumGetTimestampTz(row->values[i]);

			if (t > msg->event_time)
				msg->event_time = t;
			return;
		}
	}
}

/*
 * rs_check_sql_version
 *		Raise an ERROR unless the extension's SQL objects are the version
 *		this library was built for: between installing a new library and
 *		ALTER EXTENSION rail_stream UPDATE, its tables may lack columns
 *		that it writes.  The caller must be connected to SPI.  Asked once
 *		per transaction: ingest_message() calls it for every message.
 */
void
rs_check_sql_version(void)
{
	static LocalTransactionId checked = InvalidLocalTransactionId;
	char	   *installed;

	if (RS_MY_LXID == checked)
		return;

	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension"
					" WHERE extname OPERATOR(pg_catalog.=) 'rail_stream'",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "extension \"rail_stream\" is not installed");
	installed = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(installed, RS_EXTVERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"rail_stream\" is version %s, but its library is version %s",
						installed, RS_EXTVERSION),
				 errhint("Update it with ALTER EXTENSION rail_stream UPDATE.")));
	checked = RS_MY_LXID;
}

/*
 * is_oversize
 *		Whether msg is only a prefix of a value too large to transform; then
 *		*edata says so.
 */
static bool
is_oversize(const RsMessage *msg, ErrorData *edata)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (msg->total_len == 0)
		return false;

	/* the error that rs_split_message would raise, without a subtransaction */
	PG_TRY();
	{
		rs_check_message_size(msg->total_len);
		elog(ERROR, "a prefix of %zu bytes was given for a message of %zu bytes",
			 msg->len, msg->total_len);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		*edata = *CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	return true;
}

/*
 * Does an error belong to the message, so that storing the message as a
 * dead letter is the right answer?  Not if a retry could succeed or if the
 * whole session is in trouble.
 */
static bool
is_message_error(const RsMessage *msg, const ErrorData *edata)
{
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_CONNECTION_EXCEPTION:	/* a schema registry's */
		case ERRCODE_INVALID_TRANSACTION_STATE: /* read-only transaction */
		case ERRCODE_TRANSACTION_ROLLBACK:	/* deadlock, serialization */
		case ERRCODE_INSUFFICIENT_RESOURCES:	/* out of memory, disk full */
		case ERRCODE_OPERATOR_INTERVENTION: /* cancel, shutdown */
		case ERRCODE_SYSTEM_ERROR:	/* I/O */
		case ERRCODE_INTERNAL_ERROR:
			return false;
		default:
			break;
	}
	/*
	 * A permission error: a lost grant stops the caller; a row that a
	 * row-level security policy refuses is the message's own.
	 */
	if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
		return feed_still_writable(msg);
	/* a changed or dropped table, not a bad message: stop, do not drain */
	return edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE &&
		edata->sqlerrcode != ERRCODE_UNDEFINED_TABLE &&
		edata->sqlerrcode != ERRCODE_UNDEFINED_COLUMN &&
		edata->sqlerrcode != ERRCODE_UNDEFINED_FUNCTION;
}

/*
 * feed_still_writable
 *		Whether the current user still holds the table privileges that the
 *		message's feed needs (rail_stream._check_feed), in a subtransaction.
 */
static bool
feed_still_writable(const RsMessage *msg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(msg->feed.name)};
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT rail_stream._check_feed($1)",
								  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not check the privileges of feed \"%s\"",
				 msg->feed.name);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * dead_letter
 *		Store a message, or one train message of a frame, with its error.
 *
 * The stored value is the message's raw bytes, unless unit is one of several
 * train messages of a frame: then it is that train message alone.  Of a
 * message over rail_stream.max_message_size only the first
 * rail_stream.dead_letter_max_size bytes are stored; value_length and
 * value_sha256 always describe the whole value.
 */
static void
dead_letter(const RsMessage *msg, const RsUnit *unit, const ErrorData *edata)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[19] = {TEXTOID, TEXTOID, INT4OID, INT8OID, TIMESTAMPTZOID,
		TEXTOID, JSONBOID, BYTEAOID, INT4OID, INT4OID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	REGROLEOID, INT8OID, BYTEAOID};
	Datum		values[19];
	char		nulls[20] = "                   ";
	RsSavedUser saved;
	const char *data = msg->data;
	size_t		len = msg->len;
	size_t		total_len;
	size_t		kept;
	uint8		sha256[PG_SHA256_DIGEST_LENGTH];
	bool		part = (unit != NULL && unit->count > 1 && unit->json != NULL);
	int			ret;

	/* a caller who could not read the dead letter gets the error instead */
	if (msg->raise_errors)
		ReThrowError(unconstify(ErrorData *, edata));

	if (plan == NULL)
	{
		plan = rs_keep_plan("INSERT INTO rail_stream.dead_letters"
							" (feed, topic, partition, \"offset\", kafka_timestamp,"
							" key, headers, value, message_index, message_count,"
							" error_message, error_detail, error_hint, error_context, sqlstate,"
							" subscription, written_as, value_length, value_sha256)"
							" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
							" $11, $12, $13, $14, $15, $16, $17, $18, $19)", 19, types);
	}

	if (part)
		data = rs_json_dump(unit->json, &len);
	total_len = (msg->total_len > 0 && !part) ? msg->total_len : len;
	if (msg->sha256 != NULL && !part)
		memcpy(sha256, msg->sha256, sizeof(sha256));
	else
		rs_sha256(data, len, sha256);
	kept = len;
	if (total_len > (size_t) rs_max_message_size * 1024)
		kept = Min(len, (size_t) rs_dead_letter_max_size * 1024);

#define SET(i, isnull, datum) \
	do { values[i] = (isnull) ? (Datum) 0 : (datum); nulls[i] = (isnull) ? 'n' : ' '; } while (0)
	SET(0, false, CStringGetTextDatum(msg->feed.name));
	SET(1, msg->topic == NULL, CStringGetTextDatum(msg->topic ? msg->topic : ""));
	SET(2, msg->topic == NULL, Int32GetDatum(msg->partition));
	SET(3, msg->topic == NULL, Int64GetDatum(msg->offset));
	SET(4, msg->topic == NULL, TimestampTzGetDatum(msg->timestamp));
	SET(5, msg->key == NULL, CStringGetTextDatum(msg->key ? msg->key : ""));
	SET(6, msg->headers == NULL, PointerGetDatum(msg->headers));
	SET(7, msg->isnull, PointerGetDatum(make_bytea(data, kept)));
	SET(8, unit == NULL || unit->index == 0, Int32GetDatum(unit ? unit->index : 0));
	SET(9, unit == NULL || unit->index == 0, Int32GetDatum(unit ? unit->count : 0));
	SET(10, false, CStringGetTextDatum(edata->message ? edata->message : "unknown error"));
	SET(11, edata->detail == NULL, CStringGetTextDatum(edata->detail ? edata->detail : ""));
	SET(12, edata->hint == NULL, CStringGetTextDatum(edata->hint ? edata->hint : ""));
	SET(13, edata->context == NULL, CStringGetTextDatum(edata->context ? edata->context : ""));
	SET(14, false, CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode)));
	SET(15, msg->subscription == NULL,
		CStringGetTextDatum(msg->subscription ? msg->subscription : ""));
	SET(16, false, ObjectIdGetDatum(GetUserId()));
	SET(17, msg->isnull, Int64GetDatum((int64) total_len));
	SET(18, msg->isnull,
		PointerGetDatum(make_bytea((const char *) sha256, sizeof(sha256))));
#undef SET

	rs_become_owner(&saved);
	ret = SPI_execute_plan(plan, values, nulls, false, 0);
	rs_restore_user(&saved);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "unexpected SPI result %d storing a dead letter", ret);
}

static void
ingest_error_context(void *arg)
{
	IngestState *state = arg;
	const RsMessage *msg = state->msg;
	const RsUnit *unit = state->unit;

	if (msg == NULL)
		return;					/* writing a batch's rows */
	if (unit != NULL && unit->count > 1)
		errcontext("train message %d of %d", unit->index, unit->count);
	if (msg->topic != NULL)
		errcontext("message at offset %lld in partition %d of topic \"%s\"",
				   (long long) msg->offset, msg->partition, msg->topic);
}

/*
 * rs_sha256_begin, rs_sha256_add, rs_sha256_end
 *		A SHA-256 digest of bytes given in parts; rs_sha256 of one part.
 */
pg_cryptohash_ctx *
rs_sha256_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute a SHA-256 digest");
	return ctx;
}

void
rs_sha256_add(pg_cryptohash_ctx *ctx, const char *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not compute a SHA-256 digest");
}

void
rs_sha256_end(pg_cryptohash_ctx *ctx, uint8 *digest)
{
	if (pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute a SHA-256 digest");
	pg_cryptohash_free(ctx);
}

void
rs_sha256(const char *data, size_t len, uint8 *digest)
{
	pg_cryptohash_ctx *ctx = rs_sha256_begin();

	rs_sha256_add(ctx, data, len);
	rs_sha256_end(ctx, digest);
}

/* len bytes as a bytea */
static bytea *
make_bytea(const char *data, size_t len)
{
	bytea	   *result = (bytea *) palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	if (len > 0)
		memcpy(VARDATA(result), data, len);
	return result;
}
