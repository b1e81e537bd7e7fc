/*-------------------------------------------------------------------------
 *
 * cif.c
 *	  The SCHEDULE feed (CIF extract in JSON), one record per message.
 *
 * An extract is a header (JsonTimetableV1), TIPLOCs (TiplocV1),
 * associations (JsonAssociationV1), schedules (JsonScheduleV1) and a final
 * {"EOF": true}.  Each record carries a transaction_type: "Create" (and
 * "Update" for TIPLOCs) upserts its row, "Delete" deletes it, so that the
 * daily update files apply on top of a full extract.
 *
 * A schedule is keyed by "train_uid/start_date/stp_indicator", the talk's
 * SCHEDULE_KEY, and carries its decoded code lists and its origin and
 * destination.  Its calling points go to rail.schedule_locations, replaced
 * as a whole when the schedule is written again.  STP cancellations ("C")
 * have no calling points and a null power type.
 *
 * The VSTP feed (very short term plans) writes the same tables in real
 * time: a message is {"VSTPCIFMsgV1": {..., "schedule": {...}}}, the
 * schedule a JsonScheduleV1 in VSTP's own dialect (Network Rail's open data
 * wiki, "VSTP"): schedule_segment is an array of one segment that also
 * holds atoc_code, uic_code and CIF_traction_class; a calling point names
 * its TIPLOC as location.tiploc.tiploc_id and has no record type (the first
 * is the origin, the last the terminus); times are "HHMMSS" in
 * scheduled_arrival_time, scheduled_departure_time, scheduled_pass_time,
 * public_arrival_time and public_departure_time, where a blank (" ") and,
 * for public times, "00" mean none; and blank fields are " ", not "".
 * Schedules created in VSTP have a train UID of a space and five digits,
 * kept as it is: TRUST activates them under the same UID, so that their
 * keys meet.  A VSTP "Delete" deletes the schedule with its key.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/cif.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "decode.h"
#include "feed_time.h"
#include "transform.h"

#define T(n)			{.name = n, .kind = RS_FIELD_TEXT}
#define KEY(n)			{.name = n, .kind = RS_FIELD_TEXT, .required = true}
#define COL(n, col)	{.name = n, .kind = RS_FIELD_TEXT, .column = col}
#define END				{.name = NULL}

static const RsField tiploc_key[] = {KEY("tiploc_code"), END};

static const RsField tiploc_fields[] = {
	KEY("tiploc_code"), T("transaction_type"), T("nalco"), T("stanox"),
	T("crs_code"), T("description"), T("tps_description"), END
};

static const RsField association_fields[] = {
	T("transaction_type"), KEY("main_train_uid"), KEY("assoc_train_uid"),
	{.name = "assoc_start_date", .kind = RS_FIELD_DATE, .required = true}, {.name = "assoc_end_date", .kind = RS_FIELD_DATE},
	T("assoc_days"), T("category"), T("date_indicator"), KEY("location"),
	T("base_location_suffix"), T("assoc_location_suffix"), T("diagram_type"),
	{.name = "CIF_stp_indicator", .kind = RS_FIELD_TEXT, .required = true, .column = "stp_indicator"}, END
};

static const RsField schedule_fields[] = {
	COL("CIF_bank_holiday_running", "bank_holiday_running"),
	{.name = "CIF_stp_indicator", .kind = RS_FIELD_TEXT, .required = true, .column = "stp_indicator"},
	{.name = "CIF_train_uid", .kind = RS_FIELD_TEXT, .required = true, .column = "train_uid"},
	T("applicable_timetable"), T("atoc_code"), T("schedule_days_runs"),
	{.name = "schedule_end_date", .kind = RS_FIELD_DATE},
	{.name = "schedule_start_date", .kind = RS_FIELD_DATE, .required = true},
	T("train_status"), T("transaction_type"), END
};

static const RsField new_segment_fields[] = {
	T("traction_class"), T("uic_code"), END
};

static const RsField segment_fields[] = {
	T("signalling_id"),
	COL("CIF_train_category", "train_category"),
	COL("CIF_headcode", "headcode"),
	{.name = "CIF_course_indicator", .kind = RS_FIELD_INT4, .column = "course_indicator"},
	COL("CIF_train_service_code", "train_service_code"),
	COL("CIF_business_sector", "business_sector"),
	COL("CIF_power_type", "power_type"),
	COL("CIF_timing_load", "timing_load"),
	{.name = "CIF_speed", .kind = RS_FIELD_INT4, .column = "speed"},
	COL("CIF_operating_characteristics", "operating_characteristics"),
	COL("CIF_train_class", "train_class"),
	COL("CIF_sleepers", "sleepers"),
	COL("CIF_reservations", "reservations"),
	COL("CIF_connection_indicator", "connection_indicator"),
	COL("CIF_catering_code", "catering_code"),
	COL("CIF_service_branding", "service_branding"),
	END
};

static const RsField location_fields[] = {
	T("location_type"), T("record_identity"), KEY("tiploc_code"),
	T("tiploc_instance"), T("platform"), T("line"), T("path"),
	T("engineering_allowance"), T("pathing_allowance"),
	T("performance_allowance"), END
};

/* calling-point times, "HHMM" or "HHMMH" */
static const char *const location_times[] = {
	"arrival", "departure", "pass", "public_arrival", "public_departure", NULL
};

