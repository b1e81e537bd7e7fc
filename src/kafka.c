/*-------------------------------------------------------------------------
 *
 * kafka.c
 *	  Kafka over librdkafka: the consumer of an ingest worker, the
 *	  producers of the alert sender, and the properties either may set.
 *
 * This is the only file that knows about librdkafka.  librdkafka runs its
 * own threads, and PostgreSQL's functions must never run on them, so:
 *
 *	- logs go to a queue of their own (log.queue), which the worker drains
 *	  on its main thread (rs_kafka_report(), rs_kafka_producers_serve());
 *	- the consumer's error callback runs inside rd_kafka_consumer_poll() on
 *	  the main thread, but inside librdkafka's code, where an ereport()
 *	  longjmp would be unsafe: it only copies the message into a buffer for
 *	  later; the producers use no callback at all, but events (delivery
 *	  reports, errors) read from their main queue;
 *	- a worker never blocks inside librdkafka to wait: when a queue goes from
 *	  empty to not empty, librdkafka writes a byte to a pipe
 *	  (rd_kafka_queue_io_event_enable), whose read end the worker waits on
 *	  together with its latch (rs_kafka_wake_fd, rs_kafka_producers_wake_fd).
 *
 * The consumer.  Partitions are assigned explicitly (rd_kafka_assign), not
 * through the group's rebalance protocol.  A worker owns the partitions p
 * with p % parallelism = its index, and starts each at the offset stored in
 * PostgreSQL, so no two workers ever write the same partition and no
 * rebalance can interleave with a commit.  The group.id is still set, and
 * offsets are committed to it after each database commit, so that Kafka's
 * lag tools (kafka-consumer-groups, Burrow) see the subscription's progress.
 *
 * The producers.  The alert sender keeps one idempotent producer per
 * destination -- brokers and properties, which may hold a rule's
 * credentials -- made when an alert first needs it and dropped after a
 * minute without use, or after a fatal error once its records are
 * reported.  Idempotence (acks=all, sequence numbers) means that
 * librdkafka's own retries of a record never write it twice; an attempt
 * that is not acknowledged within its timeout is reported undelivered, and
 * the sender tries the alert again later, as for a webhook.  Each record
 * is keyed, partitioned like the Java clients do (murmur2), and carries
 * its alert's idempotency key in a header, so that a consumer can drop the
 * copies that a crash between an acknowledgement and its record sends
 * again.  All producers wake the sender through one pipe.
 *
 * The properties.  A subscription or an alert rule may set only the
 * librdkafka properties listed in allowed_properties: connection, security
 * (PEM strings, not files) and, for a subscription, fetch settings.  Others
 * would load libraries (plugin.library.paths), run commands
 * (sasl.kerberos.kinit.cmd) or read files (ssl.*.location) as the server's
 * OS user, or break what rail_stream relies on (offsets kept in
 * PostgreSQL, acknowledgements from every replica).  The list is checked
 * when a subscription or rule is written (_check_kafka_property) and again
 * here, before any property reaches librdkafka, whatever wrote the row.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/kafka.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "kafka.h"
#include "pg_compat.h"

/* how soon librdkafka fetches again once its full queue has room */
#define RS_QUEUE_BACKOFF_MS		20
/* the first librdkafka that has fetch.queue.backoff.ms, 2.3.0 */
#define RS_RDKAFKA_QUEUE_BACKOFF	0x020300ff
#define RS_PRODUCER_IDLE_MS		60000	/* a producer unused this long goes */

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

/* One producer: the records of one destination */
typedef struct Producer
{
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;	/* its main queue: delivery reports, errors */
	rd_kafka_queue_t *log_queue;
	char	   *brokers;		/* the destination: brokers and properties */
	char	   *properties;
	int			timeout_ms;		/* message.timeout.ms */
	int			in_flight;
	TimestampTz last_used;
	bool		fatal;			/* unusable: replaced once its records are back */
	char		cause[RS_KAFKA_ERROR_LEN];	/* last error event since a
											 * delivery, or "" */
} Producer;

