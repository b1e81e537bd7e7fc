/*-------------------------------------------------------------------------
 *
 * sql_api.c
 *	  The SQL-callable functions of schema rail_stream.
 *
 * Thin wrappers: argument checks and conversions here, the work in
 * ingest.c, trust.c and decode.c.  tumbling_window_counts lives in
 * window.c.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/sql_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "commands/trigger.h"
#include "decode.h"
#include "feed_time.h"
#include "ingest.h"
#include "json.h"
#include "kafka_consumer.h"
#include "shmem.h"
#include "transform.h"

PG_FUNCTION_INFO_V1(rs_ingest_message_text);
PG_FUNCTION_INFO_V1(rs_ingest_message_bytea);
PG_FUNCTION_INFO_V1(rs_explode_movements_text);
PG_FUNCTION_INFO_V1(rs_explode_movements_jsonb);
PG_FUNCTION_INFO_V1(rs_decode_power_type);
PG_FUNCTION_INFO_V1(rs_decode_train_status);
PG_FUNCTION_INFO_V1(rs_decode_train_category);
PG_FUNCTION_INFO_V1(rs_decode_seating_class);
PG_FUNCTION_INFO_V1(rs_decode_sleepers);
PG_FUNCTION_INFO_V1(rs_decode_reservations);
PG_FUNCTION_INFO_V1(rs_variation_text_sql);
PG_FUNCTION_INFO_V1(rs_platform_text_sql);
PG_FUNCTION_INFO_V1(rs_correct_schedule_type_sql);
PG_FUNCTION_INFO_V1(rs_schedule_key_sql);
PG_FUNCTION_INFO_V1(rs_trust_event_time);
PG_FUNCTION_INFO_V1(rs_check_feed);
PG_FUNCTION_INFO_V1(rs_feed_name);
PG_FUNCTION_INFO_V1(rs_check_kafka_property);
PG_FUNCTION_INFO_V1(rs_wake_launcher);
PG_FUNCTION_INFO_V1(rs_wake_sender);
PG_FUNCTION_INFO_V1(rs_worker_status);
PG_FUNCTION_INFO_V1(rs_replay_message);

static Datum ingest(FunctionCallInfo fcinfo, const char *data, size_t len);
static void explode_frame(ReturnSetInfo *rsinfo, const char *data, size_t len);
static void put_message(ReturnSetInfo *rsinfo, const RsJson *message);
static Datum decode(FunctionCallInfo fcinfo, RsCodeList list);

/*
 * ingest_message(feed text, value text|bytea, key text) RETURNS bigint
 *
 * Runs one message through the worker's transform and upsert path and
 * returns the number of rows written.  A bad message is stored in
 * rail_stream.dead_letters instead of raising.  A NULL value is a tombstone.
 */
Datum
rs_ingest_message_text(PG_FUNCTION_ARGS)
{
	text	   *value = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);

	return ingest(fcinfo, value ? VARDATA_ANY(value) : NULL,
				  value ? VARSIZE_ANY_EXHDR(value) : 0);
}

Datum
rs_ingest_message_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_ARGISNULL(1) ? NULL : PG_GETARG_BYTEA_PP(1);

	return ingest(fcinfo, value ? VARDATA_ANY(value) : NULL,
				  value ? VARSIZE_ANY_EXHDR(value) : 0);
}

static Datum
ingest(FunctionCallInfo fcinfo, const char *data, size_t len)
{
	RsMessage	msg;
	int			dead = 0;
	uint64		rows;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feed must not be null")));
	memset(&msg, 0, sizeof(msg));
	rs_feed_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &msg.feed);
	msg.data = data;
	msg.len = len;
	msg.isnull = PG_ARGISNULL(1);
	msg.key = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));

	SPI_connect();
	rows = rs_ingest(&msg, &dead);
	SPI_finish();
	PG_RETURN_INT64((int64) rows);
}