/* decoded columns of a schedule and the code list behind each */
static const struct
{
	const char *field;
	const char *column;
	RsCodeList	list;
}			schedule_decodes[] = {
	{"CIF_power_type", "power_type_desc", RS_CODES_POWER_TYPE},
	{"CIF_train_category", "train_category_desc", RS_CODES_TRAIN_CATEGORY},
	{"CIF_train_class", "seating_classes", RS_CODES_SEATING_CLASS},
	{"CIF_sleepers", "sleeping_accommodation", RS_CODES_SLEEPERS},
	{"CIF_reservations", "reservations_desc", RS_CODES_RESERVATIONS},
};

static List *header_rows(const RsJson *header);
static List *tiploc_rows(const RsJson *tiploc);
static List *association_rows(const RsJson *association);
static List *schedule_rows(const RsJson *schedule);
static void add_schedule_summary(RsRow *row, const RsJson *schedule,
								 const RsJson *segment,
								 const RsJson *locations);
static void add_end_point(RsRow *row, const RsJson *location,
						  const char *prefix, const char *time_field,
						  const char *public_field);
static RsRow *location_row(const char *key, int seq, const RsJson *location);
static Datum cif_time(const RsJson *object, const char *field, bool *isnull);
static bool is_delete(const RsJson *record);
static char *complete_key(const char *feed, const char *uid,
						  const char *start_date, const char *stp);
static List *delete_schedule(Oid relid, const char *key);
static List *cif_transform(const RsFeed *feed, const RsJson *record,
						   const char *key);
static List *vstp_transform(const RsFeed *feed, const RsJson *message,
							const char *key);
static char *vstp_text(const RsJson *object, const char *name);
static void vstp_add_fields(RsRow *row, const RsJson *object,
							const RsField *fields);
static Datum vstp_time(const RsJson *location, const char *field,
					   bool public_time, bool *isnull);
static RsRow *vstp_location_row(const char *key, int seq, int count,
								const RsJson *location);
static void vstp_add_end_point(RsRow *row, const RsJson *location,
							   const char *prefix, bool origin);
static char *vstp_tiploc(const RsJson *location);

static const char *const cif_tables[] = {
	"cif_headers", "tiplocs", "associations", "schedules",
	"schedule_locations", NULL
};

/* upserts read the rows they update; Delete transactions delete */
static const char *const cif_privileges[] = {
	"SELECT", "INSERT", "UPDATE", "DELETE", NULL
};

