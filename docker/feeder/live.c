/*-------------------------------------------------------------------------
 *
 * live.c
 *	  The STOMP -> Kafka bridge: subscribe durably, produce, ack, reconnect.
 *
 * Each STOMP frame's body goes to Kafka unchanged, keyed by the frame's id
 * (below), with three headers: stomp-message-id, stomp-destination and
 * feeder-frame-id (the key again).  The frame is ACKed
 * (ack:client-individual) only from the delivery report that says Kafka
 * has it.
 *
 * Exactly once, and why.  The subscription is durable (CONNECT client-id,
 * SUBSCRIBE activemq.subscriptionName for ActiveMQ Classic, as Network
 * Rail's broker is, and durable-subscription-name for Artemis): frames
 * published while the feeder is away wait on the broker, and a frame that
 * was delivered but not ACKed when a connection ended is delivered again
 * on the next one.  So no frame is lost: a frame is ACKed only once Kafka
 * has it.  A frame can reach the feeder twice only if it was not ACKed,
 * i.e. the connection ended between the frame's delivery and the broker
 * processing its ACK.  Such a frame is either not yet in Kafka (producing
 * it now is its first copy) or already in Kafka (it must be skipped, and
 * ACKed).  The feeder tells the two apart by the frame's id: not STOMP's
 * message-id, which Artemis changes on redelivery ("<consumer>,<message>",
 * a new consumer per connection; ActiveMQ Classic keeps its "ID:..."), but
 * a 128-bit hash of the destination, the broker's timestamp header and the
 * body (idset_frame_id), none of which a redelivery or a broker restart
 * changes.  The test checks this on a real Artemis across a broker restart
 * and a kill -9.  The id goes into the feeder-frame-id header:
 *
 *	- within one run, every id produced is kept in a bounded set (idset.c);
 *	  a redelivered id that Kafka already has is ACKed at once, one still on
 *	  its way is ACKed when its delivery report comes;
 *	- at start-up, the set is filled from Kafka itself: the last
 *	  dedupe_depth messages of every partition of every target topic
 *	  (producer_read_tail), whose feeder-frame-id headers are the ids a
 *	  crashed predecessor may have produced without ACKing.
 *
 * The read-back is bounded because the window of frames delivered and not
 * ACKed is: the broker sends at most `prefetch` unACKed frames to a
 * subscriber (activemq.prefetchSize in frames on Classic; Artemis reads
 * consumer-window-size, in bytes, which we set to prefetch KiB).  Every
 * message written to Kafka after an unACKed frame F came from the same
 * window, or from a later connection's window after F was redelivered and
 * at once skipped and ACKed; dedupe_depth (default 4 x prefetch) covers F
 * unless F stayed unACKed across several connection losses in a row, each
 * with a full window of new frames behind it.  Kafka's side is the
 * idempotent producer: a retried send is written once, in order.
 *
 * Order.  Frames are produced in the order the broker delivers them, and
 * each partition keeps it: the idempotent producer writes a partition's
 * messages in the order produced or not at all, and never gives one up
 * (message.timeout.ms is 0) to have it produced again behind newer ones.
 * Across a crash this holds because every delivery of a frame goes to the
 * same partition: the key, which chooses it, is the frame id.  Not STOMP's
 * message-id (the talk's ActiveMQ connector keyed by the JMS messageID):
 * Artemis changes it on redelivery, so a frame still on its way to Kafka
 * when the feeder was killed came back under another key, went to another
 * partition and was written there behind frames published after it, which
 * the killed feeder had written to that partition (the test saw it).  With
 * one partition per frame, a frame missing from its partition after a
 * crash means every later frame of that partition is missing too, so the
 * redelivered one lands right after what its partition holds.  The
 * broker redelivers unACKed frames ahead of newer ones as long as it lets
 * go of them before the next connection subscribes, which it does when it
 * sees the old connection close; a broker that notices a dead connection
 * only after the feeder has subscribed again may deliver newer frames
 * first, and the feeder keeps the order in which it was given them.
 *
 * Limits: two frames with the same body, destination and timestamp count
 * as one (a live frame holds up to 32 messages with their own times); a
 * frame unACKed across more lost connections than the read-back covers
 * could be produced twice after a crash, and so could one whose target
 * topic got more than dedupe_depth messages per partition from another
 * producer during the feeder's downtime.  A frame that Kafka refuses for
 * good (too large, not authorised) stops the feeder with an error: it is
 * never ACKed, so it is not lost either.
 *
 * Reconnecting: a lost or silent connection (heart-beats) is dropped and
 * reopened after a capped, jittered exponential backoff.  While Kafka is
 * away, librdkafka keeps the frames and reconnects by itself; the broker
 * stops sending when the window is full, and heart-beats go on.  An ERROR
 * frame about credentials, or failing to connect before the first success
 * connect_attempts times, ends the feeder with exit status 1.
 *
 * With --verbose (FEEDER_VERBOSE), every frame is logged as it comes (its
 * id, message-id and redelivered header, and whether it is produced or
 * skipped) and as Kafka confirms it (partition and offset), so a log shows
 * how each frame went.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/live.c
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE			/* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "feeder.h"

#define HDR_MESSAGE_ID	"stomp-message-id"
#define HDR_DESTINATION "stomp-destination"
#define HDR_FRAME_ID	"feeder-frame-id"
#define RECEIPT_SUBSCRIBED "rail_stream_feeder-subscribed"
#define RECEIPT_DISCONNECT "rail_stream_feeder-disconnect"
#define CONNECT_TIMEOUT_MS 10000
#define IDSET_MIN 65536

/* A frame on its way to Kafka: what its delivery report needs */
typedef struct Pending
{
	char		frame_id[33];	/* idset_frame_id() */
	char	   *msgid;
	char	   *ack;			/* the ack header of its latest delivery */
	unsigned	conn_gen;		/* ... on this connection */
	struct Live *live;
} Pending;