/* A record in flight: the message opaque of its delivery report */
typedef struct InFlight
{
	int64		id;
	int			attempt;
	void	   *arg;
} InFlight;

struct RsKafkaProducers
{
	MemoryContext cxt;
	List	   *producers;		/* of Producer */
	List	   *deliveries;		/* of RsKafkaDelivery, to hand out */
	int			in_flight;
	int			wake[2];		/* every producer's queue writes to it */
};

/* Why a property was refused, for an ERROR or an alert's last error */
typedef struct Refusal
{
	char		message[RS_KAFKA_ERROR_LEN];
	const char *detail;
	const char *hint;
} Refusal;

/* The properties that subscriptions (consumers) and rules (producers) set */
typedef struct AllowedProperty
{
	const char *name;
	bool		consumer_only;	/* a fetch setting */
} AllowedProperty;

static const AllowedProperty allowed_properties[] = {
	{"security.protocol", false},
	{"sasl.mechanism", false}, {"sasl.mechanisms", false},
	{"sasl.username", false}, {"sasl.password", false},
	{"ssl.ca.pem", false}, {"ssl.certificate.pem", false},
	{"ssl.key.pem", false}, {"ssl.key.password", false},
	{"ssl.endpoint.identification.algorithm", false},
	{"client.id", false}, {"client.rack", false},
	{"fetch.wait.max.ms", true}, {"fetch.min.bytes", true},
	{"fetch.max.bytes", true}, {"fetch.error.backoff.ms", true},
	{"fetch.queue.backoff.ms", true}, {"max.partition.fetch.bytes", true},
	{"socket.timeout.ms", false}, {"socket.keepalive.enable", false},
	{"socket.connection.setup.timeout.ms", false},
	{"reconnect.backoff.ms", false}, {"reconnect.backoff.max.ms", false},
	{"metadata.max.age.ms", false}, {"topic.metadata.refresh.interval.ms", false},
	{"api.version.request", false}, {"broker.version.fallback", false},
	{"isolation.level", true}, {"check.crcs", true}, {"debug", false},
	{NULL, false}
};

static bool property_allowed(const char *name, const char *value,
							 RsKafkaClient client, Refusal *why);
static bool conf_set(rd_kafka_conf_t *conf, const char *name,
					 const char *value, Refusal *why);
static bool apply_properties(rd_kafka_conf_t *conf, Jsonb *properties,
							 RsKafkaClient client, Refusal *why);
static void raise_refusal(rd_kafka_conf_t *conf,
						  const Refusal *why) pg_attribute_noreturn();
static void set_property(rd_kafka_conf_t *conf, const char *name,
						 const char *value);
static void error_callback(rd_kafka_t *rk, int err, const char *reason,
						   void *opaque);
static void commit_callback(rd_kafka_t *rk, rd_kafka_resp_err_t err,
							rd_kafka_topic_partition_list_t *offsets,
							void *opaque);
static void set_queue_backoff(rd_kafka_conf_t *conf);
static int	default_queue_kbytes(void);
static void enable_wake(RsKafkaConsumer *consumer);
static void note_message_error(RsKafkaConsumer *consumer,
							   const rd_kafka_message_t *m);
static void drain_log(rd_kafka_queue_t *queue, char *failure, size_t len);
static void note_broker_failure(char *failure, size_t len, const char *line);
static void drain_pipe(int fd);
static Producer *producer_for(RsKafkaProducers *producers,
							  const RsKafkaRecordSpec *spec, Refusal *why);
static Producer *producer_create(RsKafkaProducers *producers,
								 const RsKafkaRecordSpec *spec,
								 const char *properties, Refusal *why);
static void producer_destroy(RsKafkaProducers *producers, Producer *p);
static void serve_producer(RsKafkaProducers *producers, Producer *p);
static void take_reports(RsKafkaProducers *producers, Producer *p,
						 rd_kafka_event_t *ev);
