/*-------------------------------------------------------------------------
 *
 * kafka.h
 *	  Kafka over librdkafka: the ingest workers' consumer, the alert
 *	  sender's producers, and the librdkafka properties either may set.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/kafka.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_KAFKA_H
#define RAIL_STREAM_KAFKA_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#define RS_KAFKA_ERROR_LEN	256

/* Who sets a librdkafka property: some settings are for one side only */
typedef enum RsKafkaClient
{
	RS_KAFKA_CONSUMER,			/* a subscription's */
	RS_KAFKA_PRODUCER			/* an alert rule's */
} RsKafkaClient;

extern void rs_kafka_check_property(const char *name, const char *value,
									RsKafkaClient client);

/* The consumer of an ingest worker */

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

/* The producers of the alert sender, one per destination */

typedef struct RsKafkaProducers RsKafkaProducers;

/* The header that carries a record's idempotency key */
#define RS_KAFKA_IDEMPOTENCY_HEADER "Idempotency-Key"

/* One record to produce */
typedef struct RsKafkaRecordSpec
{
	int64		id;				/* the caller's, returned with the delivery */
	int			attempt;		/* the caller's, returned with the delivery */
	void	   *arg;			/* the caller's, returned with the delivery */
	const char *brokers;
	Jsonb	   *properties;		/* a rule's librdkafka properties, or NULL */
	const char *topic;
	const char *key;
	const char *value;
	const char *idempotency_key;
	int			timeout_ms;		/* from produce to acknowledgement */
} RsKafkaRecordSpec;

/* How a record's delivery ended */
typedef enum RsKafkaOutcome
{
	RS_KAFKA_DELIVERED,			/* acknowledged by every in-sync replica */
	RS_KAFKA_UNDELIVERED,		/* no acknowledgement: may be retried */
	RS_KAFKA_REFUSED			/* refused for good: too large, not allowed */
} RsKafkaOutcome;

typedef struct RsKafkaDelivery
{
	int64		id;
	int			attempt;
	void	   *arg;
	RsKafkaOutcome outcome;
	char		error[RS_KAFKA_ERROR_LEN];	/* empty when delivered */
} RsKafkaDelivery;

extern RsKafkaProducers *rs_kafka_producers_create(MemoryContext parent);
extern void rs_kafka_produce(RsKafkaProducers *producers,
							 const RsKafkaRecordSpec *spec);
extern int	rs_kafka_producers_in_flight(RsKafkaProducers *producers);
extern int	rs_kafka_producers_wake_fd(RsKafkaProducers *producers);
extern void rs_kafka_producers_serve(RsKafkaProducers *producers);
extern bool rs_kafka_next_delivery(RsKafkaProducers *producers,
								   RsKafkaDelivery *delivery);
extern void rs_kafka_producers_close(RsKafkaProducers *producers);

#endif							/* RAIL_STREAM_KAFKA_H */