typedef struct Live
{
	const FeederConfig *cfg;
	Producer   *producer;
	IdSet	   *ids;			/* frame id -> Pending, or NULL once in Kafka */
	StompConn  *conn;			/* NULL while disconnected */
	unsigned	conn_gen;		/* bumped at each new connection */
	bool		subscribed;
	bool		ever_connected;
	int			attempt;		/* failed connects since the last success */
	int64_t		next_attempt;
	bool		fatal;			/* stop with exit status 1 */
	int64_t		received;
	int64_t		produced;
	int64_t		skipped;
	int64_t		acked;
	int64_t		last_report;
} Live;

static void drop_connection(Live *live, const char *why);

/* Send ACK for a frame on the current connection */
static void
send_ack(Live *live, const char *ack)
{
	const char *headers[] = {"id", ack, NULL};

	if (live->conn == NULL)
		return;
	if (!stomp_send(live->conn, "ACK", headers, NULL, 0))
	{
		drop_connection(live, stomp_error(live->conn));
		return;
	}
	live->acked++;
}

/* Kafka's delivery report of one frame */
static void
on_delivery(void *opaque, const DeliveryReport *dr, void *arg)
{
	Pending    *p = opaque;
	Live	   *live = arg;
	void	  **slot = idset_lookup(live->ids, p->frame_id, 32);

	if (dr->ok)
	{
		if (slot != NULL)
			*slot = NULL;		/* in Kafka now */
		live->produced++;
		log_debug("frame %s in Kafka at partition %d offset %lld",
				  p->frame_id, (int) dr->partition, (long long) dr->offset);
		if (p->conn_gen == live->conn_gen)
			send_ack(live, p->ack);
	}
	else
	{
		/* no timeout is set: this is a permanent refusal */
		log_error("could not produce frame \"%s\" to Kafka: %s",
				  p->msgid, dr->errstr);
		if (slot != NULL)
			idset_remove(live->ids, p->frame_id, 32);
		live->fatal = true;
	}
	free(p->msgid);
	free(p->ack);
	free(p);
}

