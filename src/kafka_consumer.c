/*-------------------------------------------------------------------------
 *
 * kafka_consumer.c
 *	  A Kafka consumer for one ingest worker, over librdkafka.
 *
 * This is the only file that knows about librdkafka.  librdkafka runs its
 * own threads, and PostgreSQL's functions must never run on them, so:
 *
 *	- logs go to a queue of their own (log.queue), which the worker drains
 *	  on its main thread in rs_kafka_report();
 *	- the error callback runs inside rd_kafka_consumer_poll() on the main
 *	  thread, but inside librdkafka's code, where an ereport() longjmp would
 *	  be unsafe: it only copies the message into a buffer for later;
 *	- the worker never blocks inside librdkafka to wait for messages: when
 *	  its queue goes from empty to not empty, librdkafka writes a byte to a
 *	  pipe (rd_kafka_queue_io_event_enable), whose read end the worker waits
 *	  on together with its latch (rs_kafka_wake_fd).
 *
 * Partitions are assigned explicitly (rd_kafka_assign), not through the
 * group's rebalance protocol.  A worker owns the partitions p with
 * p % parallelism = its index, and starts each at the offset stored in
 * PostgreSQL, so no two workers ever write the same partition and no
 * rebalance can interleave with a commit.  The group.id is still set, and
 * offsets are committed to it after each database commit, so that Kafka's
 * lag tools (kafka-consumer-groups, Burrow) see the subscription's progress.
 *
 * A subscription may set only the librdkafka properties listed in
 * allowed_properties: connection, security (PEM strings, not files) and
 * fetch settings.  Others would load libraries (plugin.library.paths), run
 * commands (sasl.kerberos.kinit.cmd) or read files (ssl.*.location) as the
 * server's OS user, or break the offsets kept in PostgreSQL.  The list is
 * checked when a subscription is written (_check_kafka_property) and again
 * here before any property reaches librdkafka, whatever wrote the row.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/kafka_consumer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "kafka_consumer.h"

struct RsKafkaConsumer
{
	rd_kafka_t *rk;
	rd_kafka_queue_t *log_queue;
	rd_kafka_queue_t *queue;	/* the consumer queue: messages and events */
	int			wake[2];		/* pipe librdkafka writes to when it fills */
	char	   *topic;
	char		error[512];		/* last error from librdkafka, or "" */
	char		cause[512];		/* last error event since the brokers last
								 * answered, or "": why they do not */
	char		broker_failure[256];	/* reason of the last FAIL log line
										 * since then: newer librdkafka says
										 * "authentication failed" there only */
	bool		commit_failed;	/* the last group commit failed */
	bool		assigned;		/* partitions are assigned: polls bring messages */
};

/* how soon librdkafka fetches again once its full queue has room */
#define RS_QUEUE_BACKOFF_MS		20

static const char *const allowed_properties[] = {
	"security.protocol",
	"sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password",
	"ssl.ca.pem", "ssl.certificate.pem", "ssl.key.pem", "ssl.key.password",
	"ssl.endpoint.identification.algorithm",
	"client.id", "client.rack",
	"fetch.wait.max.ms", "fetch.min.bytes", "fetch.max.bytes",
	"fetch.error.backoff.ms", "fetch.queue.backoff.ms",
	"max.partition.fetch.bytes",
	"socket.timeout.ms", "socket.keepalive.enable",
	"socket.connection.setup.timeout.ms",
	"reconnect.backoff.ms", "reconnect.backoff.max.ms",
	"metadata.max.age.ms", "topic.metadata.refresh.interval.ms",
	"api.version.request", "broker.version.fallback",
	"isolation.level", "check.crcs", "debug",
	NULL
};

static void check_allowed(rd_kafka_conf_t *conf, const char *name,
						  const char *value);
static void set_property(rd_kafka_conf_t *conf, const char *name,
						 const char *value);
