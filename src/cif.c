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
 * Both dialects go through one path, schedule_with_stops(), which a
 * ScheduleDialect tells where the two differ: field names, blanks, the
 * form of times, where a calling point keeps its TIPLOC and how it is
 * typed.  Only finding the segment and the extra fields of each is the
 * dialect's own code.
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

/* a calling point's TIPLOC is its own (ScheduleDialect.tiploc) */
static const RsField location_fields[] = {
	T("location_type"), T("record_identity"),
	T("tiploc_instance"), T("platform"), T("line"), T("path"),
	T("engineering_allowance"), T("pathing_allowance"),
	T("performance_allowance"), END
};

/* A calling point's time field and its column of rail.schedule_locations */
typedef struct ScheduleTime
{
	const char *field;
	const char *column;
	bool		public_time;
} ScheduleTime;

/* CIF: "HHMM" or "HHMMH", under the columns' own names */
static const ScheduleTime cif_times[] = {
	{"arrival", "arrival", false},
	{"departure", "departure", false},
	{"pass", "pass", false},
	{"public_arrival", "public_arrival", true},
	{"public_departure", "public_departure", true},
	{NULL}
};

/*
 * How a feed writes a JsonScheduleV1: what schedule_with_stops() needs to
 * know of CIF's extract and of VSTP's messages.
 */
typedef struct ScheduleDialect
{
	const char *feed;			/* "CIF" or "VSTP", in errors */
	bool		blanks;			/* a value of spaces only is no value */
	bool		seconds;		/* times may be "HHMMSS" */
	bool		public_zero;	/* a public time of "00" is none */
	const char *time_form;		/* the errdetail of a bad time */
	const RsField *schedule_fields;
	const RsField *location_fields; /* a calling point's, but its TIPLOC */
	const ScheduleTime *times;	/* a calling point's */
	const char *platform;		/* field of a calling point's platform */
	bool		typed_by_order; /* calling points typed LO, LI, LT by their
								 * order, not by location_type */
	char	   *(*tiploc) (const RsJson *location);
} ScheduleDialect;

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
static const RsJson *segment_stops(const RsJson *segment);
static List *schedule_with_stops(const ScheduleDialect *dialect, RsRow *row,
								 const char *key, const RsJson *schedule,
								 const RsJson *segment, const RsJson *stops);
static void add_end_point(const ScheduleDialect *dialect, RsRow *row,
						  const RsJson *location, const char *prefix,
						  bool origin);
static RsRow *location_row(const ScheduleDialect *dialect, const char *key,
						   int seq, int count, const RsJson *location);
static Datum schedule_time(const ScheduleDialect *dialect,
						   const RsJson *location, const ScheduleTime *time,
						   bool *isnull);
static const ScheduleTime *time_of(const ScheduleDialect *dialect,
								   const char *column);
static char *dialect_text(const ScheduleDialect *dialect,
						  const RsJson *object, const char *name);
static char *code_text(const ScheduleDialect *dialect, const RsJson *object,
					   const char *name);
static void add_dialect_fields(const ScheduleDialect *dialect, RsRow *row,
							   const RsJson *object, const RsField *fields);
static const RsJson *location_object(const RsJson *location);
static char *cif_tiploc(const RsJson *location);
static bool is_delete(const RsJson *record);
static char *complete_key(const char *feed, const char *uid,
						  const char *start_date, const char *stp);
static List *delete_schedule(Oid relid, const char *key);
static List *cif_transform(const RsFeed *feed, const RsJson *record,
						   const char *key);
static List *vstp_transform(const RsFeed *feed, const RsJson *message,
							const char *key);
static const RsJson *vstp_segment(const RsJson *schedule);
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

/* VSTP: "HHMMSS" (or CIF's forms), under names of its own */
static const ScheduleTime vstp_times[] = {
	{"scheduled_arrival_time", "arrival", false},
	{"scheduled_departure_time", "departure", false},
	{"scheduled_pass_time", "pass", false},
	{"public_arrival_time", "public_arrival", true},
	{"public_departure_time", "public_departure", true},
	{NULL}
};