/* Remember the ids read back from Kafka's tail */
static void
on_tail_id(const char *value, size_t len, void *arg)
{
	Live	   *live = arg;

	idset_add(live->ids, value, len, NULL);
}

/* Fill the id set from the tail of every target topic */
static bool
read_back(Live *live)
{
	const FeederConfig *cfg = live->cfg;
	int			i;

	for (i = 0; i < cfg->ntopics; i++)
	{
		char		err[512] = "";
		int			n;

		n = producer_read_tail(cfg->kafka_bootstrap, cfg->topics[i].kafka_topic,
							   HDR_FRAME_ID, cfg->dedupe_depth, 30000,
							   on_tail_id, live, err, sizeof(err));
		if (n < 0)
		{
			log_error("%s", err);
			log_detail("Kafka at %s must be reachable at start-up to tell "
					   "frames already produced from new ones.",
					   cfg->kafka_bootstrap);
			return false;
		}
		log_info("read back %d messages of Kafka topic \"%s\"",
				 n, cfg->topics[i].kafka_topic);
	}
	return true;
}

/* The Kafka topic of a subscription id ("0", "1", ...) */
static const char *
kafka_topic_of(Live *live, const char *sub)
{
	int			i = sub ? atoi(sub) : -1;

	if (i < 0 || i >= live->cfg->ntopics)
		return NULL;
	return live->cfg->topics[i].kafka_topic;
}

/* Produce one frame, waiting while librdkafka's queue is full */
static bool
produce_frame(Live *live, const char *topic, const StompFrame *f,
			  Pending *p, const char *dest)
{
	ProducerHeader hdrs[3] = {
		{HDR_MESSAGE_ID, p->msgid},
		{HDR_DESTINATION, dest ? dest : ""},
		{HDR_FRAME_ID, p->frame_id}
	};
	char		err[512];

	for (;;)
	{
		int			rc = producer_send(live->producer, topic,
									   p->frame_id, 32,
									   f->body, f->body_len, hdrs, 3, p,
									   err, sizeof(err));

		if (rc == 0)
			return true;
		if (rc < 0)
		{
			log_error("%s", err);
			return false;
		}
		producer_poll(live->producer, 100);
		if (live->conn != NULL && !stomp_heartbeat(live->conn))
			drop_connection(live, stomp_error(live->conn));
	}
}

/* A MESSAGE frame: skip and ACK it if Kafka has it, else produce it */
static void
on_message(Live *live, const StompFrame *f)
{
	const char *msgid = stomp_header(f, "message-id");
	const char *ack = stomp_header(f, "ack");
	const char *dest = stomp_header(f, "destination");
	const char *topic = kafka_topic_of(live, stomp_header(f, "subscription"));
	const char *redelivered = stomp_header(f, "redelivered");
	void	  **slot;
	Pending    *p;
	char		frame_id[33];

	live->received++;
	if (ack == NULL)
		ack = msgid;			/* STOMP 1.0/1.1 brokers ack by message-id */
	if (msgid == NULL || topic == NULL)
	{
		log_error("STOMP server sent a MESSAGE without message-id or subscription");
		live->fatal = true;
		return;
	}
	idset_frame_id(dest, stomp_header(f, "timestamp"), f->body, f->body_len,
				   frame_id);
	slot = idset_lookup(live->ids, frame_id, 32);
	log_debug("frame %s received: message-id \"%s\", redelivered %s, %s",
			  frame_id, msgid, redelivered ? redelivered : "(none)",
			  slot == NULL ? "producing it" :
			  *slot ? "skipped, Kafka will have it" : "skipped, Kafka has it");
	if (slot != NULL)
	{
		live->skipped++;
		if (*slot == NULL)
			send_ack(live, ack);
		else
		{
			/* ack when its delivery report comes, on this connection */
			p = *slot;
			free(p->ack);
			p->ack = xstrdup(ack);
			p->conn_gen = live->conn_gen;
		}
		return;
	}
	p = xmalloc(sizeof(Pending));
	memcpy(p->frame_id, frame_id, sizeof(frame_id));
	p->msgid = xstrdup(msgid);
	p->ack = xstrdup(ack);
	p->conn_gen = live->conn_gen;
	p->live = live;
	idset_add(live->ids, frame_id, 32, p);
	if (!produce_frame(live, topic, f, p, dest))
	{
		idset_remove(live->ids, frame_id, 32);
		free(p->msgid);
		free(p->ack);
		free(p);
		live->fatal = true;
	}
}