const RsFeedType rs_cif_feed = {
	.name = "cif",
	.transform = cif_transform,
	.tables = cif_tables,
	.privileges = cif_privileges,
};

static const char *const vstp_tables[] = {
	"schedules", "schedule_locations", NULL
};

const RsFeedType rs_vstp_feed = {
	.name = "vstp",
	.transform = vstp_transform,
	.tables = vstp_tables,
	.privileges = cif_privileges,
};

typedef List *(*RecordFunc) (const RsJson *record);

static const struct
{
	const char *name;
	RecordFunc	rows;
}			record_types[] = {
	{"JsonTimetableV1", header_rows},
	{"TiplocV1", tiploc_rows},
	{"JsonAssociationV1", association_rows},
	{"JsonScheduleV1", schedule_rows},
};

/*
 * cif_transform
 *		The rows that one SCHEDULE record writes or deletes.
 */
static List *
cif_transform(const RsFeed *feed, const RsJson *record, const char *key)
{
	if (rs_json_type(record) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("CIF record is a JSON %s, not an object",
						rs_json_type_name(record))));

	for (size_t i = 0; i < lengthof(record_types); i++)
	{
		const RsJson *body = rs_field_object(record, record_types[i].name);

		if (body != NULL)
			return record_types[i].rows(body);
	}
	if (rs_json_get(record, "EOF") != NULL)
		return NIL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized CIF record"),
			 errdetail("A record is an object with one member: JsonTimetableV1, TiplocV1, JsonAssociationV1, JsonScheduleV1 or EOF.")));
	return NIL;					/* keep compiler quiet */
}

static bool
is_delete(const RsJson *record)
{
	char	   *type = rs_field_text(record, "transaction_type");

	return type != NULL && strcmp(type, "Delete") == 0;
}

/* JsonTimetableV1: the extract's header */
/*
 * complete_key
 *		A schedule's key from its three parts, which feed ("CIF", "VSTP")
 *		requires; schedule_start_date's first ten characters are its date.
 */
static char *
complete_key(const char *feed, const char *uid, const char *start_date,
			 const char *stp)
{
	char	   *key = rs_schedule_key(uid, start_date ? pnstrdup(start_date, 10) : NULL,
									  stp);

	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("%s schedule has no complete key", feed),
				 errdetail("CIF_train_uid, schedule_start_date and CIF_stp_indicator are all required.")));
	return key;
}

/* A deleted schedule: its row goes, its calling points with it (ON DELETE CASCADE). */
static List *
delete_schedule(Oid relid, const char *key)
{
	RsRow	   *row = rs_row_new(RS_ROW_DELETE, relid, 1);

	rs_row_add_text(row, "schedule_key", key);
	return list_make1(row);
}

static List *
header_rows(const RsJson *header)
{
	RsRow	   *row = rs_row_new(RS_ROW_UPSERT, rs_rail_relid("cif_headers"), 9);
	const RsJson *sender = rs_field_object(header, "Sender");
	const RsJson *metadata = rs_field_object(header, "Metadata");
	bool		isnull;
	int32		seconds = rs_field_int4(header, "timestamp", &isnull);
	int32		sequence;

	if (isnull || metadata == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("CIF header has no \"timestamp\" or \"Metadata\"")));
	sequence = rs_field_int4(metadata, "sequence", &isnull);
	rs_row_add(row, "extract_timestamp", TIMESTAMPTZOID,
			   TimestampTzGetDatum(rs_utc_ms_to_timestamptz((int64) seconds * 1000)),
			   false);
	rs_row_add(row, "sequence", INT4OID, Int32GetDatum(sequence), isnull);
	rs_row_add_text(row, "metadata_type", rs_field_text(metadata, "type"));
	rs_row_add_text(row, "classification", rs_field_text(header, "classification"));
	rs_row_add_text(row, "owner", rs_field_text(header, "owner"));
	rs_row_add_text(row, "sender_organisation",
					sender ? rs_field_text(sender, "organisation") : NULL);
	rs_row_add_text(row, "sender_application",
					sender ? rs_field_text(sender, "application") : NULL);
	rs_row_add_text(row, "sender_component",
					sender ? rs_field_text(sender, "component") : NULL);
	return list_make1(row);
}

