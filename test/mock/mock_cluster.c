/*-------------------------------------------------------------------------
 *
 * mock_cluster.c
 *	  A librdkafka mock cluster driven by commands on stdin, for tests that
 *	  need broker faults a real broker cannot produce on demand.
 *
 * rail_stream's ingest worker talks to this cluster over TCP on 127.0.0.1
 * exactly as to a real Kafka broker.  The mock (rdkafka_mock.h, shipped by
 * Debian's librdkafka-dev 2.0.2) keeps everything in memory and lets the
 * test move partition leaders, make the next requests of a given kind fail
 * with a given error, and hide a topic from Metadata.  A producer in this
 * same program writes the test's messages into it.
 *
 *	  mock_cluster [-b brokers] [-t topic:partitions]...
 *	  mock_cluster -a bootstrap
 *
 * With -a, no mock is started: the commands that need no mock (produce,
 * watermarks, committed) and three admin requests the mock does not serve
 * go to the real cluster at bootstrap:
 *
 *	  create-topic T N		create topic T with N partitions, replication 1
 *	  create-partitions T N	grow topic T to N partitions
 *	  delete-topic T			delete topic T
 *
 * The first line on stdout is "bootstrap <host:port,...>".  Then each line
 * on stdin is one command, and each gets exactly one line back, "ok ..." or
 * "error <text>", so that a test can wait for the answer:
 *
 *	  topic T N				create topic T with N partitions
 *	  produce T FILE			each line of FILE one message, partitions in
 *							turn; answers "ok <messages>" once all are acked
 *	  leader T P B			make broker B the leader of partition P (-1: none)
 *	  coordinator G B			make broker B the coordinator of group G
 *	  errors API N ERR [B [MS]]	the next N requests of API fail with ERR,
 *							on broker B, each answered after MS ms, or
 *							(without B) on any broker
 *	  pending API B			how many of broker B's errors for API are left
 *	  clear API				forget the cluster's errors for API
 *	  topic-error T ERR		Metadata answers ERR for topic T (NO_ERROR: clear)
 *	  down B / up B			broker B refuses / accepts connections (-1: all)
 *	  add-partitions T N		grow topic T to N partitions, if the mock can
 *	  watermarks T			"ok p:low:high ..." for every partition of T
 *	  committed G T			"ok p:offset ..." committed by group G
 *
 * API is a protocol request name (Fetch, OffsetCommit, ...) or number; ERR
 * an error name as rd_kafka_err2name() spells it (NOT_LEADER_FOR_PARTITION,
 * REQUEST_TIMED_OUT, COORDINATOR_NOT_AVAILABLE, _TRANSPORT, ...) or number.
 * The program ends at end of input.
 *
 * What the 2.0.2 mock cannot do: it has no call to add partitions to a topic
 * or to delete one, and serves no CreatePartitions or DeleteTopics request;
 * creating an existing topic fails with TOPIC_ALREADY_EXISTS.  add-partitions
 * is kept so that a test can see that answer instead of assuming it.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  test/mock/mock_cluster.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define TIMEOUT_MS 10000

static rd_kafka_t *owner;		/* the cluster's bookkeeping handle */
static rd_kafka_t *producer;
static rd_kafka_mock_cluster_t *mcluster;	/* NULL with -a */
static const char *bootstrap;
static int	broker_count = 3;
static int	delivery_failures;
static char delivery_error[256];

static const struct
{
	const char *name;
	int16_t		key;
}			apis[] =
{
	{"Produce", 0}, {"Fetch", 1}, {"ListOffsets", 2}, {"Metadata", 3},
	{"OffsetCommit", 8}, {"OffsetFetch", 9}, {"FindCoordinator", 10},
	{"JoinGroup", 11}, {"Heartbeat", 12}, {"LeaveGroup", 13},
	{"SyncGroup", 14}, {"ApiVersions", 18}, {"InitProducerId", 22},
};

static void
reply(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
fail(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fputs("mock_cluster: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int
api_key(const char *name)
{
	char	   *end;
	long		n = strtol(name, &end, 10);

	if (*name != '\0' && *end == '\0')
		return (int) n;
	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
	{
		if (strcasecmp(apis[i].name, name) == 0)
			return apis[i].key;
	}
	return -1;
}

/* An error code by name or number; false if there is none such. */
static int
error_code(const char *name, rd_kafka_resp_err_t *err)
{
	const struct rd_kafka_err_desc *descs;
	size_t		n;
	char	   *end;
	long		v = strtol(name, &end, 10);

	if (*name != '\0' && *end == '\0')
	{
		*err = (rd_kafka_resp_err_t) v;
		return 1;
	}
	rd_kafka_get_err_descs(&descs, &n);
	for (size_t i = 0; i < n; i++)
	{
		if (descs[i].name != NULL && strcasecmp(descs[i].name, name) == 0)
		{
			*err = descs[i].code;
			return 1;
		}
	}
	return 0;
}

static void
delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		delivery_failures++;
		snprintf(delivery_error, sizeof(delivery_error), "%s",
				 rd_kafka_err2str(m->err));
	}
}

static rd_kafka_t *
new_client(rd_kafka_type_t type, const char *group)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char		errstr[512];
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers",
						  bootstrap,
						  errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
		(type == RD_KAFKA_PRODUCER &&
		 rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) ||
		(group != NULL &&
		 rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK))
		fail("could not configure a client: %s", errstr);
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		fail("could not create a client: %s", errstr);
	return rk;
}