static void add_delivery(RsKafkaProducers *producers, int64 id, int attempt,
						 void *arg, RsKafkaOutcome outcome, const char *error);
static void wake_sender(RsKafkaProducers *producers);
static RsKafkaOutcome outcome_of(rd_kafka_resp_err_t err);

/*
 * rs_kafka_check_property
 *		Raise an ERROR if a subscription (consumer) or an alert rule
 *		(producer) may not set a property, or librdkafka would refuse its
 *		value; for checking them when they are written.
 */
void
rs_kafka_check_property(const char *name, const char *value, RsKafkaClient client)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	Refusal		why;

	if (!property_allowed(name, value, client, &why) ||
		!conf_set(conf, name, value, &why))
		raise_refusal(conf, &why);
	rd_kafka_conf_destroy(conf);
}

/*
 * Whether a client may set name to value; if not, why.  SASL mechanisms are
 * PLAIN and SCRAM only: GSSAPI runs sasl.kerberos.kinit.cmd, OAUTHBEARER
 * fetches tokens from URLs.
 */
static bool
property_allowed(const char *name, const char *value, RsKafkaClient client,
				 Refusal *why)
{
	bool		consumer = (client == RS_KAFKA_CONSUMER);

	why->detail = NULL;
	why->hint = NULL;
	if (strcmp(name, "sasl.mechanism") == 0 || strcmp(name, "sasl.mechanisms") == 0)
	{
		if (pg_strcasecmp(value, "PLAIN") == 0 ||
			pg_strcasecmp(value, "SCRAM-SHA-256") == 0 ||
			pg_strcasecmp(value, "SCRAM-SHA-512") == 0)
			return true;
		snprintf(why->message, sizeof(why->message),
				 consumer ? "SASL mechanism \"%s\" cannot be used by a subscription" :
				 "SASL mechanism \"%s\" cannot be used by an alert rule", value);
		why->hint = "Use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.";
		return false;
	}
	for (int i = 0; allowed_properties[i].name != NULL; i++)
		if (strcmp(name, allowed_properties[i].name) == 0 &&
			(consumer || !allowed_properties[i].consumer_only))
			return true;
	if (consumer)
	{
		snprintf(why->message, sizeof(why->message),
				 "Kafka property \"%s\" cannot be set for a subscription", name);
		why->detail = "Subscriptions take connection, security (PEM strings, not files) and fetch settings; rail_stream sets offsets, groups and brokers itself.";
	}
	else
	{
		snprintf(why->message, sizeof(why->message),
				 "Kafka property \"%s\" cannot be set for an alert rule", name);
		why->detail = "Alert rules take connection and security settings (PEM strings, not files); rail_stream sets acknowledgements, idempotence, partitioning and timeouts itself.";
	}
	return false;
}

/* Set a property, or say why librdkafka refuses it (never its value) */
static bool
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, Refusal *why)
{
	char		errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
		return true;
	snprintf(why->message, sizeof(why->message), "invalid Kafka property \"%s\": %s",
			 name, errstr);
	why->detail = NULL;
	why->hint = NULL;
	return false;
}

/*
 * Set the properties of a JSON object of strings (NULL: none), each checked
 * against the allowlist of client first; false at the first refused one.
 */
static bool
apply_properties(rd_kafka_conf_t *conf, Jsonb *properties, RsKafkaClient client,
				 Refusal *why)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	char	   *name = NULL;

	if (properties == NULL)
		return true;
	it = JsonbIteratorInit(&properties->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (token == WJB_KEY)
			name = pnstrdup(v.val.string.val, v.val.string.len);
		else if (token == WJB_VALUE && v.type == jbvString)
		{
			char	   *value = pnstrdup(v.val.string.val, v.val.string.len);

			if (!property_allowed(name, value, client, why) ||
				!conf_set(conf, name, value, why))
				return false;
		}
		else if (token == WJB_VALUE)
		{
			snprintf(why->message, sizeof(why->message),
					 "invalid Kafka property \"%s\": the value must be a string", name);
			why->detail = NULL;
			why->hint = NULL;
			return false;
		}
	}
	return true;
}

