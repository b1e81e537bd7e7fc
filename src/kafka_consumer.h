/*-------------------------------------------------------------------------
 *
 * kafka_consumer.h
 *	  A Kafka consumer for one ingest worker, over librdkafka.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/kafka_consumer.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_KAFKA_CONSUMER_H
#define RAIL_STREAM_KAFKA_CONSUMER_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef struct RsKafkaConsumer RsKafkaConsumer;

/* A fetched message; the bytes belong to the consumer until released. */
typedef struct RsKafkaMessage
{
	int32		partition;
	int64		offset;
	const char *value;
	size_t		len;			/* value is NULL for a tombstone */
	const char *key;
	size_t		keylen;			/* key is NULL if the message has none */
	int64		timestamp_ms;	/* -1 if the message has none */
	void	   *handle;
} RsKafkaMessage;

/* "Next offset" values that name a position instead of an offset */
#define RS_OFFSET_BEGINNING	(-2)
#define RS_OFFSET_END		(-1)

extern RsKafkaConsumer *rs_kafka_create(const char *brokers, const char *group,
										const char *topic, Jsonb *properties,
										int queue_kbytes);
extern void rs_kafka_destroy(RsKafkaConsumer *consumer);
extern int	rs_kafka_partition_count(RsKafkaConsumer *consumer, int timeout_ms);
extern void rs_kafka_assign(RsKafkaConsumer *consumer, int n,
							const int32 *partitions, const int64 *offsets);
extern bool rs_kafka_offsets_for_time(RsKafkaConsumer *consumer, int n,
									  const int32 *partitions, int64 time_ms,
									  int64 *offsets, int timeout_ms);
extern int	rs_kafka_poll(RsKafkaConsumer *consumer, RsKafkaMessage *messages,
						  int max);
extern int	rs_kafka_wake_fd(RsKafkaConsumer *consumer);
extern void rs_kafka_release(RsKafkaMessage *messages, int n);
extern void rs_kafka_commit(RsKafkaConsumer *consumer, int n,
							const int32 *partitions, const int64 *next_offsets);
extern bool rs_kafka_commit_failed(RsKafkaConsumer *consumer);
extern bool rs_kafka_watermarks(RsKafkaConsumer *consumer, int32 partition,
								int64 *low, int64 *high, int timeout_ms);
extern int64 rs_kafka_high_watermark(RsKafkaConsumer *consumer, int32 partition);
extern Jsonb *rs_kafka_headers(const RsKafkaMessage *message);
extern void rs_kafka_report(RsKafkaConsumer *consumer);
extern const char *rs_kafka_take_error(RsKafkaConsumer *consumer);
extern void rs_kafka_check_property(const char *name, const char *value);

#endif							/* RAIL_STREAM_KAFKA_CONSUMER_H */