/* The topic's partition count from Metadata, or -1 with *err set. */
static int
partition_count(rd_kafka_t *rk, const char *topic, rd_kafka_resp_err_t *err)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	int			count = -1;

	*err = rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS);
	if (*err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
			count = md->topics[0].partition_cnt;
		else
			*err = md->topic_cnt == 1 ? md->topics[0].err :
				RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	return count;
}

static void
cmd_produce(const char *topic, const char *path)
{
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL;
	size_t		size = 0;
	ssize_t		len;
	long		sent = 0;
	int			partitions;
	rd_kafka_resp_err_t err;

	if (f == NULL)
	{
		reply("error could not open \"%s\": %s", path, strerror(errno));
		return;
	}
	if ((partitions = partition_count(producer, topic, &err)) <= 0)
	{
		reply("error topic \"%s\": %s", topic, rd_kafka_err2name(err));
		fclose(f);
		return;
	}
	delivery_failures = 0;
	while ((len = getline(&line, &size, f)) > 0)
	{
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		/* partitions in turn, so that every partition gets its share */
		while ((err = rd_kafka_producev(producer,
										RD_KAFKA_V_TOPIC(topic),
										RD_KAFKA_V_PARTITION(sent % partitions),
										RD_KAFKA_V_VALUE(line, len),
										RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
										RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(producer, 100);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			reply("error could not produce: %s", rd_kafka_err2str(err));
			free(line);
			fclose(f);
			return;
		}
		sent++;
		rd_kafka_poll(producer, 0);
	}
	free(line);
	fclose(f);
	if ((err = rd_kafka_flush(producer, 60000)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		reply("error could not flush: %s", rd_kafka_err2str(err));
	else if (delivery_failures > 0)
		reply("error %d of %ld messages not delivered: %s", delivery_failures,
			  sent, delivery_error);
	else
		reply("ok %ld", sent);
}

static void
cmd_errors(char **args, int nargs)
{
	int			api = nargs >= 3 ? api_key(args[0]) : -1;
	long		count = nargs >= 3 ? atol(args[1]) : 0;
	rd_kafka_resp_err_t err;

	if (api < 0 || count <= 0 || !error_code(args[2], &err))
	{
		reply("error usage: errors API COUNT ERROR [BROKER [RTT]]");
		return;
	}
	if (nargs == 3)
	{
		rd_kafka_resp_err_t *errs = malloc(count * sizeof(*errs));

		for (long i = 0; i < count; i++)
			errs[i] = err;
		rd_kafka_mock_push_request_errors_array(mcluster, (int16_t) api,
												count, errs);
		free(errs);
		reply("ok");
		return;
	}
	for (long i = 0; i < count; i++)
	{
		rd_kafka_resp_err_t r;

		r = rd_kafka_mock_broker_push_request_error_rtts(mcluster, atoi(args[3]),
														 (int16_t) api, 1, err,
														 nargs >= 5 ? atoi(args[4]) : 0);
		if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			reply("error %s", rd_kafka_err2name(r));
			return;
		}
	}
	reply("ok");
}

static void
cmd_watermarks(const char *topic)
{
	rd_kafka_resp_err_t err;
	int			partitions = partition_count(producer, topic, &err);
	char		buf[8192] = "ok";

	if (partitions <= 0)
	{
		reply("error topic \"%s\": %s", topic, rd_kafka_err2name(err));
		return;
	}
	for (int p = 0; p < partitions; p++)
	{
		int64_t		lo,
					hi;

		err = rd_kafka_query_watermark_offsets(producer, topic, p, &lo, &hi,
											   TIMEOUT_MS);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			reply("error partition %d: %s", p, rd_kafka_err2name(err));
			return;
		}
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " %d:%lld:%lld",
				 p, (long long) lo, (long long) hi);
	}
	reply("%s", buf);
}

static void
cmd_committed(const char *group, const char *topic)
{
	rd_kafka_resp_err_t err;
	int			partitions = partition_count(producer, topic, &err);
	rd_kafka_t *consumer;
	rd_kafka_topic_partition_list_t *list;
	char		buf[8192] = "ok";

	if (partitions <= 0)
	{
		reply("error topic \"%s\": %s", topic, rd_kafka_err2name(err));
		return;
	}
	consumer = new_client(RD_KAFKA_CONSUMER, group);
	list = rd_kafka_topic_partition_list_new(partitions);
	for (int p = 0; p < partitions; p++)
		rd_kafka_topic_partition_list_add(list, topic, p);
	err = rd_kafka_committed(consumer, list, TIMEOUT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		reply("error %s", rd_kafka_err2name(err));
	else
	{
		for (int i = 0; i < list->cnt; i++)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " %d:%lld",
					 list->elems[i].partition, (long long) list->elems[i].offset);
		reply("%s", buf);
	}
	rd_kafka_topic_partition_list_destroy(list);
	rd_kafka_destroy_flags(consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

/* A mock call's result as the one-line answer. */
static void
reply_result(rd_kafka_resp_err_t err)
{
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		reply("ok");
	else
		reply("error %s", rd_kafka_err2name(err));
}

/*
 * Admin requests, for a real cluster (-a): the mock serves none of them, so
 * against it they would only time out.
 */
static void
cmd_admin(const char *op, const char *topic, int count)
{
	rd_kafka_queue_t *queue;
	rd_kafka_AdminOptions_t *options;
	rd_kafka_event_t *ev;
	char		errstr[512];
	const rd_kafka_topic_result_t **results = NULL;
	size_t		nresults = 0;

	if (mcluster != NULL)
	{
		reply("error the mock cluster serves no %s request", op);
		return;
	}
	queue = rd_kafka_queue_new(producer);
	options = rd_kafka_AdminOptions_new(producer, RD_KAFKA_ADMIN_OP_ANY);
	rd_kafka_AdminOptions_set_operation_timeout(options, TIMEOUT_MS, errstr, sizeof(errstr));
	if (strcmp(op, "create-topic") == 0)
	{
		rd_kafka_NewTopic_t *t = rd_kafka_NewTopic_new(topic, count, 1, errstr,
													   sizeof(errstr));

		rd_kafka_CreateTopics(producer, &t, 1, options, queue);
		rd_kafka_NewTopic_destroy(t);
	}
	else if (strcmp(op, "create-partitions") == 0)
	{
		rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, count,
																  errstr,
																  sizeof(errstr));

		rd_kafka_CreatePartitions(producer, &np, 1, options, queue);
		rd_kafka_NewPartitions_destroy(np);
	}
	else
	{
		rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);

		rd_kafka_DeleteTopics(producer, &dt, 1, options, queue);
		rd_kafka_DeleteTopic_destroy(dt);
	}
	ev = rd_kafka_queue_poll(queue, TIMEOUT_MS * 2);
	if (ev == NULL)
		reply("error %s timed out", op);
	else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR)
		reply("error %s", rd_kafka_err2name(rd_kafka_event_error(ev)));
	else
	{
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_CREATETOPICS_RESULT)
			results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nresults);
		else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT)
			results = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &nresults);
		else
			results = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &nresults);
		if (nresults == 1 && rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
			reply("error %s", rd_kafka_err2name(rd_kafka_topic_result_error(results[0])));
		else
			reply("ok");
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(options);
	rd_kafka_queue_destroy(queue);
}