/* TiplocV1: a timing point */
static List *
tiploc_rows(const RsJson *tiploc)
{
	Oid			relid = rs_rail_relid("tiplocs");
	RsRow	   *row;

	if (is_delete(tiploc))
	{
		row = rs_row_new(RS_ROW_DELETE, relid, 1);
		rs_add_fields(row, tiploc, tiploc_key);
		return list_make1(row);
	}
	row = rs_row_new(RS_ROW_UPSERT, relid, rs_field_columns(tiploc_fields));
	rs_add_fields(row, tiploc, tiploc_fields);
	return list_make1(row);
}

/* JsonAssociationV1: a join, divide or next working of two trains */
static List *
association_rows(const RsJson *association)
{
	RsRowOp		op = is_delete(association) ? RS_ROW_DELETE : RS_ROW_UPSERT;
	RsRow	   *row = rs_row_new(op, rs_rail_relid("associations"),
								 rs_field_columns(association_fields));

	if (op == RS_ROW_DELETE)
	{
		static const RsField key_fields[] = {
			KEY("main_train_uid"), KEY("assoc_train_uid"),
			{.name = "assoc_start_date", .kind = RS_FIELD_DATE, .required = true}, KEY("location"),
			{.name = "CIF_stp_indicator", .kind = RS_FIELD_TEXT, .required = true, .column = "stp_indicator"}, END
		};

		rs_add_fields(row, association, key_fields);
	}
	else
		rs_add_fields(row, association, association_fields);
	return list_make1(row);
}

/*
 * JsonScheduleV1: a schedule and its calling points.  A created schedule
 * replaces its calling points: they are deleted and written again.
 */
static List *
schedule_rows(const RsJson *schedule)
{
	Oid			relid = rs_rail_relid("schedules");
	const RsJson *segment = rs_field_object(schedule, "schedule_segment");
	const RsJson *new_segment = rs_field_object(schedule, "new_schedule_segment");
	const RsJson *locations = NULL;
	char	   *start_date = rs_field_text(schedule, "schedule_start_date");
	char	   *key;
	RsRow	   *row;
	RsRow	   *clear;
	List	   *rows;

	key = complete_key("CIF", rs_field_text(schedule, "CIF_train_uid"), start_date,
					   rs_field_text(schedule, "CIF_stp_indicator"));
	if (is_delete(schedule))
		return delete_schedule(relid, key);

	if (segment != NULL)
	{
		locations = rs_json_get(segment, "schedule_location");
		if (locations != NULL && rs_json_type(locations) == RS_JSON_NULL)
			locations = NULL;
		if (locations != NULL && rs_json_type(locations) != RS_JSON_ARRAY)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("field \"schedule_location\" is a JSON %s, not an array",
							rs_json_type_name(locations))));
	}

	row = rs_row_new(RS_ROW_UPSERT, relid,
					 1 + rs_field_columns(schedule_fields) +
					 rs_field_columns(new_segment_fields) +
					 rs_field_columns(segment_fields) +
					 lengthof(schedule_decodes) + 10);
	rs_row_add_text(row, "schedule_key", key);
	rs_add_fields(row, schedule, schedule_fields);
	if (new_segment != NULL)
		rs_add_fields(row, new_segment, new_segment_fields);
	if (segment != NULL)
		rs_add_fields(row, segment, segment_fields);
	add_schedule_summary(row, schedule, segment, locations);

	clear = rs_row_new(RS_ROW_DELETE, rs_rail_relid("schedule_locations"), 1);
	rs_row_add_text(clear, "schedule_key", key);
	rows = list_make2(row, clear);
	for (size_t i = 0; locations != NULL && i < rs_json_size(locations); i++)
		rows = lappend(rows, location_row(key, i + 1, rs_json_at(locations, i)));
	return rows;
}

