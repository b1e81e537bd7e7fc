/*-------------------------------------------------------------------------
 *
 * http_client.h
 *	  Many HTTP POSTs in flight at once, waited on together with the latch;
 *	  and single GETs that wait for their answer.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/http_client.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_HTTP_CLIENT_H
#define RAIL_STREAM_HTTP_CLIENT_H

#include "lib/stringinfo.h"

#define RS_HTTP_ERROR_LEN	256

typedef struct RsHttpClient RsHttpClient;

/* One request: JSON posted to url, with an Idempotency-Key header */
typedef struct RsHttpRequestSpec
{
	int64		id;				/* the caller's, returned with the result */
	int			attempt;		/* the caller's, returned with the result */
	const char *url;
	const char *body;
	const char *idempotency_key;
	int			connect_timeout_ms;
	int			timeout_ms;
	void	   *arg;			/* the caller's, returned with the result */
} RsHttpRequestSpec;

/* How one request ended */
typedef struct RsHttpResult
{
	int64		id;
	int			attempt;
	void	   *arg;
	bool		transport_error;	/* no HTTP response (connect, timeout...) */
	int			status;			/* HTTP status, 0 without a response */
	int64		retry_after_s;	/* the response's Retry-After, -1 if none */
	char		error[RS_HTTP_ERROR_LEN];	/* empty after a 2xx */
} RsHttpResult;

/* One GET, waited for: of a schema registry */
typedef struct RsHttpGetSpec
{
	const char *url;
	const char *username;		/* basic authentication, or NULL */
	const char *password;
	int			connect_timeout_ms;
	int			timeout_ms;
	size_t		max_len;		/* a longer response is an error */
} RsHttpGetSpec;

extern void rs_http_get(const RsHttpGetSpec *spec, StringInfo body,
						RsHttpResult *result);
extern RsHttpClient *rs_http_create(MemoryContext parent);
extern void rs_http_post(RsHttpClient *client, const RsHttpRequestSpec *spec);
extern int	rs_http_in_flight(RsHttpClient *client);
extern int	rs_http_wait(RsHttpClient *client, long timeout_ms, int other_fd,
						 uint32 wait_event_info);
extern bool rs_http_next_result(RsHttpClient *client, RsHttpResult *result);
extern bool rs_http_url_host(const char *url, char *host, size_t len,
							 int *port);

#endif							/* RAIL_STREAM_HTTP_CLIENT_H */
