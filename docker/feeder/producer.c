/*-------------------------------------------------------------------------
 *
 * producer.c
 *	  librdkafka: the idempotent producer, and reading back a topic's tail.
 *
 * The producer is idempotent (enable.idempotence, hence acks=all and
 * in-order retries): a message the client retried after a lost response is
 * written once, and the messages of one partition keep the order in which
 * they were produced.  message.timeout.ms is 0 (no timeout): while Kafka is
 * away, messages wait in librdkafka's queue, librdkafka reconnects by
 * itself, and no delivery report says "failed" for a message that might
 * still get written.  A delivery report (ok or why not, partition and
 * offset) reaches the caller's DeliveryFn from producer_poll(), on the
 * caller's thread, with the opaque pointer given to producer_send(); the
 * caller acknowledges its source only then.
 * A fatal idempotence error (producer fenced, sequence out of order) is
 * reported by producer_fatal(); the caller must stop.
 *
 * producer_read_tail() is the other half of exactly once across a crash:
 * with a short-lived consumer (no group, nothing committed) it reads the
 * last `depth` messages of each partition of a topic and hands one header's
 * value of each to a callback.  live.c feeds those to its set of ids
 * already produced.
 *
 * This is the only file that includes librdkafka's header.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/producer.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "feeder.h"

struct Producer
{
	rd_kafka_t *rk;
	DeliveryFn	fn;
	void	   *arg;
};

/* librdkafka's log lines go to our log, in our wording */
static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void) rk;
	if (level <= 3)
		log_debug("kafka: %s: %s", fac, buf);
}

/* Delivery report: hand the outcome to the caller's function */
static void
dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	Producer   *p = opaque;
	DeliveryReport dr;

	(void) rk;
	dr.ok = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR;
	dr.errstr = rd_kafka_err2str(msg->err);
	dr.partition = msg->partition;
	dr.offset = msg->offset;
	p->fn(msg->_private, &dr, p->arg);
}

/* rd_kafka_conf_set, with the failure in err */
static bool
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
		 char *err, size_t errlen)
{
	char		errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) !=
		RD_KAFKA_CONF_OK)
	{
		snprintf(err, errlen, "invalid Kafka setting \"%s\": %s", name, errstr);
		return false;
	}
	return true;
}

Producer *
producer_create(const char *bootstrap, DeliveryFn fn, void *arg,
				char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	Producer   *p = xmalloc(sizeof(Producer));
	char		errstr[512];

	p->fn = fn;
	p->arg = arg;
	if (!conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) ||
		!conf_set(conf, "client.id", "rail_stream_feeder", err, errlen) ||
		!conf_set(conf, "enable.idempotence", "true", err, errlen) ||
		!conf_set(conf, "acks", "all", err, errlen) ||
		!conf_set(conf, "message.timeout.ms", "0", err, errlen) ||
		!conf_set(conf, "linger.ms", "5", err, errlen) ||
		!conf_set(conf, "compression.type", "lz4", err, errlen) ||
		!conf_set(conf, "message.max.bytes", "16777216", err, errlen) ||
		!conf_set(conf, "reconnect.backoff.max.ms", "10000", err, errlen))
	{
		rd_kafka_conf_destroy(conf);
		free(p);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (p->rk == NULL)
	{
		snprintf(err, errlen, "could not create Kafka producer: %s", errstr);
		rd_kafka_conf_destroy(conf);
		free(p);
		return NULL;
	}
	return p;
}

/*
 * Queue one message.  Returns 0 when queued, 1 when librdkafka's queue is
 * full (poll, then try again), -1 on an error (in err).
 */
int
producer_send(Producer *p, const char *topic, const char *key, size_t keylen,
			  const char *value, size_t len, const ProducerHeader *headers,
			  int nheaders, void *msg_opaque, char *err, size_t errlen)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t rc;
	int			i;

	if (nheaders > 0)
	{
		hdrs = rd_kafka_headers_new(nheaders);
		for (i = 0; i < nheaders; i++)
			rd_kafka_header_add(hdrs, headers[i].name, -1,
								headers[i].value, -1);
	}
	rc = rd_kafka_producev(p->rk,
						   RD_KAFKA_V_TOPIC(topic),
						   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						   RD_KAFKA_V_KEY((void *) key, keylen),
						   RD_KAFKA_V_VALUE((void *) value, len),
						   RD_KAFKA_V_HEADERS(hdrs),
						   RD_KAFKA_V_OPAQUE(msg_opaque),
						   RD_KAFKA_V_END);
	if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;				/* librdkafka owns hdrs now */
	if (hdrs)
		rd_kafka_headers_destroy(hdrs);
	if (rc == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return 1;
	snprintf(err, errlen, "could not produce to Kafka topic \"%s\": %s",
			 topic, rd_kafka_err2str(rc));
	return -1;
}

void
producer_poll(Producer *p, int timeout_ms)
{
	rd_kafka_poll(p->rk, timeout_ms);
}

int
producer_in_flight(Producer *p)
{
	return rd_kafka_outq_len(p->rk);
}