/* Destroy conf and raise the refusal as an ERROR */
static void
raise_refusal(rd_kafka_conf_t *conf, const Refusal *why)
{
	rd_kafka_conf_destroy(conf);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_internal("%s", why->message),
			 why->detail ? errdetail_internal("%s", why->detail) : 0,
			 why->hint ? errhint("%s", why->hint) : 0));
}

static void
set_property(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	Refusal		why;

	if (!conf_set(conf, name, value, &why))
		raise_refusal(conf, &why);
}

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
	Refusal		why;
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
	snprintf(kbytes, sizeof(kbytes), "%d",
			 queue_kbytes > 0 ? queue_kbytes : default_queue_kbytes());
	set_property(conf, "queued.max.messages.kbytes", kbytes);
	set_queue_backoff(conf);
	if (!apply_properties(conf, properties, RS_KAFKA_CONSUMER, &why))
		raise_refusal(conf, &why);
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
 * that holds about a second's worth of messages keeps the worker busy.
 * A subscription's own setting wins.
 */
static void
set_queue_backoff(rd_kafka_conf_t *conf)
{
	char		ms[16];

	if (rd_kafka_version() < RS_RDKAFKA_QUEUE_BACKOFF)
		return;
	snprintf(ms, sizeof(ms), "%d", RS_QUEUE_BACKOFF_MS);
	set_property(conf, "fetch.queue.backoff.ms", ms);
}

/*
 * default_queue_kbytes
 *		The queue of rail_stream.queue_kbytes = 0, by librdkafka's version
 *		(see set_queue_backoff).  Measured through Kafka on loopback, 200k
 *		movements (bench/e2e): with librdkafka 2.8 and the short backoff, an
 *		8MB queue keeps the worker as busy as 32MB, for a peak RssAnon of
 *		30-42MiB at batch_size 100 and 1000 against 54-87MiB; with 2.0.2,
 *		8MB runs at 14-20k movements a second against 21-46k with 32MB.
 */