/* Does an ERROR frame's text say the credentials were refused? */
static bool
is_auth_error(const char *text)
{
	static const char *const words[] = {
		"password", "validate user", "security", "authenticat",
		"not authorized", "unauthorized", "credential", "login", NULL
	};
	int			i;

	for (i = 0; words[i] != NULL; i++)
		if (strcasestr(text, words[i]) != NULL)
			return true;
	return false;
}

/* Report an ERROR frame; fatal if it is about credentials */
static void
on_error_frame(Live *live, const StompFrame *f)
{
	const char *msg = stomp_header(f, "message");
	char		text[1024];

	snprintf(text, sizeof(text), "%s%s%.*s", msg ? msg : "",
			 (msg && f->body_len) ? ": " : "", (int) f->body_len, f->body);
	/* the body may have a stack trace: keep its first line */
	text[strcspn(text, "\r\n")] = '\0';
	if (is_auth_error(text))
	{
		log_error("STOMP server at %s:%s refused the credentials of user \"%s\"",
				  live->cfg->stomp_host, live->cfg->stomp_port,
				  live->cfg->username);
		log_detail("The server said: %s", text);
		log_hint("Check NR_USERNAME and NR_PASSWORD.");
		live->fatal = true;
		drop_connection(live, NULL);
		return;
	}
	drop_connection(live, text);
}

static void
on_frame(Live *live, StompFrame *f)
{
	const char *receipt;

	if (strcmp(f->command, "MESSAGE") == 0)
		on_message(live, f);
	else if (strcmp(f->command, "ERROR") == 0)
		on_error_frame(live, f);
	else if (strcmp(f->command, "RECEIPT") == 0)
	{
		receipt = stomp_header(f, "receipt-id");
		if (receipt && strcmp(receipt, RECEIPT_SUBSCRIBED) == 0)
		{
			int			i;

			live->subscribed = true;
			live->attempt = 0;
			for (i = 0; i < live->cfg->ntopics; i++)
				log_info("subscribed to \"/topic/%s\" as durable subscription \"%s-%s\"",
						 live->cfg->topics[i].stomp_topic,
						 live->cfg->client_id,
						 live->cfg->topics[i].stomp_topic);
		}
	}
	else
		log_debug("ignoring STOMP frame %s", f->command);
}

/* Parse "cx,cy" of a heart-beat header */
static void
parse_heartbeat(const char *hb, int *sx, int *sy)
{
	*sx = *sy = 0;
	if (hb != NULL)
		(void) sscanf(hb, "%d,%d", sx, sy);
}

/* A heart-beat interval both sides agree on: 0 if either wants none */
static int
agreed_interval(int ours, int theirs)
{
	if (ours == 0 || theirs == 0)
		return 0;
	return ours > theirs ? ours : theirs;
}

