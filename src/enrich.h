/*-------------------------------------------------------------------------
 *
 * enrich.h
 *	  What the enrichment triggers (enrich.c) and the back-fill of late
 *	  activations and schedules (backfill.c) agree on.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/enrich.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_ENRICH_H
#define RAIL_STREAM_ENRICH_H

#include "datatype/timestamp.h"

/* the schedule_key of a movement whose activation is unknown (the talk's) */
#define RS_NO_ACTIVATION "no_schedule_activation_found"

extern bool rs_same_run(TimestampTz activation, TimestampTz message);

#endif							/* RAIL_STREAM_ENRICH_H */
