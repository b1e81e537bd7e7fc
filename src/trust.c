/*-------------------------------------------------------------------------
 *
 * trust.c
 *	  The TRUST train-movement feed: frames, message types and their rows.
 *
 * A TRUST frame is a JSON array of up to 32 {"header": ..., "body": ...}
 * messages.  The Kafka ActiveMQ connector wraps it in an envelope whose
 * "text" field holds the array as a string (in its Avro-JSON rendering,
 * {"text": {"string": "[...]"}}); the bare array is accepted too.
 *
 * header.msg_type routes a message to its table in schema rail.  Every
 * documented header and body field has a column; a field the feed adds one
 * day is kept in the column extra_fields rather than dropped.  Timestamps
 * follow feed_time.c: body times are UK wall-clock, msg_queue_timestamp is
 * UTC.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/trust.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "decode.h"
#include "transform.h"

#define T(n)		{.name = n, .kind = RS_FIELD_TEXT}
#define KEY(n)		{.name = n, .kind = RS_FIELD_TEXT, .required = true}
#define INT(n)		{.name = n, .kind = RS_FIELD_INT4}
#define BOOL(n)		{.name = n, .kind = RS_FIELD_BOOL}
#define TIME(n)		{.name = n, .kind = RS_FIELD_EVENT_TIME, .ms_column = n "_ms"}
#define KEYTIME(n)	{.name = n, .kind = RS_FIELD_EVENT_TIME, .required = true, \
					 .ms_column = n "_ms"}
#define DATE(n)		{.name = n, .kind = RS_FIELD_DATE}
#define END			{.name = NULL}

/*
 * The fields of each message type, in the order the current feed writes
 * them where it has them: rs_json_get() finds a field at once when it comes
 * right after the one read before it.
 */
static const RsField header_fields[] = {
	KEY("msg_type"),
	{.name = "msg_queue_timestamp", .kind = RS_FIELD_UTC_TIME,
	.ms_column = "msg_queue_timestamp_ms"},
	T("source_system_id"), T("original_data_source"), T("source_dev_id"),
	T("user_id"), END
};

/* 0001 train activation */
static const RsField activation_fields[] = {
	T("schedule_source"), T("train_file_address"), DATE("schedule_end_date"),
	KEY("train_id"), DATE("tp_origin_timestamp"), TIME("creation_timestamp"),
	T("tp_origin_stanox"), TIME("origin_dep_timestamp"),
	T("train_service_code"), T("toc_id"), T("d1266_record_number"),
	T("train_call_type"), T("train_uid"), T("train_call_mode"),
	T("schedule_type"), T("sched_origin_stanox"), T("schedule_wtt_id"),
	DATE("schedule_start_date"), END
};

/* 0002 train cancellation */
static const RsField cancellation_fields[] = {
	T("train_file_address"), T("train_service_code"), T("orig_loc_stanox"),
	T("toc_id"), TIME("dep_timestamp"), T("division_code"), KEY("loc_stanox"),
	KEYTIME("canx_timestamp"), T("canx_reason_code"), KEY("train_id"),
	TIME("orig_loc_timestamp"), T("canx_type"), END
};

/* 0003 train movement */
static const RsField movement_fields[] = {
	KEY("train_id"), TIME("actual_timestamp"), KEY("loc_stanox"),
	TIME("gbtt_timestamp"), TIME("planned_timestamp"),
	KEY("planned_event_type"), T("event_type"), T("event_source"),
	BOOL("correction_ind"), BOOL("offroute_ind"), T("direction_ind"),
	T("line_ind"), T("platform"), T("route"), T("train_service_code"),
	T("division_code"), T("toc_id"), INT("timetable_variation"),
	T("variation_status"), T("next_report_stanox"),
	INT("next_report_run_time"), BOOL("train_terminated"),
	BOOL("delay_monitoring_point"), T("reporting_stanox"),
	BOOL("auto_expected"), T("original_loc_stanox"),
	TIME("original_loc_timestamp"), T("current_train_id"),
	T("train_file_address"), END
};