/*
 * The decoded code lists, the number of stops, the origin (first calling
 * point) and the destination (last one) of a schedule.
 */
static void
add_schedule_summary(RsRow *row, const RsJson *schedule,
					 const RsJson *segment, const RsJson *locations)
{
	size_t		stops = locations ? rs_json_size(locations) : 0;

	rs_row_add_text(row, "train_status_desc",
					rs_decode(RS_CODES_TRAIN_STATUS,
							  rs_field_text(schedule, "train_status")));
	for (size_t i = 0; i < lengthof(schedule_decodes); i++)
	{
		const RsJson *node = segment ? rs_json_get(segment, schedule_decodes[i].field) : NULL;
		char	   *code = node ? rs_json_scalar_text(node) : NULL;

		rs_row_add_text(row, schedule_decodes[i].column,
						rs_decode(schedule_decodes[i].list, code));
	}
	rs_row_add(row, "num_stops", INT4OID, Int32GetDatum((int32) stops), false);
	if (stops == 0)
		return;
	add_end_point(row, rs_json_at(locations, 0), "origin",
				  "departure", "public_departure");
	add_end_point(row, rs_json_at(locations, stops - 1), "destination",
				  "arrival", "public_arrival");
}

/* <prefix>_tiploc, _<time_field>, _<public_field> and _platform */
static void
add_end_point(RsRow *row, const RsJson *location, const char *prefix,
			  const char *time_field, const char *public_field)
{
	bool		isnull;
	Datum		t;

	if (rs_json_type(location) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("schedule location is a JSON %s, not an object",
						rs_json_type_name(location))));
	rs_row_add_text(row, psprintf("%s_tiploc", prefix),
					rs_field_text(location, "tiploc_code"));
	t = cif_time(location, time_field, &isnull);
	rs_row_add(row, psprintf("%s_%s", prefix, time_field), TIMEOID, t, isnull);
	t = cif_time(location, public_field, &isnull);
	rs_row_add(row, psprintf("%s_%s", prefix, public_field), TIMEOID, t, isnull);
	rs_row_add_text(row, psprintf("%s_platform", prefix),
					rs_field_text(location, "platform"));
}

/* One calling point of a schedule, numbered from 1 in running order. */
static RsRow *
location_row(const char *key, int seq, const RsJson *location)
{
	RsRow	   *row;

	if (rs_json_type(location) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("schedule location is a JSON %s, not an object",
						rs_json_type_name(location))));
	row = rs_row_new(RS_ROW_UPSERT, rs_rail_relid("schedule_locations"),
					 2 + rs_field_columns(location_fields) + 5);
	rs_row_add_text(row, "schedule_key", key);
	rs_row_add(row, "seq", INT4OID, Int32GetDatum(seq), false);
	rs_add_fields(row, location, location_fields);
	for (int i = 0; location_times[i] != NULL; i++)
	{
		bool		isnull;
		Datum		t = cif_time(location, location_times[i], &isnull);

		rs_row_add(row, location_times[i], TIMEOID, t, isnull);
	}
	return row;
}

static Datum
cif_time(const RsJson *object, const char *field, bool *isnull)
{
	char	   *text = rs_field_text(object, field);
	TimeADT		t;

	*isnull = (text == NULL);
	if (text == NULL)
		return (Datum) 0;
	if (!rs_parse_cif_time(text, &t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("invalid value for field \"%s\": \"%s\"", field, text),
				 errdetail("CIF times have the form HHMM, with \"H\" appended for half a minute.")));
	return TimeADTGetDatum(t);
}