static int
default_queue_kbytes(void)
{
	return rd_kafka_version() >= RS_RDKAFKA_QUEUE_BACKOFF ? 8192 : 32768;
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

/*
 * Empty a wake pipe before polling its queues, so that the next byte means
 * a new message or event.
 */
static void
drain_pipe(int fd)
{
	char		buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
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

	drain_pipe(consumer->wake[0]);
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
	drain_log(consumer->log_queue, consumer->broker_failure,
			  sizeof(consumer->broker_failure));
}

/*
 * Write a log queue's lines to the server log; keep why the last broker
 * connection failed in failure (if not NULL).
 */
static void
drain_log(rd_kafka_queue_t *queue, char *failure, size_t len)
{
	rd_kafka_event_t *ev;

	while ((ev = rd_kafka_queue_poll(queue, 0)) != NULL)
	{
		const char *facility;
		const char *line;
		int			level;

		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LOG &&
			rd_kafka_event_log(ev, &facility, &line, &level) == 0)
		{
			ereport(level <= 4 ? WARNING : LOG,
					(errmsg_internal("librdkafka %s: %s", facility, line)));
			if (failure != NULL && strcmp(facility, "FAIL") == 0)
				note_broker_failure(failure, len, line);
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
note_broker_failure(char *failure, size_t len, const char *line)
{
	const char *why = strstr(line, "/bootstrap: ");

	if (why == NULL)
		why = strstr(line, ": ");
	strlcpy(failure, why ? strchr(why, ' ') + 1 : line, len);
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

/*
 * rs_kafka_producers_create
 *		The alert sender's producers, none made yet, in a child context of
 *		parent, and the pipe through which they all wake the sender.
 */
RsKafkaProducers *
rs_kafka_producers_create(MemoryContext parent)
{
	RsKafkaProducers *producers = MemoryContextAllocZero(parent,
														 sizeof(RsKafkaProducers));

	producers->cxt = AllocSetContextCreate(parent, "rail_stream Kafka producers",
										   ALLOCSET_DEFAULT_SIZES);
	producers->wake[0] = producers->wake[1] = -1;
	if (pipe2(producers->wake, O_NONBLOCK | O_CLOEXEC) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a pipe for the Kafka producers: %m")));
	return producers;
}

/*
 * rs_kafka_produce
 *		Start producing a record; its delivery comes back from
 *		rs_kafka_next_delivery() with spec->id, also when it cannot even be
 *		queued (a property refused, say).  Raises no ERROR for the record.
 */
void
rs_kafka_produce(RsKafkaProducers *producers, const RsKafkaRecordSpec *spec)
{
	Refusal		why;
	Producer   *p = producer_for(producers, spec, &why);
	InFlight   *sent;
	rd_kafka_resp_err_t err;

	if (p == NULL)
	{
		add_delivery(producers, spec->id, spec->attempt, spec->arg,
					 RS_KAFKA_REFUSED, why.message);
		wake_sender(producers);
		return;
	}
	sent = MemoryContextAlloc(producers->cxt, sizeof(InFlight));
	sent->id = spec->id;
	sent->attempt = spec->attempt;
	sent->arg = spec->arg;
	p->last_used = GetCurrentTimestamp();
	err = rd_kafka_producev(p->rk,
							RD_KAFKA_V_TOPIC(spec->topic),
							RD_KAFKA_V_KEY(spec->key, strlen(spec->key)),
							RD_KAFKA_V_VALUE(unconstify(char *, spec->value),
											 strlen(spec->value)),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_HEADER(RS_KAFKA_IDEMPOTENCY_HEADER,
											  spec->idempotency_key, -1),
							RD_KAFKA_V_OPAQUE(sent),
							RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		pfree(sent);
		add_delivery(producers, spec->id, spec->attempt, spec->arg,
					 outcome_of(err), rd_kafka_err2str(err));
		wake_sender(producers);
		return;
	}
	p->in_flight++;
	producers->in_flight++;
}

/* Records produced and not reported yet */
int
rs_kafka_producers_in_flight(RsKafkaProducers *producers)
{
	return producers->in_flight;
}

/*
 * rs_kafka_producers_wake_fd
 *		The descriptor to wait on (readable) for deliveries; then call
 *		rs_kafka_producers_serve().
 */
int
rs_kafka_producers_wake_fd(RsKafkaProducers *producers)
{
	return producers->wake[0];
}

/*
 * rs_kafka_producers_serve
 *		Read every producer's delivery reports and errors, for
 *		rs_kafka_next_delivery(), and its log lines; then let go of the
 *		producers that failed or have had nothing to do for a while.
 */
void
rs_kafka_producers_serve(RsKafkaProducers *producers)
{
	TimestampTz now = GetCurrentTimestamp();
	List	   *retired = NIL;
	ListCell   *lc;

	drain_pipe(producers->wake[0]);
	foreach(lc, producers->producers)
	{
		Producer   *p = lfirst(lc);

		serve_producer(producers, p);
		if (p->in_flight == 0 &&
			(p->fatal || TimestampDifferenceExceeds(p->last_used, now,
													RS_PRODUCER_IDLE_MS)))
			retired = lappend(retired, p);
	}
	foreach(lc, retired)
		producer_destroy(producers, lfirst(lc));
	list_free(retired);
}

/*
 * rs_kafka_next_delivery
 *		How one record's delivery ended, if any is left to hand out.
 */
bool
rs_kafka_next_delivery(RsKafkaProducers *producers, RsKafkaDelivery *delivery)
{
	RsKafkaDelivery *d;

	if (producers->deliveries == NIL)
		return false;
	d = linitial(producers->deliveries);
	*delivery = *d;
	producers->deliveries = list_delete_first(producers->deliveries);
	pfree(d);
	return true;
}

/*
 * rs_kafka_producers_close
 *		At exit: drop every producer without waiting for its records, which
 *		the outbox still has as being sent.
 */
void
rs_kafka_producers_close(RsKafkaProducers *producers)
{
	while (producers->producers != NIL)
	{
		Producer   *p = linitial(producers->producers);

		rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
					   RD_KAFKA_PURGE_F_NON_BLOCKING);
		producer_destroy(producers, p);
	}
}

/*
 * The producer of a record's destination (its brokers, properties and
 * timeout), made if there is none; NULL, with why, if it cannot be made.
 */
static Producer *
producer_for(RsKafkaProducers *producers, const RsKafkaRecordSpec *spec,
			 Refusal *why)
{
	char	   *properties = spec->properties == NULL ? "{}" :
		JsonbToCString(NULL, &spec->properties->root, VARSIZE(spec->properties));
	ListCell   *lc;

	foreach(lc, producers->producers)
	{
		Producer   *p = lfirst(lc);

		if (!p->fatal && p->timeout_ms == spec->timeout_ms &&
			strcmp(p->brokers, spec->brokers) == 0 &&
			strcmp(p->properties, properties) == 0)
			return p;
	}
	return producer_create(producers, spec, properties, why);
}

/*
 * An idempotent producer for a destination, its events (delivery reports,
 * errors) on its main queue, which wakes the sender through the pipe.  The
 * rule's properties are checked against the allowlist here again, before
 * librdkafka sees them; rail_stream's own settings come first, and none of
 * them can be overridden, as the allowlist has none of them.
 */
static Producer *
producer_create(RsKafkaProducers *producers, const RsKafkaRecordSpec *spec,
				const char *properties, Refusal *why)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	Producer   *p;
	MemoryContext old;
	char		timeout[32];
	char		errstr[512];

	snprintf(timeout, sizeof(timeout), "%d", spec->timeout_ms);
	if (!conf_set(conf, "bootstrap.servers", spec->brokers, why) ||
		!conf_set(conf, "enable.idempotence", "true", why) ||
		!conf_set(conf, "message.timeout.ms", timeout, why) ||
		!conf_set(conf, "partitioner", "murmur2_random", why) ||
		!conf_set(conf, "log.queue", "true", why) ||
		!conf_set(conf, "client.id", "rail_stream", why) ||
		!apply_properties(conf, spec->properties, RS_KAFKA_PRODUCER, why))
	{
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		rd_kafka_conf_destroy(conf);
		snprintf(why->message, sizeof(why->message),
				 "could not create a Kafka producer: %s", errstr);
		return NULL;
	}

	old = MemoryContextSwitchTo(producers->cxt);
	p = palloc0(sizeof(Producer));
	p->rk = rk;
	p->brokers = pstrdup(spec->brokers);
	p->properties = pstrdup(properties);
	p->timeout_ms = spec->timeout_ms;
	p->last_used = GetCurrentTimestamp();
	p->log_queue = rd_kafka_queue_new(rk);
	rd_kafka_set_log_queue(rk, p->log_queue);
	p->queue = rd_kafka_queue_get_main(rk);
	rd_kafka_queue_io_event_enable(p->queue, producers->wake[1], "!", 1);
	producers->producers = lappend(producers->producers, p);
	MemoryContextSwitchTo(old);
	return p;
}

static void
producer_destroy(RsKafkaProducers *producers, Producer *p)
{
	drain_log(p->log_queue, NULL, 0);
	rd_kafka_queue_io_event_enable(p->queue, -1, NULL, 0);
	rd_kafka_queue_destroy(p->queue);
	rd_kafka_queue_destroy(p->log_queue);
	rd_kafka_destroy(p->rk);
	producers->producers = list_delete_ptr(producers->producers, p);
	pfree(p->brokers);
	pfree(p->properties);
	pfree(p);
}

/*
 * Read one producer's log lines, then its queue until it is empty (so that
 * its next event writes to the pipe again).  A broker's failure or an error
 * event is kept as the cause that an undelivered record's error names; a
 * fatal error (the idempotent producer lost track of its sequence) makes
 * the producer give back its records at once, to be sent again by a new one.
 */
static void
serve_producer(RsKafkaProducers *producers, Producer *p)
{
	rd_kafka_event_t *ev;

	drain_log(p->log_queue, p->cause, sizeof(p->cause));
	while ((ev = rd_kafka_queue_poll(p->queue, 0)) != NULL)
	{
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DR)
			take_reports(producers, p, ev);
		else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_ERROR &&
				 rd_kafka_event_error_is_fatal(ev))
		{
			char		reason[RS_KAFKA_ERROR_LEN];

			rd_kafka_fatal_error(p->rk, reason, sizeof(reason));
			ereport(WARNING,
					(errmsg("rail_stream Kafka producer for brokers \"%s\" failed: %s",
							p->brokers, reason),
					 errdetail("Its alerts are sent again by a new producer.")));
			p->fatal = true;
			rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
						   RD_KAFKA_PURGE_F_NON_BLOCKING);
		}
		else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_ERROR &&
				 (p->cause[0] == '\0' ||
				  rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN))
			strlcpy(p->cause, rd_kafka_event_error_string(ev), sizeof(p->cause));
		rd_kafka_event_destroy(ev);
	}
}