/* 0005 train reinstatement */
static const RsField reinstatement_fields[] = {
	KEY("train_id"), T("current_train_id"), KEYTIME("reinstatement_timestamp"),
	TIME("dep_timestamp"), T("loc_stanox"), TIME("original_loc_timestamp"),
	T("original_loc_stanox"), T("toc_id"), T("division_code"),
	T("train_service_code"), T("train_file_address"), END
};

/* 0006 change of origin */
static const RsField change_of_origin_fields[] = {
	KEY("train_id"), T("current_train_id"), KEYTIME("coo_timestamp"),
	T("reason_code"), TIME("dep_timestamp"), T("loc_stanox"),
	TIME("original_loc_timestamp"), T("original_loc_stanox"), T("toc_id"),
	T("division_code"), T("train_service_code"), T("train_file_address"), END
};

/* 0007 change of identity */
static const RsField change_of_identity_fields[] = {
	KEY("train_id"), T("current_train_id"), T("revised_train_id"),
	KEYTIME("event_timestamp"), T("train_file_address"),
	T("train_service_code"), END
};

/* 0008 change of location */
static const RsField change_of_location_fields[] = {
	KEY("train_id"), T("current_train_id"), KEYTIME("event_timestamp"),
	T("loc_stanox"), TIME("dep_timestamp"), T("original_loc_stanox"),
	TIME("original_loc_timestamp"), T("train_file_address"),
	T("train_service_code"), END
};

typedef void (*DeriveFunc) (RsRow *row, const RsJson *body);

typedef struct TrustType
{
	const char *msg_type;
	const char *table;
	const RsField *fields;
	DeriveFunc	derive;			/* adds the computed columns, if any */
	int			derived;		/* how many */
} TrustType;

static void derive_activation(RsRow *row, const RsJson *body);
static void derive_movement(RsRow *row, const RsJson *body);

static const TrustType trust_types[] = {
	{"0001", "activations", activation_fields, derive_activation, 2},
	{"0002", "cancellations", cancellation_fields, NULL, 0},
	{"0003", "movements", movement_fields, derive_movement, 3},
	{"0005", "reinstatements", reinstatement_fields, NULL, 0},
	{"0006", "changes_of_origin", change_of_origin_fields, NULL, 0},
	{"0007", "changes_of_identity", change_of_identity_fields, NULL, 0},
	{"0008", "changes_of_location", change_of_location_fields, NULL, 0},
	{NULL, NULL, NULL, NULL, 0}
};

static List *trust_split(const RsJson *frame);
static List *trust_transform(const RsFeed *feed, const RsJson *message,
							 const char *key);
static const TrustType *find_type(const char *msg_type);
static bool is_extra_field(const char *key, void *arg);

static const char *const trust_tables[] = {
	"activations", "cancellations", "movements", "reinstatements",
	"changes_of_origin", "changes_of_identity", "changes_of_location", NULL
};

/* upserts read the rows they update; TRUST deletes nothing */
static const char *const trust_privileges[] = {"SELECT", "INSERT", "UPDATE", NULL};

const RsFeedType rs_trust_feed = {
	.name = "trust",
	.split = trust_split,
	.transform = trust_transform,
	.tables = trust_tables,
	.privileges = trust_privileges,
};

/*
 * trust_split
 *		The units of a TRUST frame, one per train message, from the bare
 *		array or from a connector envelope.
 */
static List *
trust_split(const RsJson *frame)
{
	List	   *units = NIL;
	size_t		count;

	if (rs_json_type(frame) == RS_JSON_OBJECT)
	{
		const RsJson *text = rs_json_get(frame, "text");
		const char *data;
		size_t		len;

		if (text != NULL && rs_json_type(text) == RS_JSON_OBJECT)
			text = rs_json_get(text, "string");	/* Avro-JSON union */
		if (text == NULL || rs_json_type(text) != RS_JSON_STRING)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("TRUST envelope has no \"text\" string"),
					 errhint("A TRUST message is a JSON array of train messages, bare or as a string in the \"text\" field of an ActiveMQ connector envelope.")));
		data = rs_json_string(text, &len);
		frame = rs_json_parse(data, len, "field \"text\"");
	}
	if (rs_json_type(frame) != RS_JSON_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("TRUST frame is a JSON %s, not an array", rs_json_type_name(frame)),
				 errhint("A TRUST message is a JSON array of train messages, bare or as a string in the \"text\" field of an ActiveMQ connector envelope.")));

	count = rs_json_size(frame);
	for (size_t i = 0; i < count; i++)
	{
		RsUnit	   *unit = palloc(sizeof(RsUnit));

		unit->index = i + 1;
		unit->count = count;
		unit->json = rs_json_at(frame, i);
		units = lappend(units, unit);
	}
	return units;
}