/* CONNECT and wait for CONNECTED; false (and maybe fatal) on failure */
static bool
stomp_login(Live *live)
{
	const FeederConfig *cfg = live->cfg;
	char		hb[64];
	const char *headers[] = {
		"accept-version", "1.2",
		"host", cfg->stomp_host,
		"login", cfg->username,
		"passcode", cfg->password ? cfg->password : "",
		"client-id", cfg->client_id,
		"heart-beat", hb,
		NULL
	};
	StompFrame *f = NULL;
	int64_t		deadline = now_ms() + CONNECT_TIMEOUT_MS;
	int			sx;
	int			sy;
	const char *server;

	snprintf(hb, sizeof(hb), "%d,%d", cfg->heartbeat_ms, cfg->heartbeat_ms);
	if (!stomp_send(live->conn, "CONNECT", headers, NULL, 0))
	{
		drop_connection(live, stomp_error(live->conn));
		return false;
	}
	while (f == NULL && now_ms() < deadline && !feeder_stop)
	{
		if (stomp_read(live->conn, 200, &f) < 0)
		{
			drop_connection(live, stomp_error(live->conn));
			return false;
		}
	}
	if (f == NULL)
	{
		drop_connection(live, "no answer to CONNECT from STOMP server");
		return false;
	}
	if (strcmp(f->command, "CONNECTED") != 0)
	{
		if (strcmp(f->command, "ERROR") == 0)
			on_error_frame(live, f);
		else
			drop_connection(live, "unexpected answer to CONNECT");
		stomp_frame_free(f);
		return false;
	}
	/* heart-beats as STOMP 1.2 negotiates them: max of both, 0 = none */
	parse_heartbeat(stomp_header(f, "heart-beat"), &sx, &sy);
	stomp_set_heartbeat(live->conn, agreed_interval(cfg->heartbeat_ms, sy),
						agreed_interval(cfg->heartbeat_ms, sx));
	server = stomp_header(f, "server");
	log_info("connected to STOMP server at %s:%s (%s)", cfg->stomp_host,
			 cfg->stomp_port, server ? server : "unknown server");
	stomp_frame_free(f);
	return true;
}

/* SUBSCRIBE to every topic, durably; the last one asks for a receipt */
static bool
stomp_subscribe_all(Live *live)
{
	const FeederConfig *cfg = live->cfg;
	int			i;

	for (i = 0; i < cfg->ntopics; i++)
	{
		char		id[16];
		char		dest[256];
		char		name[256];
		char		prefetch[16];
		char		window[32];
		const char *headers[] = {
			"id", id,
			"destination", dest,
			"ack", "client-individual",
			"activemq.subscriptionName", name,
			"durable-subscription-name", name,
			"activemq.prefetchSize", prefetch,
			"consumer-window-size", window,
			i == cfg->ntopics - 1 ? "receipt" : NULL, RECEIPT_SUBSCRIBED,
			NULL
		};

		snprintf(id, sizeof(id), "%d", i);
		snprintf(dest, sizeof(dest), "/topic/%s", cfg->topics[i].stomp_topic);
		snprintf(name, sizeof(name), "%s-%s", cfg->client_id,
				 cfg->topics[i].stomp_topic);
		snprintf(prefetch, sizeof(prefetch), "%d", cfg->prefetch);
		snprintf(window, sizeof(window), "%d", cfg->prefetch * 1024);
		if (!stomp_send(live->conn, "SUBSCRIBE", headers, NULL, 0))
		{
			drop_connection(live, stomp_error(live->conn));
			return false;
		}
	}
	return true;
}

/* Open a connection, log in, subscribe; schedule the next try on failure */
static void
try_connect(Live *live)
{
	const FeederConfig *cfg = live->cfg;
	char		err[512];

	live->conn = stomp_open(cfg->stomp_host, cfg->stomp_port,
							CONNECT_TIMEOUT_MS, err, sizeof(err));
	if (live->conn == NULL)
	{
		drop_connection(live, err);
		return;
	}
	live->conn_gen++;
	live->subscribed = false;
	if (stomp_login(live) && stomp_subscribe_all(live))
		live->ever_connected = true;
}

/*
 * Close the connection (if any) and schedule the next attempt.  why is
 * logged; NULL when the caller reported it already.
 */
