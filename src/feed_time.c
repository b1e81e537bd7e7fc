/*-------------------------------------------------------------------------
 *
 * feed_time.c
 *	  The feeds' time formats, converted to PostgreSQL datetime types.
 *
 * TRUST writes every time as milliseconds since the Unix epoch, but only the
 * header's msg_queue_timestamp is a true UTC instant.  The event times of the
 * bodies (actual, planned, GBTT, departure, cancellation, ...) are the UK's
 * wall-clock time encoded as if it were UTC: during British Summer Time they
 * run an hour ahead of the instant they describe.  rs_local_ms_to_timestamptz
 * reads such a value as a wall-clock time in Europe/London and returns the
 * instant, so that a timestamptz column shows the right time in any session
 * time zone.  In the hour that repeats when the clocks go back, the wall-clock
 * time is ambiguous; PostgreSQL's own rule for ambiguous input applies.
 *
 * CIF times are "HHMM" with an optional "H" meaning half a minute later.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/feed_time.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "feed_time.h"

/* microseconds between the Unix epoch and PostgreSQL's (2000-01-01) */
#define RS_EPOCH_SHIFT_USEC \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

static pg_tz *
feed_zone(void)
{
	static pg_tz *zone = NULL;

	if (zone == NULL)
	{
		zone = pg_tzset(RS_FEED_TIMEZONE);
		if (zone == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("time zone \"%s\" is not available", RS_FEED_TIMEZONE),
					 errhint("The server's time zone data must include Europe/London.")));
	}
	return zone;
}

/* Epoch milliseconds to a timestamp, checking the range. */
static Timestamp
ms_to_timestamp(int64 ms)
{
	Timestamp	result;

	if (ms < -(INT64CONST(1) << 53) || ms > (INT64CONST(1) << 53))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range: %lld milliseconds since the epoch",
						(long long) ms)));
	result = ms * 1000 - RS_EPOCH_SHIFT_USEC;
	if (!IS_VALID_TIMESTAMP(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range: %lld milliseconds since the epoch",
						(long long) ms)));
	return result;
}

/* A true UTC instant, as msg_queue_timestamp. */
TimestampTz
rs_utc_ms_to_timestamptz(int64 ms)
{
	return (TimestampTz) ms_to_timestamp(ms);
}

/* An instant as milliseconds since the Unix epoch, as Kafka writes times. */
int64
rs_timestamptz_to_utc_ms(TimestampTz t)
{
	return (t + RS_EPOCH_SHIFT_USEC) / 1000;
}

/*
 * rs_local_ms_to_timestamptz
 *		An event time: UK wall-clock time written as if it were UTC.
 */
TimestampTz
rs_local_ms_to_timestamptz(int64 ms)
{
	Timestamp	wallclock = ms_to_timestamp(ms);
	struct pg_tm tm;
	fsec_t		fsec;
	int			offset;
	TimestampTz result;

	if (timestamp2tm(wallclock, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range: %lld milliseconds since the epoch",
						(long long) ms)));
	offset = DetermineTimeZoneOffset(&tm, feed_zone());
	if (tm2timestamp(&tm, fsec, &offset, &result) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range: %lld milliseconds since the epoch",
						(long long) ms)));
	return result;
}

/*
 * rs_parse_hhmmss
 *		"085130" (VSTP) to a time; false if text is malformed.
 */
bool
rs_parse_hhmmss(const char *text, TimeADT *result)
{
	int			hours,
				minutes,
				seconds;

	if (strlen(text) != 6 || strspn(text, "0123456789") != 6)
		return false;
	hours = (text[0] - '0') * 10 + (text[1] - '0');
	minutes = (text[2] - '0') * 10 + (text[3] - '0');
	seconds = (text[4] - '0') * 10 + (text[5] - '0');
	if (hours > 23 || minutes > 59 || seconds > 59)
		return false;
	*result = ((hours * INT64CONST(60) + minutes) * 60 + seconds) * USECS_PER_SEC;
	return true;
}

/*
 * rs_parse_cif_time
 *		"0851" or "0851H" (08:51:30) to a time; false if text is malformed.
 */
bool
rs_parse_cif_time(const char *text, TimeADT *result)
{
	int			hours,
				minutes,
				seconds = 0;
	size_t		len = strlen(text);

	if (len != 4 && !(len == 5 && text[4] == 'H'))
		return false;
	for (int i = 0; i < 4; i++)
	{
		if (text[i] < '0' || text[i] > '9')
			return false;
	}
	hours = (text[0] - '0') * 10 + (text[1] - '0');
	minutes = (text[2] - '0') * 10 + (text[3] - '0');
	if (len == 5)
		seconds = 30;
	if (hours > 23 || minutes > 59)
		return false;
	*result = ((hours * INT64CONST(60) + minutes) * 60 + seconds) * USECS_PER_SEC;
	return true;
}