static void set_properties(rd_kafka_conf_t *conf, Jsonb *properties);
static void set_queue_backoff(rd_kafka_conf_t *conf);
static void error_callback(rd_kafka_t *rk, int err, const char *reason,
						   void *opaque);
static void commit_callback(rd_kafka_t *rk, rd_kafka_resp_err_t err,
							rd_kafka_topic_partition_list_t *offsets,
							void *opaque);
static void enable_wake(RsKafkaConsumer *consumer);
static void note_broker_failure(RsKafkaConsumer *consumer, const char *line);
static void note_message_error(RsKafkaConsumer *consumer,
							   const rd_kafka_message_t *m);
static void drain_wake(RsKafkaConsumer *consumer);

/*
 * rs_kafka_create
 *		A consumer for topic; no partition is assigned yet.
 *
 * properties (a JSON object, may be NULL) hold extra librdkafka settings
 * such as security.protocol; a bad one raises an ERROR naming it.
 */
RsKafkaConsumer *
rs_kafka_create(const char *brokers, const char *group, const char *topic,
				Jsonb *properties, int queue_kbytes)
{
	RsKafkaConsumer *consumer = palloc0(sizeof(RsKafkaConsumer));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char		errstr[512];
	char		kbytes[32];

	set_property(conf, "bootstrap.servers", brokers);
	set_property(conf, "group.id", group);
	set_property(conf, "enable.auto.commit", "false");
	set_property(conf, "enable.auto.offset.store", "false");
	set_property(conf, "enable.partition.eof", "false");
	/* a stored offset out of range is an error to see, not a jump to skip */
	set_property(conf, "auto.offset.reset", "error");
	set_property(conf, "log.queue", "true");
	set_property(conf, "client.id", "rail_stream");
	snprintf(kbytes, sizeof(kbytes), "%d", queue_kbytes);
	set_property(conf, "queued.max.messages.kbytes", kbytes);
	set_queue_backoff(conf);
	set_properties(conf, properties);
	rd_kafka_conf_set_error_cb(conf, error_callback);
	rd_kafka_conf_set_offset_commit_cb(conf, commit_callback);
	rd_kafka_conf_set_opaque(conf, consumer);

	consumer->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (consumer->rk == NULL)
	{
		rd_kafka_conf_destroy(conf);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not create Kafka consumer: %s", errstr)));
	}
	consumer->log_queue = rd_kafka_queue_new(consumer->rk);
	rd_kafka_set_log_queue(consumer->rk, consumer->log_queue);
	rd_kafka_poll_set_consumer(consumer->rk);
	consumer->topic = pstrdup(topic);
	enable_wake(consumer);
	return consumer;
}

/*
 * set_queue_backoff
 *		Fetch again soon after the queue had room again.
 *
 * When the consumer queue holds queued.max.messages.kbytes, librdkafka
 * stops fetching.  Since librdkafka 2.3 it looks again after
 * fetch.queue.backoff.ms (1 s by default); a worker empties a queue of a
 * few megabytes in a fraction of that and would then wait, idle, for the
 * next fetch, so we look again after RS_QUEUE_BACKOFF_MS.  Older versions
 * (Debian 12 has 2.0.2) look again only when the broker's thread next
 * wakes up, up to a second later, with nothing to set: there, only a queue
 * that holds a second's worth of messages keeps the worker busy, which is
 * why rail_stream.queue_kbytes defaults to 32 MB.  A subscription's own
 * setting wins.
 */
static void
set_queue_backoff(rd_kafka_conf_t *conf)
{
	char		ms[16];

	if (rd_kafka_version() < 0x020300ff)
		return;
	snprintf(ms, sizeof(ms), "%d", RS_QUEUE_BACKOFF_MS);
	set_property(conf, "fetch.queue.backoff.ms", ms);
}

/*
 * enable_wake
 *		The pipe that librdkafka writes a byte to when a message or an event
 *		comes to the empty consumer queue.  Both ends are non-blocking: a full
 *		pipe already says what another byte would.
 */