/*
 * explode_movements(envelope text|jsonb)
 *	 RETURNS TABLE (msg_type text, header jsonb, body jsonb)
 *
 * One row per train message of a TRUST frame, given bare or in a connector
 * envelope.  Elements that are not {header, body} objects give NULLs.
 */
Datum
rs_explode_movements_text(PG_FUNCTION_ARGS)
{
	text	   *frame = PG_GETARG_TEXT_PP(0);

	InitMaterializedSRF(fcinfo, 0);
	explode_frame((ReturnSetInfo *) fcinfo->resultinfo, VARDATA_ANY(frame),
				  VARSIZE_ANY_EXHDR(frame));
	return (Datum) 0;
}

Datum
rs_explode_movements_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *frame = PG_GETARG_JSONB_P(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *text;

	InitMaterializedSRF(fcinfo, 0);
	if (JB_ROOT_IS_OBJECT(frame))
	{
		JsonbValue *v = getKeyJsonValueFromContainer(&frame->root, "text", 4, NULL);

		/* the envelope's text is the frame as a string: parse it once */
		if (v != NULL && v->type == jbvString)
		{
			explode_frame(rsinfo, v->val.string.val, v->val.string.len);
			return (Datum) 0;
		}
	}
	text = JsonbToCString(NULL, &frame->root, VARSIZE(frame));
	explode_frame(rsinfo, text, strlen(text));
	return (Datum) 0;
}

static void
explode_frame(ReturnSetInfo *rsinfo, const char *data, size_t len)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "rail_stream explode",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ListCell   *lc;

	foreach(lc, rs_trust_split(rs_json_parse(data, len, "TRUST frame")))
		put_message(rsinfo, ((RsUnit *) lfirst(lc))->json);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