static const ScheduleDialect cif_dialect = {
	.feed = "CIF",
	.time_form = "CIF times have the form HHMM, with \"H\" appended for half a minute.",
	.schedule_fields = schedule_fields,
	.location_fields = location_fields,
	.times = cif_times,
	.platform = "platform",
	.tiploc = cif_tiploc,
};

static const ScheduleDialect vstp_dialect = {
	.feed = "VSTP",
	.blanks = true,
	.seconds = true,
	.public_zero = true,
	.time_form = "VSTP times have the form HHMMSS.",
	.schedule_fields = vstp_schedule_fields,
	.location_fields = vstp_location_fields,
	.times = vstp_times,
	.platform = "CIF_platform",
	.typed_by_order = true,
	.tiploc = vstp_tiploc,
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
	char	   *key;
	RsRow	   *row;

	key = complete_key("CIF", rs_field_text(schedule, "CIF_train_uid"),
					   rs_field_text(schedule, "schedule_start_date"),
					   rs_field_text(schedule, "CIF_stp_indicator"));
	if (is_delete(schedule))
		return delete_schedule(relid, key);

	row = rs_row_new(RS_ROW_UPSERT, relid, 64);
	if (new_segment != NULL)
		rs_add_fields(row, new_segment, new_segment_fields);
	return schedule_with_stops(&cif_dialect, row, key, schedule, segment,
							   segment_stops(segment));
}

/* A segment's calling points (an array), or NULL if it has none */
static const RsJson *
segment_stops(const RsJson *segment)
{
	const RsJson *stops = segment ? rs_json_get(segment, "schedule_location") : NULL;

	if (stops == NULL || rs_json_type(stops) == RS_JSON_NULL)
		return NULL;
	if (rs_json_type(stops) != RS_JSON_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("field \"schedule_location\" is a JSON %s, not an array",
						rs_json_type_name(stops))));
	return stops;
}

/*
 * schedule_with_stops
 *		The rows of a created schedule in either dialect: row (the schedule,
 *		holding what only the dialect knows) completed with the key, the
 *		schedule's and the segment's fields, the decoded code lists, the
 *		number of stops, the origin (first calling point) and destination
 *		(last one); then the deletion of its calling points and each again.
 */
static List *
schedule_with_stops(const ScheduleDialect *dialect, RsRow *row,
					const char *key, const RsJson *schedule,
					const RsJson *segment, const RsJson *stops)
{
	size_t		count = stops ? rs_json_size(stops) : 0;
	RsRow	   *clear;
	List	   *rows;

	rs_row_add_text(row, "schedule_key", key);
	add_dialect_fields(dialect, row, schedule, dialect->schedule_fields);
	if (segment != NULL)
		add_dialect_fields(dialect, row, segment, segment_fields);
	rs_row_add_text(row, "train_status_desc",
					rs_decode(RS_CODES_TRAIN_STATUS,
							  dialect_text(dialect, schedule, "train_status")));
	for (size_t i = 0; i < lengthof(schedule_decodes); i++)
		rs_row_add_text(row, schedule_decodes[i].column,
						rs_decode(schedule_decodes[i].list,
								  segment ? code_text(dialect, segment,
													  schedule_decodes[i].field) : NULL));
	rs_row_add(row, "num_stops", INT4OID, Int32GetDatum((int32) count), false);
	if (count > 0)
	{
		add_end_point(dialect, row, rs_json_at(stops, 0), "origin", true);
		add_end_point(dialect, row, rs_json_at(stops, count - 1), "destination", false);
	}

	clear = rs_row_new(RS_ROW_DELETE, rs_rail_relid("schedule_locations"), 1);
	rs_row_add_text(clear, "schedule_key", key);
	rows = list_make2(row, clear);
	for (size_t i = 0; i < count; i++)
		rows = lappend(rows, location_row(dialect, key, i + 1, count,
										  rs_json_at(stops, i)));
	return rows;
}