static void
enable_wake(RsKafkaConsumer *consumer)
{
	consumer->wake[0] = consumer->wake[1] = -1;
	if (pipe2(consumer->wake, O_NONBLOCK | O_CLOEXEC) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a pipe for the Kafka consumer: %m")));
	consumer->queue = rd_kafka_queue_get_consumer(consumer->rk);
	rd_kafka_queue_io_event_enable(consumer->queue, consumer->wake[1], "!", 1);
}

/*
 * rs_kafka_wake_fd
 *		The descriptor to wait on (readable) for the next message, once
 *		rs_kafka_poll() has returned fewer than it was asked for.
 */
int
rs_kafka_wake_fd(RsKafkaConsumer *consumer)
{
	return consumer->wake[0];
}

/* Empty the pipe before polling, so that the next byte means a new message. */
static void
drain_wake(RsKafkaConsumer *consumer)
{
	char		buf[64];

	while (read(consumer->wake[0], buf, sizeof(buf)) > 0)
		;
}

static void
set_property(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char		errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
	{
		rd_kafka_conf_destroy(conf);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Kafka property \"%s\": %s", name, errstr)));
	}
}

static void
set_properties(rd_kafka_conf_t *conf, Jsonb *properties)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	char	   *name = NULL;

	if (properties == NULL)
		return;
	it = JsonbIteratorInit(&properties->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (token == WJB_KEY)
			name = pnstrdup(v.val.string.val, v.val.string.len);
		else if (token == WJB_VALUE && v.type == jbvString)
		{
			char	   *value = pnstrdup(v.val.string.val, v.val.string.len);

			check_allowed(conf, name, value);
			set_property(conf, name, value);
		}
		else if (token == WJB_VALUE)
		{
			rd_kafka_conf_destroy(conf);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid Kafka property \"%s\": the value must be a string", name)));
		}
	}
}

/*
 * rs_kafka_check_property
 *		Raise an ERROR if librdkafka would refuse a property; for validating
 *		a subscription's options when it is created.
 */
void
rs_kafka_check_property(const char *name, const char *value)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	check_allowed(conf, name, value);
	set_property(conf, name, value);
	rd_kafka_conf_destroy(conf);
}

/*
 * Raise an ERROR (destroying conf) unless a subscription may set name to
 * value.  SASL mechanisms are PLAIN and SCRAM only: GSSAPI runs
 * sasl.kerberos.kinit.cmd, OAUTHBEARER fetches tokens from URLs.
 */
static void
check_allowed(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	if (strcmp(name, "sasl.mechanism") == 0 || strcmp(name, "sasl.mechanisms") == 0)
	{
		if (pg_strcasecmp(value, "PLAIN") == 0 ||
			pg_strcasecmp(value, "SCRAM-SHA-256") == 0 ||
			pg_strcasecmp(value, "SCRAM-SHA-512") == 0)
			return;
		rd_kafka_conf_destroy(conf);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SASL mechanism \"%s\" cannot be used by a subscription", value),
				 errhint("Use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")));
	}
	for (int i = 0; allowed_properties[i] != NULL; i++)
		if (strcmp(name, allowed_properties[i]) == 0)
			return;
	rd_kafka_conf_destroy(conf);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("Kafka property \"%s\" cannot be set for a subscription", name),
			 errdetail("Subscriptions take connection, security (PEM strings, not files) and fetch settings; rail_stream sets offsets, groups and brokers itself.")));
}

/* Runs inside rd_kafka_consumer_poll(): no ereport, no palloc. */
static void
error_callback(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	RsKafkaConsumer *consumer = opaque;

	snprintf(consumer->error, sizeof(consumer->error), "%s: %s",
			 rd_kafka_err2name(err), reason);
	strlcpy(consumer->cause, consumer->error, sizeof(consumer->cause));
}

/*
 * Runs inside rd_kafka_consumer_poll(), as error_callback.  A group commit
 * can fail while the group's coordinator is not known yet, right after the
 * group's first offsets create __consumer_offsets: it is retried.
 */
