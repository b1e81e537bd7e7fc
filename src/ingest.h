/*-------------------------------------------------------------------------
 *
 * ingest.h
 *	  Run one message through transform and sink; keep what fails.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/ingest.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_INGEST_H
#define RAIL_STREAM_INGEST_H

#include "common/cryptohash.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "transform.h"

/* A message and where it came from */
typedef struct RsMessage
{
	RsFeed		feed;			/* parsed by rs_feed_parse */
	const char *data;			/* the value, not NUL-terminated */
	size_t		len;
	bool		raise_errors;	/* raise the message's error, keep no dead letter */

	/*
	 * A value too large to read whole (ingest_message() of a huge argument)
	 * is given as a prefix in data/len, with its whole length and SHA-256
	 * here; total_len is 0 when data holds the whole value.
	 */
	size_t		total_len;
	const uint8 *sha256;
	bool		isnull;			/* no value: a tombstone */
	const char *key;			/* NUL-terminated, or NULL */

	/* Kafka origin: topic is NULL for messages given to ingest_message() */
	const char *subscription;
	const char *topic;
	int32		partition;
	int64		offset;
	TimestampTz timestamp;
	Jsonb	   *headers;		/* or NULL */

	/* set by ingest: the latest msg_queue_timestamp written, or 0 */
	TimestampTz event_time;
} RsMessage;

/* A batch ends at this many bytes of values, whatever batch_size says */
#define RS_BATCH_MAX_BYTES		(4 * 1024 * 1024)

extern uint64 rs_ingest(RsMessage *msg, int *dead_letters);
extern uint64 rs_ingest_batch(RsMessage *msgs, int n, int *dead_letters);
extern void rs_check_sql_version(void);
extern pg_cryptohash_ctx *rs_sha256_begin(void);
extern void rs_sha256_add(pg_cryptohash_ctx *ctx, const char *data, size_t len);
extern void rs_sha256_end(pg_cryptohash_ctx *ctx, uint8 *digest);
extern void rs_sha256(const char *data, size_t len, uint8 *digest);

#endif							/* RAIL_STREAM_INGEST_H */