static void
command(char *line)
{
	char	   *args[16];
	int			n = 0;
	char	   *save = NULL;
	char	   *cmd = strtok_r(line, " \t\r\n", &save);
	rd_kafka_resp_err_t err;

	if (cmd == NULL)
		return;
	while (n < 16 && (args[n] = strtok_r(NULL, " \t\r\n", &save)) != NULL)
		n++;

	if (mcluster == NULL &&
		(strcmp(cmd, "topic") == 0 || strcmp(cmd, "leader") == 0 ||
		 strcmp(cmd, "coordinator") == 0 || strcmp(cmd, "errors") == 0 ||
		 strcmp(cmd, "pending") == 0 || strcmp(cmd, "clear") == 0 ||
		 strcmp(cmd, "topic-error") == 0 || strcmp(cmd, "down") == 0 ||
		 strcmp(cmd, "up") == 0 || strcmp(cmd, "add-partitions") == 0))
		reply("error %s: not a mock cluster", cmd);
	else if ((strcmp(cmd, "create-topic") == 0 || strcmp(cmd, "create-partitions") == 0) &&
			 n == 2)
		cmd_admin(cmd, args[0], atoi(args[1]));
	else if (strcmp(cmd, "delete-topic") == 0 && n == 1)
		cmd_admin(cmd, args[0], 0);
	else if (strcmp(cmd, "topic") == 0 && n == 2)
		reply_result(rd_kafka_mock_topic_create(mcluster, args[0], atoi(args[1]), 1));
	else if (strcmp(cmd, "produce") == 0 && n == 2)
		cmd_produce(args[0], args[1]);
	else if (strcmp(cmd, "leader") == 0 && n == 3)
		reply_result(rd_kafka_mock_partition_set_leader(mcluster, args[0],
														atoi(args[1]), atoi(args[2])));
	else if (strcmp(cmd, "coordinator") == 0 && n == 2)
		reply_result(rd_kafka_mock_coordinator_set(mcluster, "group", args[0],
												   atoi(args[1])));
	else if (strcmp(cmd, "errors") == 0)
		cmd_errors(args, n);
	else if (strcmp(cmd, "pending") == 0 && n == 2 && api_key(args[0]) >= 0)
	{
		size_t		count;

		err = rd_kafka_mock_broker_error_stack_cnt(mcluster, atoi(args[1]),
												   (int16_t) api_key(args[0]), &count);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			reply("error %s", rd_kafka_err2name(err));
		else
			reply("ok %zu", count);
	}
	else if (strcmp(cmd, "clear") == 0 && n == 1 && api_key(args[0]) >= 0)
	{
		rd_kafka_mock_clear_request_errors(mcluster, (int16_t) api_key(args[0]));
		reply("ok");
	}
	else if (strcmp(cmd, "topic-error") == 0 && n == 2 && error_code(args[1], &err))
	{
		rd_kafka_mock_topic_set_error(mcluster, args[0], err);
		reply("ok");
	}
	else if (strcmp(cmd, "down") == 0 && n == 1)
		reply_result(rd_kafka_mock_broker_set_down(mcluster, atoi(args[0])));
	else if (strcmp(cmd, "up") == 0 && n == 1)
		reply_result(rd_kafka_mock_broker_set_up(mcluster, atoi(args[0])));
	else if (strcmp(cmd, "add-partitions") == 0 && n == 2)
	{
		/*
		 * The 2.0.2 mock has no call for it.  The nearest is giving the new
		 * last partition a leader, which creates missing topics but refuses a
		 * partition past the end of an existing one: answer what it says.
		 */
		err = rd_kafka_mock_partition_set_leader(mcluster, args[0],
												 atoi(args[1]) - 1, 1);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			reply("ok");
		else
			reply("error %s: this mock cannot add partitions to a topic",
				  rd_kafka_err2name(err));
	}
	else if (strcmp(cmd, "watermarks") == 0 && n == 1)
		cmd_watermarks(args[0]);
	else if (strcmp(cmd, "committed") == 0 && n == 2)
		cmd_committed(args[0], args[1]);
	else
		reply("error unknown command or wrong arguments: %s", cmd);
}