/*
 * <prefix>_tiploc, its working and public time (of departure at the
 * origin, of arrival at the destination) and its platform
 */
static void
add_end_point(const ScheduleDialect *dialect, RsRow *row,
			  const RsJson *location, const char *prefix, bool origin)
{
	const char *event = origin ? "departure" : "arrival";
	const char *public_event = origin ? "public_departure" : "public_arrival";
	bool		isnull;
	Datum		t;

	rs_row_add_text(row, psprintf("%s_tiploc", prefix), dialect->tiploc(location));
	t = schedule_time(dialect, location, time_of(dialect, event), &isnull);
	rs_row_add(row, psprintf("%s_%s", prefix, event), TIMEOID, t, isnull);
	t = schedule_time(dialect, location, time_of(dialect, public_event), &isnull);
	rs_row_add(row, psprintf("%s_%s", prefix, public_event), TIMEOID, t, isnull);
	rs_row_add_text(row, psprintf("%s_platform", prefix),
					dialect_text(dialect, location, dialect->platform));
}

/*
 * One calling point of a schedule, numbered from 1 to count in running
 * order.  A dialect without record types (VSTP) gets CIF's: LO for the
 * origin, LI for the intermediate points, LT for the terminus.
 */
static RsRow *
location_row(const ScheduleDialect *dialect, const char *key, int seq,
			 int count, const RsJson *location)
{
	RsRow	   *row = rs_row_new(RS_ROW_UPSERT, rs_rail_relid("schedule_locations"), 20);

	rs_row_add_text(row, "schedule_key", key);
	rs_row_add(row, "seq", INT4OID, Int32GetDatum(seq), false);
	rs_row_add_text(row, "tiploc_code", dialect->tiploc(location));
	if (dialect->typed_by_order)
	{
		const char *type = seq == 1 ? "LO" : seq == count ? "LT" : "LI";

		rs_row_add_text(row, "location_type", type);
		rs_row_add_text(row, "record_identity", type);
	}
	add_dialect_fields(dialect, row, location, dialect->location_fields);
	for (const ScheduleTime *time = dialect->times; time->field != NULL; time++)
	{
		bool		isnull;
		Datum		t = schedule_time(dialect, location, time, &isnull);

		rs_row_add(row, time->column, TIMEOID, t, isnull);
	}
	return row;
}

/*
 * A calling point's time: "HHMM" or "HHMMH" (half a minute past), and in
 * VSTP also "HHMMSS", where a public time of "00" means none.
 */
static Datum
schedule_time(const ScheduleDialect *dialect, const RsJson *location,
			  const ScheduleTime *time, bool *isnull)
{
	char	   *text = dialect_text(dialect, location, time->field);
	TimeADT		t;

	*isnull = (text == NULL ||
			   (dialect->public_zero && time->public_time && strcmp(text, "00") == 0));
	if (*isnull)
		return (Datum) 0;
	if (rs_parse_cif_time(text, &t) ||
		(dialect->seconds && rs_parse_hhmmss(text, &t)))
		return TimeADTGetDatum(t);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
			 errmsg("invalid value for field \"%s\": \"%s\"", time->field, text),
			 errdetail("%s", dialect->time_form)));
	return (Datum) 0;			/* keep compiler quiet */
}

/* The dialect's time for a column of rail.schedule_locations */
static const ScheduleTime *
time_of(const ScheduleDialect *dialect, const char *column)
{
	for (const ScheduleTime *time = dialect->times; time->field != NULL; time++)
	{
		if (strcmp(time->column, column) == 0)
			return time;
	}
	elog(ERROR, "no time for column \"%s\" in %s", column, dialect->feed);
	return NULL;				/* keep compiler quiet */
}