/* The deliveries of a delivery report event */
static void
take_reports(RsKafkaProducers *producers, Producer *p, rd_kafka_event_t *ev)
{
	const rd_kafka_message_t *m;

	while ((m = rd_kafka_event_message_next(ev)) != NULL)
	{
		InFlight   *sent = m->_private;
		RsKafkaOutcome outcome = outcome_of(m->err);
		char		error[RS_KAFKA_ERROR_LEN];

		error[0] = '\0';
		if (outcome == RS_KAFKA_DELIVERED)
			p->cause[0] = '\0'; /* the brokers answer */
		else if (outcome == RS_KAFKA_UNDELIVERED && p->cause[0] != '\0')
			snprintf(error, sizeof(error), "%s (%s)", rd_kafka_err2str(m->err),
					 p->cause);
		else
			strlcpy(error, rd_kafka_err2str(m->err), sizeof(error));
		add_delivery(producers, sent->id, sent->attempt, sent->arg, outcome, error);
		pfree(sent);
		p->in_flight--;
		producers->in_flight--;
	}
}

/* Keep a delivery to hand out */
static void
add_delivery(RsKafkaProducers *producers, int64 id, int attempt, void *arg,
			 RsKafkaOutcome outcome, const char *error)
{
	MemoryContext old = MemoryContextSwitchTo(producers->cxt);
	RsKafkaDelivery *d = palloc0(sizeof(RsKafkaDelivery));

	d->id = id;
	d->attempt = attempt;
	d->arg = arg;
	d->outcome = outcome;
	strlcpy(d->error, error, sizeof(d->error));
	producers->deliveries = lappend(producers->deliveries, d);
	MemoryContextSwitchTo(old);
}

/*
 * A record refused before librdkafka had it gets no event that would wake
 * the sender: write to the pipe as librdkafka would.  Non-blocking: a full
 * pipe wakes the sender already.
 */
static void
wake_sender(RsKafkaProducers *producers)
{
	if (write(producers->wake[1], "!", 1) < 0 && errno != EAGAIN)
		elog(LOG, "could not wake the alert sender through its pipe: %m");
}

/*
 * What an error means for a record: the broker refused it for good (too
 * large, not allowed, no such topic name), or it may get through on
 * another attempt (no broker, a timeout, a leader moving, a topic not
 * there yet, the producer failed).
 */
static RsKafkaOutcome
outcome_of(rd_kafka_resp_err_t err)
{
	switch (err)
	{
		case RD_KAFKA_RESP_ERR_NO_ERROR:
			return RS_KAFKA_DELIVERED;
		case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
		case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
		case RD_KAFKA_RESP_ERR_INVALID_RECORD:
		case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
		case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
		case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
		case RD_KAFKA_RESP_ERR__INVALID_ARG:
			return RS_KAFKA_REFUSED;
		default:
			return RS_KAFKA_UNDELIVERED;
	}
}
