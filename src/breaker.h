/*-------------------------------------------------------------------------
 *
 * breaker.h
 *	  A circuit breaker per alert destination, for the alert sender.
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

/* What a request's outcome says of its endpoint */
typedef enum RsBreakerSignal
{
	RS_ANSWERED,				/* it answers (2xx, 3xx, 4xx but 408/429; a
								 * record acknowledged or refused) */
	RS_UNANSWERED,				/* no connection, timeout, 408 or 5xx; a
								 * record not acknowledged */
	RS_SLOW_DOWN				/* 429 */
} RsBreakerSignal;

extern RsEndpoint *rs_breaker_endpoint(const char *url, const char *topic,
									   const char *brokers);
extern bool rs_breaker_allows(RsEndpoint *ep, int64 alert_id, TimestampTz now,
							  int64 *hold_ms);
extern void rs_breaker_result(RsEndpoint *ep, int64 alert_id,
							  RsBreakerSignal signal, TimestampTz now);
extern void rs_breaker_apply(void);

#endif							/* RAIL_STREAM_BREAKER_H */