/* A field's text: NULL when missing, null, empty or (VSTP) blank. */
static char *
dialect_text(const ScheduleDialect *dialect, const RsJson *object,
			 const char *name)
{
	char	   *text = rs_field_text(object, name);

	if (dialect->blanks && text != NULL && strspn(text, " ") == strlen(text))
		return NULL;
	return text;
}

/*
 * A code to decode: CIF's "" is a code of its own (a train class of "" is
 * "First and standard"); VSTP's blanks are no code at all.
 */
static char *
code_text(const ScheduleDialect *dialect, const RsJson *object,
		  const char *name)
{
	const RsJson *node;

	if (dialect->blanks)
		return dialect_text(dialect, object, name);
	node = rs_json_get(object, name);
	return node ? rs_json_scalar_text(node) : NULL;
}

static void
add_dialect_fields(const ScheduleDialect *dialect, RsRow *row,
				   const RsJson *object, const RsField *fields)
{
	if (dialect->blanks)
		rs_add_blank_fields(row, object, fields);
	else
		rs_add_fields(row, object, fields);
}

/* A calling point, which must be an object */
static const RsJson *
location_object(const RsJson *location)
{
	if (rs_json_type(location) != RS_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("schedule location is a JSON %s, not an object",
						rs_json_type_name(location))));
	return location;
}

/* A CIF calling point's TIPLOC, tiploc_code */
static char *
cif_tiploc(const RsJson *location)
{
	char	   *code = rs_field_text(location_object(location), "tiploc_code");

	if (code == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("required field \"%s\" is missing or empty", "tiploc_code")));
	return code;
}

/*
 * vstp_transform
 *		The rows that one VSTP message writes or deletes.
 */
static List *
vstp_transform(const RsFeed *feed, const RsJson *message, const char *key)
{
	const RsJson *wrapper;
	const RsJson *schedule;
	const RsJson *segment;
	Oid			relid = rs_rail_relid("schedules");
	char	   *schedule_key;
	char	   *atoc;
	RsRow	   *row;

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

	schedule_key = complete_key("VSTP",
								dialect_text(&vstp_dialect, schedule, "CIF_train_uid"),
								dialect_text(&vstp_dialect, schedule, "schedule_start_date"),
								dialect_text(&vstp_dialect, schedule, "CIF_stp_indicator"));
	if (is_delete(schedule))
		return delete_schedule(relid, schedule_key);

	segment = vstp_segment(schedule);
	row = rs_row_new(RS_ROW_UPSERT, relid, 64);
	/* atoc_code is in the segment in VSTP, beside the schedule in CIF */
	atoc = dialect_text(&vstp_dialect, schedule, "atoc_code");
	if (atoc == NULL && segment != NULL)
		atoc = dialect_text(&vstp_dialect, segment, "atoc_code");
	rs_row_add_text(row, "atoc_code", atoc);
	if (segment != NULL)
		rs_add_blank_fields(row, segment, vstp_segment_extra_fields);
	return schedule_with_stops(&vstp_dialect, row, schedule_key, schedule,
							   segment, segment_stops(segment));
}

/* A VSTP schedule's one segment, in an array (an object is taken too) */
static const RsJson *
vstp_segment(const RsJson *schedule)
{
	const RsJson *segments = rs_json_get(schedule, "schedule_segment");
	const RsJson *segment = NULL;

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
	return segment;
}

/* A VSTP calling point's TIPLOC, location.tiploc.tiploc_id */
static char *
vstp_tiploc(const RsJson *location)
{
	const RsJson *where = rs_field_object(location_object(location), "location");
	const RsJson *tiploc = where ? rs_field_object(where, "tiploc") : NULL;
	char	   *code = tiploc ? dialect_text(&vstp_dialect, tiploc, "tiploc_id") : NULL;

	if (code == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("VSTP schedule location has no TIPLOC"),
				 errdetail("A calling point names its TIPLOC as location.tiploc.tiploc_id.")));
	return code;
}
