/*-------------------------------------------------------------------------
 *
 * breaker.h
 *	  A circuit breaker per webhook endpoint, for the alert sender.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/breaker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_BREAKER_H
#define RAIL_STREAM_BREAKER_H

#include "datatype/timestamp.h"

typedef struct RsEndpoint RsEndpoint;

extern RsEndpoint *rs_breaker_endpoint(const char *url);
extern bool rs_breaker_allows(RsEndpoint *ep, TimestampTz now, int64 *hold_ms);
extern void rs_breaker_result(RsEndpoint *ep, bool answered, TimestampTz now);
extern void rs_breaker_apply(void);

#endif							/* RAIL_STREAM_BREAKER_H */