static void
commit_callback(rd_kafka_t *rk, rd_kafka_resp_err_t err,
				rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	RsKafkaConsumer *consumer = opaque;

	if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	consumer->commit_failed = true;
	snprintf(consumer->error, sizeof(consumer->error),
			 "could not commit offsets to the consumer group: %s",
			 rd_kafka_err2str(err));
}

/* Whether the last group commit failed, so that it should be sent again. */
bool
rs_kafka_commit_failed(RsKafkaConsumer *consumer)
{
	return consumer->commit_failed;
}

void
rs_kafka_destroy(RsKafkaConsumer *consumer)
{
	if (consumer == NULL || consumer->rk == NULL)
		return;
	rd_kafka_queue_destroy(consumer->log_queue);
	if (consumer->queue != NULL)
	{
		rd_kafka_queue_io_event_enable(consumer->queue, -1, NULL, 0);
		rd_kafka_queue_destroy(consumer->queue);
		close(consumer->wake[0]);
		close(consumer->wake[1]);
	}
	/*
	 * No consumer close: it would talk to the brokers, which may be down, and
	 * there is no group membership or offset to hand back (PostgreSQL holds
	 * the offsets).
	 */
	rd_kafka_destroy_flags(consumer->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	consumer->rk = NULL;
}

/*
 * rs_kafka_partition_count
 *		The number of partitions of the topic, asking a broker; 0 if the
 *		topic does not exist (yet) or no broker answered, with the reason
 *		left for rs_kafka_take_error().
 */
int
rs_kafka_partition_count(RsKafkaConsumer *consumer, int timeout_ms)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(consumer->rk, consumer->topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	int			count = 0;

	err = rd_kafka_metadata(consumer->rk, 0, rkt, &md, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		/*
		 * Why no broker answers (authentication, TLS) comes as an error
		 * event, which error_callback keeps in cause when the queue is
		 * served; librdkafka does not repeat an identical one, so cause
		 * stays until a broker answers.  Once partitions are assigned the
		 * worker's polls serve the queue; before, nothing but events can
		 * come from it.
		 */
		if (!consumer->assigned)
		{
			rd_kafka_message_t *m;

			while ((m = rd_kafka_consumer_poll(consumer->rk, 0)) != NULL)
				rd_kafka_message_destroy(m);
		}
		snprintf(consumer->error, sizeof(consumer->error),
				 "could not read metadata of topic \"%s\": %s%s%s",
				 consumer->topic, rd_kafka_err2str(err),
				 consumer->cause[0] ? ": " : "", consumer->cause);
	}
	else
	{
		consumer->cause[0] = '\0';	/* a broker answered */
		consumer->broker_failure[0] = '\0';
		if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
			count = md->topics[0].partition_cnt;
		else
		{
			snprintf(consumer->error, sizeof(consumer->error),
					 "topic \"%s\" is not available: %s", consumer->topic,
					 rd_kafka_err2str(md->topic_cnt ? md->topics[0].err :
									  RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
		}
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return count;
}

/*
 * rs_kafka_assign
 *		Consume exactly these partitions, each from its offset (or from
 *		RS_OFFSET_BEGINNING / RS_OFFSET_END).
 */
void
rs_kafka_assign(RsKafkaConsumer *consumer, int n, const int32 *partitions,
				const int64 *offsets)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
	rd_kafka_resp_err_t err;

	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(list, consumer->topic,
										  partitions[i])->offset = offsets[i];
	err = rd_kafka_assign(consumer->rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	consumer->assigned = (err == RD_KAFKA_RESP_ERR_NO_ERROR);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not assign partitions of topic \"%s\": %s",
						consumer->topic, rd_kafka_err2str(err))));
}

/*
 * rs_kafka_offsets_for_time
 *		The first offset of each partition at or after time_ms, asking the
 *		brokers; false (with an error to take) if they did not answer.
 */
bool
rs_kafka_offsets_for_time(RsKafkaConsumer *consumer, int n,
						  const int32 *partitions, int64 time_ms,
						  int64 *offsets, int timeout_ms)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
	rd_kafka_resp_err_t err;

	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(list, consumer->topic,
										  partitions[i])->offset = time_ms;
	err = rd_kafka_offsets_for_times(consumer->rk, list, timeout_ms);
	for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < n; i++)
		offsets[i] = list->elems[i].offset;
	rd_kafka_topic_partition_list_destroy(list);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		snprintf(consumer->error, sizeof(consumer->error),
				 "could not look up offsets by time: %s", rd_kafka_err2str(err));
	return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/*
 * rs_kafka_poll
 *		Up to max messages of those already fetched, without waiting; fewer
 *		than max means the queue is empty, and rs_kafka_wake_fd() becomes
 *		readable when it is not.  Consumer errors (a broker down, say) are
 *		kept for rs_kafka_take_error and do not count as messages.
 */