/* VSTP: a schedule's own fields, as CIF names them */
static const RsField vstp_schedule_fields[] = {
	COL("CIF_bank_holiday_running", "bank_holiday_running"),
	{.name = "CIF_stp_indicator", .kind = RS_FIELD_TEXT, .column = "stp_indicator"},
	{.name = "CIF_train_uid", .kind = RS_FIELD_TEXT, .column = "train_uid"},
	T("applicable_timetable"), T("schedule_days_runs"),
	{.name = "schedule_end_date", .kind = RS_FIELD_DATE},
	{.name = "schedule_start_date", .kind = RS_FIELD_DATE},
	T("train_status"), T("transaction_type"), END
};

/* VSTP: what CIF has in new_schedule_segment is in the segment */
static const RsField vstp_segment_extra_fields[] = {
	T("uic_code"), COL("CIF_traction_class", "traction_class"), END
};

/* VSTP: a calling point's text fields */
static const RsField vstp_location_fields[] = {
	COL("CIF_platform", "platform"), COL("CIF_line", "line"),
	COL("CIF_path", "path"),
	COL("CIF_engineering_allowance", "engineering_allowance"),
	COL("CIF_pathing_allowance", "pathing_allowance"),
	COL("CIF_performance_allowance", "performance_allowance"), END
};

/* VSTP's time fields and the columns of rail.schedule_locations */
static const struct
{
	const char *field;
	const char *column;
	bool		public_time;
}			vstp_times[] = {
	{"scheduled_arrival_time", "arrival", false},
	{"scheduled_departure_time", "departure", false},
	{"scheduled_pass_time", "pass", false},
	{"public_arrival_time", "public_arrival", true},
	{"public_departure_time", "public_departure", true},
};

/*
 * vstp_transform
 *		The rows that one VSTP message writes or deletes.
 */
static List *
vstp_transform(const RsFeed *feed, const RsJson *message, const char *key)
{
	const RsJson *wrapper;
	const RsJson *schedule;
	const RsJson *segments;
	const RsJson *segment = NULL;
	const RsJson *locations = NULL;
	Oid			relid = rs_rail_relid("schedules");
	char	   *start_date;
	char	   *uid;
	char	   *stp;
	char	   *schedule_key;
	size_t		stops;
	RsRow	   *row;
	RsRow	   *clear;
	List	   *rows;

	if (rs_json_type(message) != RS_JSON_OBJECT ||
		(wrapper = rs_field_object(message, "VSTPCIFMsgV1")) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized VSTP message"),
				 errdetail("A VSTP message is an object with one member, VSTPCIFMsgV1.")));
	schedule = rs_field_object(wrapper, "schedule");
	if (schedule == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("VSTP message has no \"schedule\"")));

	uid = vstp_text(schedule, "CIF_train_uid");
	start_date = vstp_text(schedule, "schedule_start_date");
	stp = vstp_text(schedule, "CIF_stp_indicator");
	schedule_key = complete_key("VSTP", uid, start_date, stp);
	if (is_delete(schedule))
		return delete_schedule(relid, schedule_key);

	/* one segment, in an array (an object is taken too) */
	segments = rs_json_get(schedule, "schedule_segment");
	if (segments != NULL && rs_json_type(segments) == RS_JSON_ARRAY)
	{
		if (rs_json_size(segments) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("VSTP schedule has %zu segments", rs_json_size(segments)),
					 errdetail("A VSTP schedule has one segment, whose calling points are the schedule's.")));
		if (rs_json_size(segments) == 1)
			segment = rs_json_at(segments, 0);
	}
	else if (segments != NULL && rs_json_type(segments) != RS_JSON_NULL)
		segment = segments;
	if (segment != NULL && rs_json_type(segment) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("field \"schedule_segment\" holds a JSON %s, not an object",
						rs_json_type_name(segment))));
	if (segment != NULL)
	{
		locations = rs_json_get(segment, "schedule_location");
		if (locations != NULL && rs_json_type(locations) == RS_JSON_NULL)
			locations = NULL;
		if (locations != NULL && rs_json_type(locations) != RS_JSON_ARRAY)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("field \"schedule_location\" is a JSON %s, not an array",
							rs_json_type_name(locations))));
	}
	stops = locations ? rs_json_size(locations) : 0;

	row = rs_row_new(RS_ROW_UPSERT, relid, 64);
	rs_row_add_text(row, "schedule_key", schedule_key);
	vstp_add_fields(row, schedule, vstp_schedule_fields);
	/* atoc_code is in the segment in VSTP, beside the schedule in CIF */
	rs_row_add_text(row, "atoc_code",
					vstp_text(schedule, "atoc_code") ? vstp_text(schedule, "atoc_code") :
					segment ? vstp_text(segment, "atoc_code") : NULL);
	if (segment != NULL)
	{
		vstp_add_fields(row, segment, vstp_segment_extra_fields);
		vstp_add_fields(row, segment, segment_fields);
	}

	/* decodes, stops, origin and destination, as for CIF */
	rs_row_add_text(row, "train_status_desc",
					rs_decode(RS_CODES_TRAIN_STATUS,
							  vstp_text(schedule, "train_status")));
	for (size_t i = 0; i < lengthof(schedule_decodes); i++)
		rs_row_add_text(row, schedule_decodes[i].column,
						rs_decode(schedule_decodes[i].list,
								  segment ? vstp_text(segment, schedule_decodes[i].field) : NULL));
	rs_row_add(row, "num_stops", INT4OID, Int32GetDatum((int32) stops), false);
	if (stops > 0)
	{
		vstp_add_end_point(row, rs_json_at(locations, 0), "origin", true);
		vstp_add_end_point(row, rs_json_at(locations, stops - 1), "destination", false);
	}

	clear = rs_row_new(RS_ROW_DELETE, rs_rail_relid("schedule_locations"), 1);
	rs_row_add_text(clear, "schedule_key", schedule_key);
	rows = list_make2(row, clear);
	for (size_t i = 0; i < stops; i++)
		rows = lappend(rows, vstp_location_row(schedule_key, i + 1, stops,
											   rs_json_at(locations, i)));
	return rows;
}