/*
 * trust_transform
 *		The row of one train message, for the table of its msg_type.
 */
static List *
trust_transform(const RsFeed *feed, const RsJson *message, const char *key)
{
	const RsJson *header;
	const RsJson *body;
	const TrustType *type;
	char	   *msg_type;
	RsRow	   *row;
	Jsonb	   *extra;
	int			found;

	if (rs_json_type(message) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("TRUST message is a JSON %s, not an object",
						rs_json_type_name(message))));
	header = rs_field_object(message, "header");
	body = rs_field_object(message, "body");
	if (header == NULL || body == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("TRUST message has no \"%s\" object", header ? "body" : "header")));

	msg_type = rs_field_text(header, "msg_type");
	type = find_type(msg_type);
	row = rs_row_new(RS_ROW_UPSERT, rs_rail_relid(type->table),
					 rs_field_columns(header_fields) +
					 rs_field_columns(type->fields) + type->derived + 1);
	rs_add_fields(row, header, header_fields);
	found = rs_add_fields(row, body, type->fields);

	/* an activation is written before the train's other messages read it */
	row->stage = (type->derive == derive_activation) ? 0 : 1;
	row->link = rs_field_text(body, "train_id");
	if (type->derive)
		type->derive(row, body);

	/* members are unique (json.c): with every one a field, none is extra */
	extra = (size_t) found == rs_json_size(body) ? NULL :
		rs_json_members_jsonb(body, is_extra_field, (void *) type->fields);
	rs_row_add(row, "extra_fields", JSONBOID, PointerGetDatum(extra),
			   extra == NULL);
	return list_make1(row);
}

static const TrustType *
find_type(const char *msg_type)
{
	if (msg_type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("required field \"msg_type\" is missing or empty")));
	for (const TrustType *t = trust_types; t->msg_type != NULL; t++)
	{
		if (strcmp(t->msg_type, msg_type) == 0)
			return t;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized TRUST message type \"%s\"", msg_type),
			 errdetail("Known types are 0001 to 0003 and 0005 to 0008.")));
	return NULL;				/* keep compiler quiet */
}

/* Is key a body field that the message type's table has no column for? */
static bool
is_extra_field(const char *key, void *arg)
{
	for (const RsField *f = arg; f->name != NULL; f++)
	{
		if (strcmp(f->name, key) == 0)
			return false;
	}
	return true;
}

/*
 * An activation's STP indicator with the feed's O/P swap undone, and the
 * key of its schedule, as the CIF feed writes it.
 */
static void
derive_activation(RsRow *row, const RsJson *body)
{
	const char *stp = rs_correct_schedule_type(rs_field_text(body, "schedule_type"));
	char	   *start_date = rs_field_text(body, "schedule_start_date");

	rs_row_add_text(row, "stp_indicator", stp);
	rs_row_add_text(row, "schedule_key",
					rs_schedule_key(rs_field_text(body, "train_uid"),
									start_date ? pnstrdup(start_date, 10) : NULL,
									stp));
}

/* The talk's VARIATION, LATE_IND and PLATFORM columns of a movement. */
static void
derive_movement(RsRow *row, const RsJson *body)
{
	char	   *status = rs_field_text(body, "variation_status");
	bool		isnull;
	int32		minutes = rs_field_int4(body, "timetable_variation", &isnull);
	bool		late;

	rs_row_add_text(row, "variation", rs_variation_text(status, minutes));
	late = rs_late_ind(status, &isnull);
	rs_row_add(row, "late_ind", BOOLOID, BoolGetDatum(late), isnull);
	rs_row_add_text(row, "platform_text",
					rs_platform_text(rs_field_text(body, "platform")));
}