int
rs_kafka_poll(RsKafkaConsumer *consumer, RsKafkaMessage *messages, int max)
{
	int			n = 0;

	drain_wake(consumer);
	while (n < max)
	{
		rd_kafka_message_t *m;

		m = rd_kafka_consumer_poll(consumer->rk, 0);
		if (m == NULL)
			break;
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			note_message_error(consumer, m);
			rd_kafka_message_destroy(m);
			continue;
		}
		messages[n].partition = m->partition;
		messages[n].offset = m->offset;
		messages[n].value = m->payload;
		messages[n].len = m->payload ? m->len : 0;
		messages[n].key = m->key;
		messages[n].keylen = m->key ? m->key_len : 0;
		messages[n].timestamp_ms = rd_kafka_message_timestamp(m, NULL);
		messages[n].handle = m;
		n++;
	}
	return n;
}

/*
 * note_message_error
 *		An error that librdkafka gives in place of a message, for
 *		rs_kafka_take_error.
 *
 * A stored offset that the partition does not hold (auto.offset.reset is
 * "error") stops that partition: most often the topic was deleted and
 * created again, or its messages expired while the subscription was
 * paused.  Only the user can tell whether to start over, so the error says
 * how.
 */
static void
note_message_error(RsKafkaConsumer *consumer, const rd_kafka_message_t *m)
{
	if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
		snprintf(consumer->error, sizeof(consumer->error),
				 "partition %d of topic \"%s\" does not hold the stored offset %lld "
				 "(was the topic deleted and created again, or did its messages expire?): "
				 "rail_stream.reset_offsets() moves the subscription to the offsets to read: %s",
				 (int) m->partition, consumer->topic, (long long) m->offset,
				 rd_kafka_message_errstr(m));
	else
		snprintf(consumer->error, sizeof(consumer->error), "%s",
				 rd_kafka_message_errstr(m));
}

void
rs_kafka_release(RsKafkaMessage *messages, int n)
{
	for (int i = 0; i < n; i++)
		rd_kafka_message_destroy((rd_kafka_message_t *) messages[i].handle);
}

/*
 * rs_kafka_commit
 *		Tell the group how far the subscription has got, without waiting:
 *		this is for lag tools; PostgreSQL holds the offsets that count.
 */
