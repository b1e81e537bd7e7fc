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

#include "access/detoast.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "commands/trigger.h"
#include "avro_decode.h"
#include "decode.h"
#include "guc.h"
#include "feed_time.h"
#include "ingest.h"
#include "run_as.h"
#include "json.h"
#include "kafka.h"
#include "shmem.h"
#include "transform.h"

PG_FUNCTION_INFO_V1(rs_ingest_message_text);
PG_FUNCTION_INFO_V1(rs_ingest_message_bytea);
PG_FUNCTION_INFO_V1(rs_ingest_messages);
PG_FUNCTION_INFO_V1(rs_explode_movements_text);
PG_FUNCTION_INFO_V1(rs_explode_movements_jsonb);
PG_FUNCTION_INFO_V1(rs_decode_avro);
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
PG_FUNCTION_INFO_V1(rs_list_feed_tables);
PG_FUNCTION_INFO_V1(rs_check_kafka_property);
PG_FUNCTION_INFO_V1(rs_option_limits);
PG_FUNCTION_INFO_V1(rs_wake_launcher);
PG_FUNCTION_INFO_V1(rs_wake_sender);
PG_FUNCTION_INFO_V1(rs_worker_status);
PG_FUNCTION_INFO_V1(rs_replay_dead_letter);

/* What ingest_message() found for the query that calls it (check_feed) */
typedef struct FeedCheck
{
	Oid			userid;
	bool		is_admin;
	char		feed[FLEXIBLE_ARRAY_MEMBER];
} FeedCheck;

static Datum ingest(FunctionCallInfo fcinfo);
static bool check_feed(FunctionCallInfo fcinfo, const char *feed);
static void explode_frame(ReturnSetInfo *rsinfo, const char *data, size_t len);
static void put_message(ReturnSetInfo *rsinfo, const RsJson *message);
static Datum decode(FunctionCallInfo fcinfo, RsCodeList list);
static int	array_argument(ArrayType *array, const char *name, Datum **values,
						   bool **nulls);
static void message_value(struct varlena *raw, RsMessage *msg);
static bool is_compressed(struct varlena *raw);
static uint8 *sha256_by_slices(struct varlena *raw, Size len);
static void check_replay(int64 id);
static bool sees_every_subscription(void);
static Oid	message_of_dead_letter(HeapTuple tuple, TupleDesc desc,
								   RsMessage *msg);

/*
 * ingest_message(feed text, value text|bytea, key text) RETURNS bigint
 *
 * Runs one message through the worker's transform and upsert path and
 * returns the number of rows written.  A bad message is stored in
 * rail_stream.dead_letters instead of raising.  A NULL value is a tombstone.
 * The caller must hold the privileges that a subscription's owner needs
 * for the feed: nobody leaves dead letters for tables they cannot write.
 * Only administrators, who may read dead letters, leave them: for anyone
 * else the message's error is raised, so that nobody fills a table they
 * can neither read nor empty.
 */
Datum
rs_ingest_message_text(PG_FUNCTION_ARGS)
{
	return ingest(fcinfo);
}

Datum
rs_ingest_message_bytea(PG_FUNCTION_ARGS)
{
	return ingest(fcinfo);
}

static Datum
ingest(FunctionCallInfo fcinfo)
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
	msg.key = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));

	SPI_connect();
	rs_check_sql_version();
	/* only those who may read dead letters leave them; others get the error */
	msg.raise_errors = !check_feed(fcinfo, msg.feed.name);
	msg.isnull = PG_ARGISNULL(1);
	if (!msg.isnull)
		message_value((struct varlena *) PG_GETARG_POINTER(1), &msg);
	rows = rs_ingest(&msg, &dead);
	SPI_finish();
	PG_RETURN_INT64((int64) rows);
}

/*
 * ingest_messages(feed text, messages text[]|bytea[], keys text[])
 *	 RETURNS bigint
 *
 * ingest_message() for many messages, written as a worker writes a batch
 * (rs_ingest_batch): in array order, rail_stream.batch_size messages (or
 * RS_BATCH_MAX_BYTES of values) at a time, with one statement per table
 * each time, so that statement triggers such as the daily counts run once
 * per batch and not once per message.  A bad message is still kept alone
 * in the dead letters, or raised, as by ingest_message().  keys, if not
 * NULL, has one key per message; NULL messages are tombstones.
 */