/* A VSTP field's text: NULL when missing, null, empty or blank. */
static char *
vstp_text(const RsJson *object, const char *name)
{
	char	   *text = rs_field_text(object, name);

	if (text != NULL && strspn(text, " ") == strlen(text))
		return NULL;
	return text;
}

/* rs_add_fields for VSTP's blanks: kinds text, integer and date */
static void
vstp_add_fields(RsRow *row, const RsJson *object, const RsField *fields)
{
	for (const RsField *f = fields; f->name != NULL; f++)
	{
		const char *column = f->column ? f->column : f->name;
		char	   *text = vstp_text(object, f->name);

		switch (f->kind)
		{
			case RS_FIELD_INT4:
				{
					bool		isnull;
					int32		v = rs_field_int4(object, f->name, &isnull);

					rs_row_add(row, column, INT4OID, Int32GetDatum(v), isnull);
				}
				break;
			case RS_FIELD_DATE:
				rs_row_add(row, column, DATEOID,
						   text ? DirectFunctionCall1(date_in,
													  CStringGetDatum(pnstrdup(text, 10)))
						   : (Datum) 0,
						   text == NULL);
				break;
			default:
				rs_row_add_text(row, column, text);
				break;
		}
	}
}

/*
 * A VSTP time, "HHMMSS" (or CIF's "HHMM"); NULL when blank, and for a
 * public time also when "00", VSTP's "no public time".
 */