void
rs_kafka_commit(RsKafkaConsumer *consumer, int n, const int32 *partitions,
				const int64 *next_offsets)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);

	consumer->commit_failed = false;
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(list, consumer->topic,
										  partitions[i])->offset = next_offsets[i];
	if (rd_kafka_commit(consumer->rk, list, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
		consumer->commit_failed = true;
	rd_kafka_topic_partition_list_destroy(list);
}

/*
 * rs_kafka_watermarks
 *		A partition's first and next offsets, asking its leader; false (with
 *		an error to take) if it did not answer.
 */
bool
rs_kafka_watermarks(RsKafkaConsumer *consumer, int32 partition, int64 *low,
					int64 *high, int timeout_ms)
{
	int64_t		lo,
				hi;
	rd_kafka_resp_err_t err;

	err = rd_kafka_query_watermark_offsets(consumer->rk, consumer->topic, partition,
										   &lo, &hi, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		snprintf(consumer->error, sizeof(consumer->error),
				 "could not read the offsets of partition %d: %s",
				 partition, rd_kafka_err2str(err));
		return false;
	}
	*low = lo;
	*high = hi;
	return true;
}

/* The partition's high watermark as last fetched (no broker call); -1 if unknown. */
int64
rs_kafka_high_watermark(RsKafkaConsumer *consumer, int32 partition)
{
	int64_t		low,
				high;

	if (rd_kafka_get_watermark_offsets(consumer->rk, consumer->topic, partition,
									   &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	return high;
}

/* A message's headers as a JSON object of strings, or NULL if it has none. */
Jsonb *
rs_kafka_headers(const RsKafkaMessage *message)
{
	rd_kafka_headers_t *headers;
	JsonbParseState *state = NULL;
	JsonbValue	v;
	const char *name;
	const void *value;
	size_t		size;

	if (rd_kafka_message_headers(message->handle, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
		 RD_KAFKA_RESP_ERR_NO_ERROR; i++)
	{
		v.type = jbvString;
		v.val.string.val = (char *) name;
		v.val.string.len = strlen(name);
		pushJsonbValue(&state, WJB_KEY, &v);
		if (value == NULL)
			v.type = jbvNull;
		else
		{
			/* header values are bytes: keep them as hex, losing nothing */
			v.val.string.val = palloc(size * 2 + 1);
			v.val.string.len = hex_encode(value, size, v.val.string.val);
		}
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * rs_kafka_report
 *		Write librdkafka's queued log lines to the server log, on the
 *		worker's own thread.
 */
void
rs_kafka_report(RsKafkaConsumer *consumer)
{
	rd_kafka_event_t *ev;

	while ((ev = rd_kafka_queue_poll(consumer->log_queue, 0)) != NULL)
	{
		const char *facility;
		const char *line;
		int			level;

		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LOG &&
			rd_kafka_event_log(ev, &facility, &line, &level) == 0)
		{
			ereport(level <= 4 ? WARNING : LOG,
					(errmsg_internal("librdkafka %s: %s", facility, line)));
			if (strcmp(facility, "FAIL") == 0)
				note_broker_failure(consumer, line);
		}
		rd_kafka_event_destroy(ev);
	}
}

/*
 * A broker connection failed: keep why, without the broker's name that
 * librdkafka puts first ("sasl_ssl://host:port/bootstrap: SASL
 * authentication error: ...").
 */
static void
note_broker_failure(RsKafkaConsumer *consumer, const char *line)
{
	const char *why = strstr(line, "/bootstrap: ");

	if (why == NULL)
		why = strstr(line, ": ");
	strlcpy(consumer->broker_failure, why ? strchr(why, ' ') + 1 : line,
			sizeof(consumer->broker_failure));
}

/*
 * The last error seen since the previous call, or NULL.  "All brokers are
 * down" says why when a broker's connection failed meanwhile: librdkafka
 * 2.8 and later no longer send an error event for a failed authentication,
 * only a log line.
 */
const char *
rs_kafka_take_error(RsKafkaConsumer *consumer)
{
	static char taken[768];

	if (consumer->error[0] == '\0')
		return NULL;
	if (consumer->broker_failure[0] != '\0' &&
		strstr(consumer->error, "_ALL_BROKERS_DOWN") != NULL &&
		strstr(consumer->error, consumer->broker_failure) == NULL)
		snprintf(taken, sizeof(taken), "%s (%s)", consumer->error,
				 consumer->broker_failure);
	else
		strlcpy(taken, consumer->error, sizeof(taken));
	consumer->error[0] = '\0';
	return taken;
}
