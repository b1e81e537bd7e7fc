/*-------------------------------------------------------------------------
 *
 * feed_time.h
 *	  The feeds' time formats, converted to PostgreSQL datetime types.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/feed_time.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_FEED_TIME_H
#define RAIL_STREAM_FEED_TIME_H

#include "datatype/timestamp.h"
#include "utils/date.h"

/* The zone whose wall-clock time TRUST writes as if it were UTC. */
#define RS_FEED_TIMEZONE "Europe/London"

extern TimestampTz rs_utc_ms_to_timestamptz(int64 ms);
extern TimestampTz rs_local_ms_to_timestamptz(int64 ms);
extern int64 rs_timestamptz_to_utc_ms(TimestampTz t);
extern bool rs_parse_hhmmss(const char *text, TimeADT *result);
extern bool rs_parse_cif_time(const char *text, TimeADT *result);

#endif							/* RAIL_STREAM_FEED_TIME_H */