int
main(int argc, char **argv)
{
	rd_kafka_conf_t *conf;
	char		errstr[512];
	char	   *line = NULL;
	size_t		size = 0;
	int			opt;
	char	   *topics[64];
	int			ntopics = 0;

	while ((opt = getopt(argc, argv, "a:b:t:")) != -1)
	{
		if (opt == 'a')
			bootstrap = optarg;
		else if (opt == 'b')
			broker_count = atoi(optarg);
		else if (opt == 't' && ntopics < 64)
			topics[ntopics++] = optarg;
		else
			fail("usage: mock_cluster [-b brokers] [-t topic:partitions]... | -a bootstrap");
	}

	if (bootstrap == NULL)
	{
		conf = rd_kafka_conf_new();
		/* no warning that it has no bootstrap.servers */
		rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
		/* the handle only keeps the cluster; it never talks to a broker */
		owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
		if (owner == NULL)
			fail("could not create the cluster's handle: %s", errstr);
		mcluster = rd_kafka_mock_cluster_new(owner, broker_count);
		if (mcluster == NULL)
			fail("could not create a mock cluster of %d brokers", broker_count);
		bootstrap = rd_kafka_mock_cluster_bootstraps(mcluster);
		for (int i = 0; i < ntopics; i++)
		{
			char	   *colon = strrchr(topics[i], ':');
			rd_kafka_resp_err_t err;

			if (colon == NULL)
				fail("topic \"%s\" needs a partition count (topic:partitions)", topics[i]);
			*colon = '\0';
			err = rd_kafka_mock_topic_create(mcluster, topics[i], atoi(colon + 1), 1);
			if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
				fail("could not create topic \"%s\": %s", topics[i], rd_kafka_err2str(err));
		}
	}
	producer = new_client(RD_KAFKA_PRODUCER, NULL);

	reply("bootstrap %s", bootstrap);
	while (getline(&line, &size, stdin) > 0)
		command(line);
	free(line);

	rd_kafka_flush(producer, 5000);
	rd_kafka_destroy(producer);
	if (mcluster != NULL)
	{
		rd_kafka_mock_cluster_destroy(mcluster);
		rd_kafka_destroy(owner);
	}
	return 0;
}