Datum
rs_ingest_messages(PG_FUNCTION_ARGS)
{
	RsFeed		feed;
	RsMessage  *msgs;
	Datum	   *values;
	bool	   *nulls;
	Datum	   *keys = NULL;
	bool	   *keynulls = NULL;
	int			n;
	bool		raise_errors;
	int			dead = 0;
	uint64		rows = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feed must not be null")));
	if (PG_ARGISNULL(1))
		PG_RETURN_INT64(0);
	rs_feed_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &feed);
	n = array_argument(PG_GETARG_ARRAYTYPE_P(1), "messages", &values, &nulls);
	if (!PG_ARGISNULL(2) &&
		array_argument(PG_GETARG_ARRAYTYPE_P(2), "keys", &keys, &keynulls) != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("keys must have one element per message")));

	SPI_connect();
	rs_check_sql_version();
	raise_errors = !check_feed(fcinfo, feed.name);
	msgs = palloc0_array(RsMessage, Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		msgs[i].feed = feed;
		msgs[i].raise_errors = raise_errors;
		msgs[i].isnull = nulls[i];
		if (!nulls[i])
			message_value((struct varlena *) DatumGetPointer(values[i]), &msgs[i]);
		if (keys != NULL && !keynulls[i])
			msgs[i].key = TextDatumGetCString(keys[i]);
	}
	for (int first = 0, next; first < n; first = next)
	{
		Size		bytes = 0;

		for (next = first; next < n && next - first < rs_batch_size &&
			 bytes < RS_BATCH_MAX_BYTES; next++)
			bytes += msgs[next].len;
		rows += rs_ingest_batch(msgs + first, next - first, &dead);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	PG_RETURN_INT64((int64) rows);
}

/* The elements of a one-dimensional text or bytea array; returns how many */
static int
array_argument(ArrayType *array, const char *name, Datum **values,
			   bool **nulls)
{
	int			n;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(array, ARR_ELEMTYPE(array), -1, false, TYPALIGN_INT,
					  values, nulls, &n);
	return n;
}

/*
 * check_feed
 *		Raise an ERROR unless the current user holds the privileges that the
 *		feed needs (rail_stream._check_feed); return whether the user may
 *		leave dead letters (rail_stream._is_admin).  The caller must be
 *		connected to SPI.
 *
 * Asked once per calling query, feed and role, as the executor checks a
 * query's privileges once, at its start: the answer is kept in fn_extra,
 * which lives as long as the query's executor state.  A query that ingests
 * a table of messages asks once, not once per message (that cost 0.2 ms a
 * message, a fifth of ingest_message's time with the triggers on).
 */
static bool
check_feed(FunctionCallInfo fcinfo, const char *feed)
{
	FeedCheck  *check = (FeedCheck *) fcinfo->flinfo->fn_extra;
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(feed)};
	bool		isnull;
	bool		is_admin;

	if (check != NULL && check->userid == GetUserId() &&
		strcmp(check->feed, feed) == 0)
		return check->is_admin;

	if (SPI_execute_with_args("SELECT rail_stream._check_feed($1), rail_stream._is_admin()",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not check the privileges of feed \"%s\"", feed);
	is_admin = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, &isnull));

	if (check != NULL)
		pfree(check);
	check = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
							   offsetof(FeedCheck, feed) + strlen(feed) + 1);
	check->userid = GetUserId();
	check->is_admin = is_admin;
	strcpy(check->feed, feed);
	fcinfo->flinfo->fn_extra = check;
	return is_admin;
}

/*
 * message_value
 *		Point msg at a value, without reading more of one over
 *		rail_stream.max_message_size than the dead letter keeps: then msg
 *		holds that prefix, the whole length and (unless the value is stored
 *		compressed, where reading it piecewise would not bound the work) its
 *		SHA-256.
 */