static void
drop_connection(Live *live, const char *why)
{
	int			delay;

	if (live->conn != NULL)
	{
		stomp_close(live->conn);
		live->conn = NULL;
		live->conn_gen++;		/* acks of old deliveries are void now */
	}
	live->subscribed = false;
	if (live->fatal)
		return;
	if (!live->ever_connected && live->cfg->connect_attempts > 0 &&
		live->attempt + 1 >= live->cfg->connect_attempts)
	{
		log_error("%s", why ? why : "could not connect to STOMP server");
		log_detail("Gave up after %d attempts.", live->attempt + 1);
		live->fatal = true;
		return;
	}
	delay = backoff_delay_ms(live->attempt++, live->cfg->backoff_max_ms);
	if (why)
		log_info("%s; reconnecting in %d ms", why, delay);
	live->next_attempt = now_ms() + delay;
}

/* One log line every 10 s while frames flow */
static void
report_progress(Live *live)
{
	if (now_ms() - live->last_report < 10000)
		return;
	live->last_report = now_ms();
	log_info("frames: %lld received, %lld produced, %lld redelivered and skipped, %lld acked",
			 (long long) live->received, (long long) live->produced,
			 (long long) live->skipped, (long long) live->acked);
}

/* One turn of the loop while connected */
static void
serve_connection(Live *live)
{
	StompFrame *f;
	int			rc;

	rc = stomp_read(live->conn, 50, &f);
	if (rc < 0)
	{
		drop_connection(live, stomp_error(live->conn));
		return;
	}
	if (rc > 0)
	{
		on_frame(live, f);
		stomp_frame_free(f);
	}
	if (live->conn != NULL && !stomp_heartbeat(live->conn))
		drop_connection(live, stomp_error(live->conn));
}

/* On SIGTERM: let Kafka confirm what it has, ACK it, DISCONNECT cleanly */
static void
shut_down(Live *live)
{
	StompFrame *f = NULL;
	const char *headers[] = {"receipt", RECEIPT_DISCONNECT, NULL};
	int64_t		deadline;

	if (!producer_flush(live->producer, 30000))
		log_info("Kafka did not confirm %d frames; the broker will send them again",
				 producer_in_flight(live->producer));
	if (live->conn == NULL)
		return;
	if (!stomp_send(live->conn, "DISCONNECT", headers, NULL, 0))
		return;
	deadline = now_ms() + 10000;
	while (now_ms() < deadline)
	{
		if (stomp_read(live->conn, 200, &f) < 0)
			break;
		if (f && strcmp(f->command, "RECEIPT") == 0)
			break;
		stomp_frame_free(f);
		f = NULL;
	}
	stomp_frame_free(f);
}

int
live_run(const FeederConfig *cfg)
{
	Live		live;
	char		err[512];
	int			cap = cfg->dedupe_depth * 64;

	memset(&live, 0, sizeof(live));
	live.cfg = cfg;
	live.ids = idset_create(cap > IDSET_MIN ? cap : IDSET_MIN);
	live.producer = producer_create(cfg->kafka_bootstrap, on_delivery, &live,
									err, sizeof(err));
	if (live.producer == NULL)
	{
		log_error("%s", err);
		return FEEDER_EXIT_ERROR;
	}
	if (!read_back(&live))
	{
		producer_destroy(live.producer);
		return FEEDER_EXIT_ERROR;
	}

	while (!feeder_stop && !live.fatal)
	{
		if (live.conn == NULL)
		{
			int64_t		wait = live.next_attempt - now_ms();

			if (wait <= 0)
				try_connect(&live);
			else
				producer_poll(live.producer, wait < 100 ? (int) wait : 100);
		}
		else
			serve_connection(&live);
		producer_poll(live.producer, 0);
		if (producer_fatal(live.producer, err, sizeof(err)))
		{
			log_error("%s", err);
			live.fatal = true;
		}
		report_progress(&live);
		cif_daily_tick(cfg);
	}
	if (!live.fatal)
		shut_down(&live);
	live.last_report = 0;
	report_progress(&live);
	stomp_close(live.conn);
	producer_destroy(live.producer);
	idset_destroy(live.ids);
	return live.fatal ? FEEDER_EXIT_ERROR : FEEDER_EXIT_OK;
}
