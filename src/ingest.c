/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  Run one message through transform and sink; keep what fails.
 *
 * This is the path of every message, from ingest_message() and from the
 * Kafka workers alike.  A bad message must neither be lost nor take its
 * neighbours down, and the good path must stay fast, so:
 *
 *	1. The whole message (for TRUST, every train message of the frame) is
 *	   transformed and written in one subtransaction.
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
 * The caller must be connected to SPI.  Everything a message allocates,
 * including jansson's documents, lives in a context deleted at the end.
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
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "ingest.h"
#include "sink.h"

/* What ingest is working on, for error context */
typedef struct IngestState
{
	const RsMessage *msg;
	const RsUnit *unit;			/* NULL while splitting the message */
} IngestState;

static bool try_write(IngestState *state, List **units, uint64 *rows,
					  ErrorData **error);
static uint64 write_units(IngestState *state, List *units);
static bool is_message_error(const ErrorData *edata);
static void dead_letter(const RsMessage *msg, const RsUnit *unit,
						const ErrorData *edata);
static void ingest_error_context(void *arg);

/*
 * rs_ingest
 *		Transform and write one message; returns the number of rows written
 *		and adds the number of dead letters it stored to *dead_letters.
 */
uint64
rs_ingest(const RsMessage *msg, int *dead_letters)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext msgcxt;
	IngestState state = {msg, NULL};
	ErrorData  *error;
	List	   *units = NIL;
	uint64		rows = 0;

	msgcxt = AllocSetContextCreate(caller, "rail_stream message",
								   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(msgcxt);

	if (!try_write(&state, &units, &rows, &error))
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
		*rows = write_units(state, *units);
		error_context_stack = errcallback.previous;
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		error_context_stack = errcallback.previous;
		MemoryContextSwitchTo(msgcxt);
		*error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(msgcxt);
		CurrentResourceOwner = owner;
		if (!is_message_error(*error))
			ReThrowError(*error);
		ok = false;
	}
	PG_END_TRY();

	MemoryContextSwitchTo(msgcxt);
	CurrentResourceOwner = owner;
	state->unit = NULL;
	return ok;
}

static uint64
write_units(IngestState *state, List *units)
{
	uint64		rows = 0;
	ListCell   *lc;

	foreach(lc, units)
	{
		ListCell   *rc;

		state->unit = lfirst(lc);
		foreach(rc, rs_transform_unit(&state->msg->feed, state->unit,
									  state->msg->key))
			rows += rs_sink_write(lfirst(rc));
	}
	return rows;
}

/*
 * Does an error belong to the message, so that storing the message as a
 * dead letter is the right answer?  Not if a retry could succeed or if the
 * whole session is in trouble.
 */
static bool
is_message_error(const ErrorData *edata)
{
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
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
	return edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE &&
		edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE &&
		edata->sqlerrcode != ERRCODE_UNDEFINED_TABLE;
}

/*
 * dead_letter
 *		Store a message, or one train message of a frame, with its error.
 *
 * The stored value is the message's raw bytes, unless unit is one of several
 * train messages of a frame: then it is that train message alone.
 */
static void
dead_letter(const RsMessage *msg, const RsUnit *unit, const ErrorData *edata)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[15] = {TEXTOID, TEXTOID, INT4OID, INT8OID, TIMESTAMPTZOID,
		TEXTOID, JSONBOID, BYTEAOID, INT4OID, INT4OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[15];
	char		nulls[16] = "               ";
	bytea	   *raw;
	const char *data = msg->data;
	size_t		len = msg->len;
	bool		part = (unit != NULL && unit->count > 1 && unit->json != NULL);
	int			ret;

	if (plan == NULL)
	{
		plan = SPI_prepare("INSERT INTO rail_stream.dead_letters"
						   " (feed, topic, partition, \"offset\", kafka_timestamp,"
						   " key, headers, value, message_index, message_count,"
						   " error_message, error_detail, error_hint, error_context, sqlstate)"
						   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
						   " $11, $12, $13, $14, $15)", 15, types);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for dead letters: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
	}

	if (part)
		data = rs_json_dump(unit->json, &len);
	raw = (bytea *) palloc(VARHDRSZ + len);
	SET_VARSIZE(raw, VARHDRSZ + len);
	if (len > 0)
		memcpy(VARDATA(raw), data, len);

#define SET(i, isnull, datum) \
	do { values[i] = (isnull) ? (Datum) 0 : (datum); nulls[i] = (isnull) ? 'n' : ' '; } while (0)
	SET(0, false, CStringGetTextDatum(msg->feed_name));
	SET(1, msg->topic == NULL, CStringGetTextDatum(msg->topic ? msg->topic : ""));
	SET(2, msg->topic == NULL, Int32GetDatum(msg->partition));
	SET(3, msg->topic == NULL, Int64GetDatum(msg->offset));
	SET(4, msg->topic == NULL, TimestampTzGetDatum(msg->timestamp));
	SET(5, msg->key == NULL, CStringGetTextDatum(msg->key ? msg->key : ""));
	SET(6, msg->headers == NULL, PointerGetDatum(msg->headers));
	SET(7, msg->isnull, PointerGetDatum(raw));
	SET(8, unit == NULL || unit->index == 0, Int32GetDatum(unit ? unit->index : 0));
	SET(9, unit == NULL || unit->index == 0, Int32GetDatum(unit ? unit->count : 0));
	SET(10, false, CStringGetTextDatum(edata->message ? edata->message : "unknown error"));
	SET(11, edata->detail == NULL, CStringGetTextDatum(edata->detail ? edata->detail : ""));
	SET(12, edata->hint == NULL, CStringGetTextDatum(edata->hint ? edata->hint : ""));
	SET(13, edata->context == NULL, CStringGetTextDatum(edata->context ? edata->context : ""));
	SET(14, false, CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode)));
#undef SET

	ret = SPI_execute_plan(plan, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "unexpected SPI result %d storing a dead letter", ret);
}

static void
ingest_error_context(void *arg)
{
	IngestState *state = arg;
	const RsMessage *msg = state->msg;
	const RsUnit *unit = state->unit;

	if (unit != NULL && unit->count > 1)
		errcontext("train message %d of %d", unit->index, unit->count);
	if (msg->topic != NULL)
		errcontext("message at offset %lld in partition %d of topic \"%s\"",
				   (long long) msg->offset, msg->partition, msg->topic);
}