static void
put_message(ReturnSetInfo *rsinfo, const RsJson *message)
{
	const RsJson *header = rs_json_get(message, "header");
	const RsJson *body = rs_json_get(message, "body");
	const RsJson *msg_type = header ? rs_json_get(header, "msg_type") : NULL;
	Datum		values[3];
	bool		nulls[3];

	nulls[0] = (msg_type == NULL || rs_json_type(msg_type) != RS_JSON_STRING);
	values[0] = nulls[0] ? (Datum) 0 : CStringGetTextDatum(rs_json_scalar_text(msg_type));
	nulls[1] = (header == NULL);
	values[1] = header ? JsonbPGetDatum(rs_json_to_jsonb(header)) : (Datum) 0;
	nulls[2] = (body == NULL);
	values[2] = body ? JsonbPGetDatum(rs_json_to_jsonb(body)) : (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* decode_<list>(code text) RETURNS text: NULL for an unlisted code */
static Datum
decode(FunctionCallInfo fcinfo, RsCodeList list)
{
	const char *result = rs_decode(list, text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

Datum
rs_decode_power_type(PG_FUNCTION_ARGS)
{
	return decode(fcinfo, RS_CODES_POWER_TYPE);
}

Datum
rs_decode_train_status(PG_FUNCTION_ARGS)
{
	return decode(fcinfo, RS_CODES_TRAIN_STATUS);
}

Datum
rs_decode_train_category(PG_FUNCTION_ARGS)
{
	return decode(fcinfo, RS_CODES_TRAIN_CATEGORY);
}

Datum
rs_decode_seating_class(PG_FUNCTION_ARGS)
{
	return decode(fcinfo, RS_CODES_SEATING_CLASS);
}

Datum
rs_decode_sleepers(PG_FUNCTION_ARGS)
{
	return decode(fcinfo, RS_CODES_SLEEPERS);
}

Datum
rs_decode_reservations(PG_FUNCTION_ARGS)
{
	return decode(fcinfo, RS_CODES_RESERVATIONS);
}

/* variation_text(status text, minutes int): "5 MINS LATE" */
Datum
rs_variation_text_sql(PG_FUNCTION_ARGS)
{
	char	   *result;

	result = rs_variation_text(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							   PG_GETARG_INT32(1));
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/* platform_text(platform text): " 1" -> "Platform 1" */
Datum
rs_platform_text_sql(PG_FUNCTION_ARGS)
{
	char	   *result = rs_platform_text(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/* correct_schedule_type(schedule_type text): the activation O/P swap undone */
Datum
rs_correct_schedule_type_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(rs_correct_schedule_type(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/* schedule_key(train_uid text, start_date date, stp_indicator text) */
Datum
rs_schedule_key_sql(PG_FUNCTION_ARGS)
{
	DateADT		start = PG_GETARG_DATEADT(1);
	int			year,
				month,
				day;
	char	   *date;

	/* always YYYY-MM-DD, as the feeds write it, whatever the DateStyle */
	if (DATE_NOT_FINITE(start))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("schedule start date must be finite")));
	j2date(start + POSTGRES_EPOCH_JDATE, &year, &month, &day);
	date = psprintf("%04d-%02d-%02d", year, month, day);

	PG_RETURN_TEXT_P(cstring_to_text(rs_schedule_key(text_to_cstring(PG_GETARG_TEXT_PP(0)),
													 date,
													 text_to_cstring(PG_GETARG_TEXT_PP(2)))));
}

/* trust_event_time(ms bigint): a TRUST event time as the instant it names */
Datum
rs_trust_event_time(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(rs_local_ms_to_timestamptz(PG_GETARG_INT64(0)));
}

/*
 * _feed_target(feed text) RETURNS regclass: the target table of a
 * reference: or json: feed, NULL for trust and cif; an ERROR if the feed is
 * invalid.
 */
Datum
rs_check_feed(PG_FUNCTION_ARGS)
{
	RsFeed		feed;

	rs_feed_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &feed);
	if (!OidIsValid(feed.relid))
		PG_RETURN_NULL();
	PG_RETURN_OID(feed.relid);
}

/* _feed_name(feed text) RETURNS text: the feed with its table qualified */
Datum
rs_feed_name(PG_FUNCTION_ARGS)
{
	RsFeed		feed;

	rs_feed_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &feed);
	PG_RETURN_TEXT_P(cstring_to_text(feed.name));
}

/* _check_kafka_property(name text, value text): librdkafka must accept it */
Datum
rs_check_kafka_property(PG_FUNCTION_ARGS)
{
	rs_kafka_check_property(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

/*
 * _wake_launcher() trigger: a change to the subscriptions reaches the
 * launcher when its transaction commits.
 */
Datum
rs_wake_launcher(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"_wake_launcher\" must be called as a trigger")));
	rs_wake_launcher_at_commit();
	return PointerGetDatum(NULL);
}

/*
 * _wake_sender() trigger: alerts queued by a transaction reach the alert
 * sender when it commits.
 */
Datum
rs_wake_sender(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"_wake_sender\" must be called as a trigger")));
	rs_wake_sender_at_commit();
	return PointerGetDatum(NULL);
}

static const char *
state_name(RsWorkerState state)
{
	switch (state)
	{
		case RS_STATE_STARTING:
			return "starting";
		case RS_STATE_RUNNING:
			return "running";
		case RS_STATE_BACKING_OFF:
			return "backing off";
		case RS_STATE_FAILED:
			return "failed";
		case RS_STATE_FREE:
			break;
	}
	return "stopped";
}

/*
 * _worker_status() RETURNS SETOF record: what the ingest workers publish in
 * shared memory, one row per worker and partition (partition NULL for a
 * worker that has none yet).  Empty when the library is not preloaded.
 */
Datum
rs_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	RsWorkerSlot *slots;

	InitMaterializedSRF(fcinfo, 0);
	if (rs_shared == NULL)
		return (Datum) 0;

	/* copy the slots, so that the lock is not held while rows are built */
	slots = palloc(rs_shared->nslots * sizeof(RsWorkerSlot));
	LWLockAcquire(rs_shared->lock, LW_SHARED);
	memcpy(slots, rs_shared->slots, rs_shared->nslots * sizeof(RsWorkerSlot));
	LWLockRelease(rs_shared->lock);

	for (int i = 0; i < rs_shared->nslots; i++)
	{
		RsWorkerSlot *slot = &slots[i];

		if (slot->state == RS_STATE_FREE)
			continue;
		for (int p = 0; p < Max(slot->npartitions, 1); p++)
		{
			RsPartitionStatus *ps = slot->npartitions ? &slot->partitions[p] : NULL;
			Datum		values[14];
			bool		nulls[14];

			memset(nulls, 0, sizeof(nulls));
			values[0] = Int64GetDatum(slot->subscription_id);
			values[1] = Int32GetDatum(slot->worker_index);
			values[2] = Int32GetDatum(slot->pid);
			nulls[2] = (slot->pid == 0);
			values[3] = CStringGetTextDatum(state_name(slot->state));
			nulls[4] = nulls[5] = nulls[6] = nulls[7] = nulls[8] = nulls[9] = (ps == NULL);
			if (ps)
			{
				values[4] = Int32GetDatum(ps->partition);
				values[5] = Int64GetDatum(ps->committed_offset);
				nulls[5] = (ps->committed_offset < 0);
				values[6] = Int64GetDatum(ps->high_watermark);
				nulls[6] = (ps->high_watermark < 0);
				values[7] = TimestampTzGetDatum(ps->last_message_at);
				nulls[7] = (ps->last_message_at == 0);
				values[8] = TimestampTzGetDatum(ps->last_event_at);
				nulls[8] = (ps->last_event_at == 0);
				values[9] = Float8GetDatum(rs_slot_rate(ps, now));
			}
			values[10] = Int64GetDatum(slot->batches);
			values[11] = Int64GetDatum(slot->dead_letters);
			values[12] = CStringGetTextDatum(slot->last_error);
			nulls[12] = (slot->last_error[0] == '\0');
			values[13] = TimestampTzGetDatum(slot->last_error_at);
			nulls[13] = (slot->last_error_at == 0);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	pfree(slots);
	return (Datum) 0;
}

/*
 * _replay_message(feed, value bytea, key, subscription, topic, partition,
 *		offset, kafka_timestamp, headers) RETURNS bigint
 *
 * ingest_message() with a Kafka origin, for replaying dead letters: a
 * message that fails again is stored again with where it came from.
 */
Datum
rs_replay_message(PG_FUNCTION_ARGS)
{
	RsMessage	msg;
	bytea	   *value = PG_ARGISNULL(1) ? NULL : PG_GETARG_BYTEA_PP(1);
	int			dead = 0;
	uint64		rows;

	memset(&msg, 0, sizeof(msg));
	rs_feed_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &msg.feed);
	msg.data = value ? VARDATA_ANY(value) : NULL;
	msg.len = value ? VARSIZE_ANY_EXHDR(value) : 0;
	msg.isnull = (value == NULL);
	msg.key = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	msg.subscription = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(4))
	{
		msg.topic = text_to_cstring(PG_GETARG_TEXT_PP(4));
		msg.partition = PG_ARGISNULL(5) ? -1 : PG_GETARG_INT32(5);
		msg.offset = PG_ARGISNULL(6) ? -1 : PG_GETARG_INT64(6);
		msg.timestamp = PG_ARGISNULL(7) ? 0 : PG_GETARG_TIMESTAMPTZ(7);
	}
	msg.headers = PG_ARGISNULL(8) ? NULL : PG_GETARG_JSONB_P(8);

	SPI_connect();
	rows = rs_ingest(&msg, &dead);
	SPI_finish();
	PG_RETURN_INT64((int64) rows);
}
