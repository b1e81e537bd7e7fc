/*-------------------------------------------------------------------------
 *
 * sink.h
 *	  Write the rows of a batch into their tables, one statement per group.
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

/* Rows waiting to be written; see sink.c */
typedef struct RsSink RsSink;

extern RsSink *rs_sink_create(void);
extern void rs_sink_add(RsSink *sink, const RsRow *row);
extern bool rs_sink_is_full(const RsSink *sink);
extern uint64 rs_sink_flush(RsSink *sink);
extern void rs_sink_discard(RsSink *sink);

#endif							/* RAIL_STREAM_SINK_H */