static Datum
vstp_time(const RsJson *location, const char *field, bool public_time,
		  bool *isnull)
{
	char	   *text = vstp_text(location, field);
	int			hours,
				minutes,
				seconds = 0;
	size_t		len;
	TimeADT		t;

	*isnull = (text == NULL || (public_time && strcmp(text, "00") == 0));
	if (*isnull)
		return (Datum) 0;
	len = strlen(text);
	if (len == 4 || (len == 5 && text[4] == 'H'))
	{
		if (rs_parse_cif_time(text, &t))
			return TimeADTGetDatum(t);
	}
	else if (len == 6 && strspn(text, "0123456789") == 6)
	{
		hours = (text[0] - '0') * 10 + (text[1] - '0');
		minutes = (text[2] - '0') * 10 + (text[3] - '0');
		seconds = (text[4] - '0') * 10 + (text[5] - '0');
		if (hours <= 23 && minutes <= 59 && seconds <= 59)
			return TimeADTGetDatum(((hours * INT64CONST(60) + minutes) * 60 + seconds) *
								   USECS_PER_SEC);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
			 errmsg("invalid value for field \"%s\": \"%s\"", field, text),
			 errdetail("VSTP times have the form HHMMSS.")));
	return (Datum) 0;			/* keep compiler quiet */
}

/* A VSTP calling point's TIPLOC, location.tiploc.tiploc_id */
static char *
vstp_tiploc(const RsJson *location)
{
	const RsJson *where;
	const RsJson *tiploc;
	char	   *code = NULL;

	if (rs_json_type(location) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("schedule location is a JSON %s, not an object",
						rs_json_type_name(location))));
	where = rs_field_object(location, "location");
	tiploc = where ? rs_field_object(where, "tiploc") : NULL;
	if (tiploc != NULL)
		code = vstp_text(tiploc, "tiploc_id");
	if (code == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("VSTP schedule location has no TIPLOC"),
				 errdetail("A calling point names its TIPLOC as location.tiploc.tiploc_id.")));
	return code;
}

/* <prefix>_tiploc, its working and public time, and its platform */
static void
vstp_add_end_point(RsRow *row, const RsJson *location, const char *prefix,
				   bool origin)
{
	const char *time_column = origin ? "departure" : "arrival";
	bool		isnull;
	Datum		t;

	rs_row_add_text(row, psprintf("%s_tiploc", prefix), vstp_tiploc(location));
	t = vstp_time(location, origin ? "scheduled_departure_time" : "scheduled_arrival_time",
				  false, &isnull);
	rs_row_add(row, psprintf("%s_%s", prefix, time_column), TIMEOID, t, isnull);
	t = vstp_time(location, origin ? "public_departure_time" : "public_arrival_time",
				  true, &isnull);
	rs_row_add(row, psprintf("%s_public_%s", prefix, time_column), TIMEOID, t, isnull);
	rs_row_add_text(row, psprintf("%s_platform", prefix),
					vstp_text(location, "CIF_platform"));
}

/*
 * One calling point of a VSTP schedule: seq from 1 of count, typed as CIF
 * types it (LO origin, LI intermediate, LT terminus).
 */
static RsRow *
vstp_location_row(const char *key, int seq, int count, const RsJson *location)
{
	RsRow	   *row;
	const char *type = seq == 1 ? "LO" : seq == count ? "LT" : "LI";
	char	   *tiploc = vstp_tiploc(location);

	row = rs_row_new(RS_ROW_UPSERT, rs_rail_relid("schedule_locations"),
					 5 + rs_field_columns(vstp_location_fields) + lengthof(vstp_times));
	rs_row_add_text(row, "schedule_key", key);
	rs_row_add(row, "seq", INT4OID, Int32GetDatum(seq), false);
	rs_row_add_text(row, "location_type", type);
	rs_row_add_text(row, "record_identity", type);
	rs_row_add_text(row, "tiploc_code", tiploc);
	vstp_add_fields(row, location, vstp_location_fields);
	for (size_t i = 0; i < lengthof(vstp_times); i++)
	{
		bool		isnull;
		Datum		t = vstp_time(location, vstp_times[i].field,
								  vstp_times[i].public_time, &isnull);

		rs_row_add(row, vstp_times[i].column, TIMEOID, t, isnull);
	}
	return row;
}