/* Wait for every queued message's delivery report; false on timeout */
bool
producer_flush(Producer *p, int timeout_ms)
{
	return rd_kafka_flush(p->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* True if the idempotent producer hit a fatal error (message in err) */
bool
producer_fatal(Producer *p, char *err, size_t errlen)
{
	char		errstr[512];

	if (rd_kafka_fatal_error(p->rk, errstr, sizeof(errstr)) ==
		RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	snprintf(err, errlen, "Kafka producer failed: %s", errstr);
	return true;
}

void
producer_destroy(Producer *p)
{
	if (p == NULL)
		return;
	rd_kafka_destroy(p->rk);
	free(p);
}

/* Hand the value of header `name` of msg, if any, to fn */
static void
tail_message(const rd_kafka_message_t *msg, const char *name, TailFn fn,
			 void *arg)
{
	rd_kafka_headers_t *hdrs;
	const void *value;
	size_t		size;

	if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (rd_kafka_header_get_last(hdrs, name, &value, &size) ==
		RD_KAFKA_RESP_ERR_NO_ERROR && value != NULL)
		fn(value, size, arg);
}

/* The partitions of topic, their count in *n; NULL if it does not exist */
static int32_t *
topic_partitions(rd_kafka_t *rk, const char *topic, int *n, int timeout_ms,
				 char *err, size_t errlen)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t rc;
	int32_t    *parts = NULL;
	int			i;

	*n = 0;
	rc = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
	rd_kafka_topic_destroy(rkt);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		snprintf(err, errlen, "could not get metadata of Kafka topic \"%s\": %s",
				 topic, rd_kafka_err2str(rc));
		return NULL;
	}
	if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		*n = md->topics[0].partition_cnt;
		parts = xmalloc(sizeof(int32_t) * (*n + 1));
		for (i = 0; i < *n; i++)
			parts[i] = md->topics[0].partitions[i].id;
	}
	rd_kafka_metadata_destroy(md);
	return parts;
}

/*
 * Read the last `depth` messages of each partition of topic and pass the
 * value of header `header` of each to fn.  Returns the number of messages
 * read, or -1 on an error (Kafka unreachable: in err).  A topic that does
 * not exist yet has no tail: 0.
 */
int
producer_read_tail(const char *bootstrap, const char *topic,
				   const char *header, int depth, int timeout_ms,
				   TailFn fn, void *arg, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *assign;
	int32_t    *parts;
	int64_t    *ends;
	int			nparts;
	int			remaining = 0;
	int			nread = 0;
	int64_t		deadline = now_ms() + timeout_ms;
	char		errstr[512];
	int			i;

	if (!conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) ||
		!conf_set(conf, "group.id", "rail_stream_feeder_tail", err, errlen) ||
		!conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
		!conf_set(conf, "enable.partition.eof", "true", err, errlen) ||
		!conf_set(conf, "allow.auto.create.topics", "false", err, errlen))
	{
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		snprintf(err, errlen, "could not create Kafka consumer: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return -1;
	}

	parts = topic_partitions(rk, topic, &nparts, timeout_ms, err, errlen);
	if (parts == NULL)
	{
		rd_kafka_destroy(rk);
		return nparts == 0 && err[0] == '\0' ? 0 : -1;
	}

	/* start each partition `depth` before its end; remember the end */
	ends = xmalloc(sizeof(int64_t) * nparts);
	assign = rd_kafka_topic_partition_list_new(nparts);
	for (i = 0; i < nparts; i++)
	{
		int64_t		lo;
		int64_t		hi;
		rd_kafka_resp_err_t rc;

		rc = rd_kafka_query_watermark_offsets(rk, topic, parts[i], &lo, &hi,
											  timeout_ms);
		if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			snprintf(err, errlen,
					 "could not get offsets of Kafka topic \"%s\" partition %d: %s",
					 topic, parts[i], rd_kafka_err2str(rc));
			nread = -1;
			goto done;
		}
		ends[i] = hi;
		if (hi > lo)
		{
			rd_kafka_topic_partition_list_add(assign, topic, parts[i])->offset =
				hi - depth > lo ? hi - depth : lo;
			remaining++;
		}
	}
	if (remaining > 0)
		rd_kafka_assign(rk, assign);

	while (remaining > 0)
	{
		rd_kafka_message_t *msg;

		if (now_ms() > deadline)
		{
			snprintf(err, errlen,
					 "timed out reading back the tail of Kafka topic \"%s\"",
					 topic);
			nread = -1;
			break;
		}
		msg = rd_kafka_consumer_poll(rk, 200);
		if (msg == NULL)
			continue;
		if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			remaining--;
		else if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			log_debug("reading back \"%s\": %s", topic,
					  rd_kafka_message_errstr(msg));
		else
		{
			tail_message(msg, header, fn, arg);
			nread++;
			for (i = 0; i < nparts; i++)
				if (parts[i] == msg->partition && msg->offset + 1 >= ends[i])
					ends[i] = -1;	/* reached: EOF follows */
		}
		rd_kafka_message_destroy(msg);
	}

done:
	rd_kafka_topic_partition_list_destroy(assign);
	free(ends);
	free(parts);
	rd_kafka_destroy(rk);
	return nread;
}