static void
message_value(struct varlena *raw, RsMessage *msg)
{
	Size		len;
	Size		keep;

	len = toast_raw_datum_size(PointerGetDatum(raw)) - VARHDRSZ;
	if (len <= (Size) rs_max_message_size * 1024)
	{
		raw = PG_DETOAST_DATUM_PACKED(PointerGetDatum(raw));
		msg->data = VARDATA_ANY(raw);
		msg->len = VARSIZE_ANY_EXHDR(raw);
		return;
	}

	keep = Min(len, (Size) rs_dead_letter_max_size * 1024);
	msg->total_len = len;
	if (!VARATT_IS_EXTENDED(raw))
	{
		uint8	   *digest = palloc(PG_SHA256_DIGEST_LENGTH);

		rs_sha256(VARDATA(raw), len, digest);
		msg->sha256 = digest;
		msg->data = VARDATA(raw);
		msg->len = keep;
		return;
	}
	if (!is_compressed(raw))
		msg->sha256 = sha256_by_slices(raw, len);
	raw = pg_detoast_datum_slice(raw, 0, (int32) keep);
	msg->data = VARDATA_ANY(raw);
	msg->len = VARSIZE_ANY_EXHDR(raw);
}

/* Whether a toasted value is stored compressed, inline or on disk */
static bool
is_compressed(struct varlena *raw)
{
	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		struct varatt_external ext;

		VARATT_EXTERNAL_GET_POINTER(ext, raw);
		return VARATT_EXTERNAL_GET_EXTSIZE(ext) < (uint32) (ext.va_rawsize - VARHDRSZ);
	}
	return VARATT_IS_COMPRESSED(raw);
}

