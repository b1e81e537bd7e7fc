/*-------------------------------------------------------------------------
 *
 * sink.h
 *	  Write transformed rows into their tables through SPI.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/sink.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_SINK_H
#define RAIL_STREAM_SINK_H

#include "executor/spi.h"

#include "transform.h"

extern uint64 rs_sink_write(const RsRow *row);
extern SPIPlanPtr rs_keep_plan(const char *sql, int nargs, Oid *argtypes);

#endif							/* RAIL_STREAM_SINK_H */