/* The SHA-256 of a toasted value of len bytes, read a slice at a time */
static uint8 *
sha256_by_slices(struct varlena *raw, Size len)
{
	const Size	slice = 16 * 1024 * 1024;
	uint8	   *digest = palloc(PG_SHA256_DIGEST_LENGTH);
	pg_cryptohash_ctx *ctx = rs_sha256_begin();

	for (Size off = 0; off < len; off += slice)
	{
		struct varlena *part = pg_detoast_datum_slice(raw, (int32) off,
													  (int32) Min(slice, len - off));

		rs_sha256_add(ctx, VARDATA_ANY(part), VARSIZE_ANY_EXHDR(part));
		pfree(part);
		CHECK_FOR_INTERRUPTS();
	}
	rs_sha256_end(ctx, digest);
	return digest;
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

/*
 * decode_avro(value bytea, schema text) RETURNS jsonb
 *
 * An Avro binary value as the JSON that an Avro feed reads
 * (avro_decode.c), for looking into dead letters.  Bounded as a message:
 * by rail_stream.max_message_size.
 */
Datum
rs_decode_avro(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	text	   *schema_text = PG_GETARG_TEXT_PP(1);
	RsAvroSchema *volatile schema;
	StringInfoData json;

	rs_check_message_size(VARSIZE_ANY_EXHDR(value));
	schema = rs_avro_schema_parse(VARDATA_ANY(schema_text),
								  VARSIZE_ANY_EXHDR(schema_text));
	initStringInfo(&json);
	PG_TRY();
	{
		rs_avro_to_json(schema, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
						&json);
	}
	PG_FINALLY();
	{
		rs_avro_schema_free(schema);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
}

static void
explode_frame(ReturnSetInfo *rsinfo, const char *data, size_t len)
{
	MemoryContext cxt;
	MemoryContext old;
	ListCell   *lc;

	rs_check_message_size(len);	/* as for ingest: memory stays bounded */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "rail_stream explode",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	foreach(lc, rs_trust_feed.split(rs_json_parse(data, len, "TRUST frame")))
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

/*
 * _feed_tables(feed text, OUT tables regclass[], OUT privileges text[]):
 * the tables a feed writes, and the privileges a writer needs on each.
 */
Datum
rs_list_feed_tables(PG_FUNCTION_ARGS)
{
	RsFeed		feed;
	List	   *tables;
	TupleDesc	tupdesc;
	Datum	   *oids;
	Datum	   *privileges;
	int			n = 0;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	ListCell   *lc;

	rs_feed_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &feed);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	tables = rs_feed_tables(&feed);
	oids = palloc(list_length(tables) * sizeof(Datum));
	foreach(lc, tables)
		oids[foreach_current_index(lc)] = ObjectIdGetDatum(lfirst_oid(lc));
	for (const char *const *p = feed.type->privileges; *p != NULL; p++)
		n++;
	privileges = palloc(n * sizeof(Datum));
	for (int i = 0; i < n; i++)
		privileges[i] = CStringGetTextDatum(feed.type->privileges[i]);

	values[0] = PointerGetDatum(construct_array(oids, list_length(tables),
												REGCLASSOID, sizeof(Oid),
												true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(privileges, n, TEXTOID, -1,
												false, TYPALIGN_INT));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* _feed_name(feed text) RETURNS text: the feed with its table qualified */
Datum
rs_feed_name(PG_FUNCTION_ARGS)
{
	RsFeed		feed;

	rs_feed_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &feed);
	PG_RETURN_TEXT_P(cstring_to_text(feed.name));
}

/*
 * _check_kafka_property(name text, value text, producer boolean): a
 * subscription (or, if producer, an alert rule) may set it, and librdkafka
 * accepts its value
 */
Datum
rs_check_kafka_property(PG_FUNCTION_ARGS)
{
	rs_kafka_check_property(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							text_to_cstring(PG_GETARG_TEXT_PP(1)),
							PG_GETARG_BOOL(2) ? RS_KAFKA_PRODUCER : RS_KAFKA_CONSUMER);
	PG_RETURN_VOID();
}

/*
 * _option_limits() RETURNS jsonb
 *
 * The least and greatest values of the settings that a subscription may
 * also set, as {"batch_size": [1, 100000], ...}: guc.h's, for the checks of
 * rail_stream.subscriptions and _check_options().
 */
Datum
rs_option_limits(PG_FUNCTION_ARGS)
{
	char	   *limits = psprintf("{\"batch_size\": [1, %d], \"batch_ms\": [1, %d],"
								  " \"parallelism\": [1, %d]}",
								  RS_BATCH_SIZE_MAX, RS_BATCH_MS_MAX,
								  RS_MAX_WORKERS_MAX);

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(limits)));
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
 * Whether the current user sees every subscription's workers, as the status
 * view shows them: superusers, members of rail_stream_admin and pg_monitor.
 */
static bool
sees_every_subscription(void)
{
	Oid			admin = get_role_oid("rail_stream_admin", true);

	return superuser() ||
		has_privs_of_role(GetUserId(), ROLE_PG_MONITOR) ||
		(OidIsValid(admin) && is_member_of_role(GetUserId(), admin));
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
	bool		sees_all;

	InitMaterializedSRF(fcinfo, 0);
	if (rs_shared == NULL)
		return (Datum) 0;

	/* copy the slots, so that the lock is not held while rows are built */
	sees_all = sees_every_subscription();
	slots = palloc(rs_shared->nslots * sizeof(RsWorkerSlot));
	LWLockAcquire(rs_shared->lock, LW_SHARED);
	memcpy(slots, rs_shared->slots, rs_shared->nslots * sizeof(RsWorkerSlot));
	LWLockRelease(rs_shared->lock);

	for (int i = 0; i < rs_shared->nslots; i++)
	{
		RsWorkerSlot *slot = &slots[i];

		if (slot->state == RS_STATE_FREE)
			continue;
		/* errors name brokers and topics: as the status view shows them */
		if (!sees_all && !has_privs_of_role(GetUserId(), slot->owner))
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
 * _replay_dead_letter(id bigint) RETURNS bigint
 *
 * Runs a dead letter through its feed again, with the rights of the role it
 * was written as, and removes it; one that fails again is stored again, as
 * a new dead letter.  The caller must be allowed to manage that role's
 * subscriptions (rail_stream._may_manage), so that a replay never writes
 * with rights its caller does not hold, nor with a superuser's for anyone
 * but a superuser.
 */
Datum
rs_replay_dead_letter(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	Datum		args[1] = {Int64GetDatum(id)};
	Oid			types[1] = {INT8OID};
	RsMessage	msg;
	RsSavedUser saved;
	Oid			written_as;
	int			dead = 0;
	uint64		rows;

	SPI_connect();
	rs_check_sql_version();
	check_replay(id);

	rs_become_owner(&saved);
	if (SPI_execute_with_args("DELETE FROM rail_stream.dead_letters d"
							  " WHERE d.id OPERATOR(pg_catalog.=) $1"
							  " RETURNING d.feed, d.value, d.key, d.subscription, d.topic,"
							  " d.partition, d.\"offset\", d.kafka_timestamp, d.headers,"
							  " d.message_index, d.written_as",
							  1, types, args, NULL, false, 1) != SPI_OK_DELETE_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not take dead letter %lld", (long long) id);
	rs_restore_user(&saved);
	written_as = message_of_dead_letter(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, &msg);

	/* as that role, restricted, its settings undone after */
	rs_become_role(&saved, written_as);
	rows = rs_ingest(&msg, &dead);
	rs_restore_user(&saved);
	SPI_finish();
	PG_RETURN_INT64((int64) rows);
}

/* Raise an ERROR unless the caller may replay dead letter id. */
static void
check_replay(int64 id)
{
	Datum		args[1] = {Int64GetDatum(id)};
	Oid			types[1] = {INT8OID};
	bool		isnull;
	HeapTuple	tuple;
	TupleDesc	desc;

	/* as the caller: rows are visible to administrators only */
	if (SPI_execute_with_args("SELECT rail_stream._may_manage(d.written_as),"
							  " d.written_as IS NULL, d.written_as::text,"
							  " d.value_length IS DISTINCT FROM pg_catalog.octet_length(d.value)"
							  " FROM rail_stream.dead_letters d"
							  " WHERE d.id OPERATOR(pg_catalog.=) $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read dead letter %lld", (long long) id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dead letter %lld does not exist", (long long) id)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("dead letter %lld does not say whose rights it was written with", (long long) id),
				 errdetail("It was stored by rail_stream 1.0, which did not record it."),
				 errhint("As a superuser, set its written_as column to the role whose rights it should be written with.")));
	if (!DatumGetBool(SPI_getbinval(tuple, desc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to replay dead letter %lld", (long long) id),
				 errdetail("It is written with the rights of role %s: only superusers and administrators who are members of that role replay it, and only superusers a superuser's.",
						   SPI_getvalue(tuple, desc, 3))));
	if (DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dead letter %lld holds only the start of its message", (long long) id),
				 errdetail("The message was larger than \"rail_stream.max_message_size\"; value_length and value_sha256 describe it.")));
}

/*
 * The message of a dead letter's row (feed, value, key, subscription,
 * topic, partition, offset, kafka_timestamp, headers, message_index,
 * written_as); returns written_as.
 */
static Oid
message_of_dead_letter(HeapTuple tuple, TupleDesc desc, RsMessage *msg)
{
	bool		isnull;
	bool		part;
	Datum		d;

	memset(msg, 0, sizeof(RsMessage));
	rs_feed_parse(SPI_getvalue(tuple, desc, 1), &msg->feed);
	d = SPI_getbinval(tuple, desc, 2, &msg->isnull);
	(void) SPI_getbinval(tuple, desc, 10, &isnull);
	part = !isnull;
	if (!msg->isnull)
	{
		bytea	   *value = DatumGetByteaPP(d);
		StringInfoData buf;

		/* a train message of a frame was stored alone: make it a frame */
		initStringInfo(&buf);
		if (part)
			appendStringInfoChar(&buf, '[');
		appendBinaryStringInfo(&buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
		if (part)
			appendStringInfoChar(&buf, ']');
		msg->data = buf.data;
		msg->len = buf.len;
	}
	msg->key = SPI_getvalue(tuple, desc, 3);
	msg->subscription = SPI_getvalue(tuple, desc, 4);
	msg->topic = SPI_getvalue(tuple, desc, 5);
	if (msg->topic != NULL)
	{
		d = SPI_getbinval(tuple, desc, 6, &isnull);
		msg->partition = isnull ? -1 : DatumGetInt32(d);
		d = SPI_getbinval(tuple, desc, 7, &isnull);
		msg->offset = isnull ? -1 : DatumGetInt64(d);
		d = SPI_getbinval(tuple, desc, 8, &isnull);
		msg->timestamp = isnull ? 0 : DatumGetTimestampTz(d);
	}
	d = SPI_getbinval(tuple, desc, 9, &isnull);
	msg->headers = isnull ? NULL : DatumGetJsonbP(d);
	return DatumGetObjectId(SPI_getbinval(tuple, desc, 11, &isnull));
}

/*
 * 1.0's _replay_message(), which stored dead letters with any origin and
 * wrote with its caller's rights: its install script still names it, so
 * that 1.0 installs and updates, but it refuses to run.
 */
PG_FUNCTION_INFO_V1(rs_replay_message);

Datum
rs_replay_message(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("rail_stream 1.0's _replay_message() is no longer supported"),
			 errhint("Update the extension with ALTER EXTENSION rail_stream UPDATE.")));
	PG_RETURN_NULL();
}
