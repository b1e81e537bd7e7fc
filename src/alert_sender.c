/*-------------------------------------------------------------------------
 *
 * alert_sender.c
 *	  The alert sender: sends the outbox's due alerts to their webhooks and
 *	  Kafka topics.
 *
 * With shared_preload_libraries = 'rail_stream', the postmaster starts this
 * worker next to the launcher, in rail_stream.database.  A transaction that
 * queues alerts wakes it when it commits (rs_wake_sender_at_commit); it also
 * wakes when the next retry is due, and every ten seconds regardless.
 *
 * Each alert goes through the states of rail_stream.alerts:
 *
 *	pending --claim--> sending --2xx, acknowledged--> delivered
 *						  |----408, 429, 5xx, no response, not acknowledged--> pending (retry)
 *						  `----other status, refused record, last attempt--> failed
 *
 * Each round is one transaction: it writes back the outcomes of the
 * attempts that finished, then claims due alerts (state 'sending', attempt
 * counted) while fewer than webhook_max_in_flight attempts are in flight.
 * After the commit the claimed alerts go out: a rule with a webhook has its
 * alert POSTed (http_client.c), a rule with a Kafka topic has it produced
 * by an idempotent producer of that topic's brokers (kafka.c), keyed by the
 * rule and the movement, "<rule id>/<msg_key>".  The sender then waits for
 * its latch, the requests' sockets, the producers' delivery reports and the
 * next due retry at once.
 * What an attempt makes of its alert is decided in one place, decide():
 * a retry waits for the response's Retry-After when it has one, otherwise
 * one second doubled per attempt up to webhook_backoff_max, less a random
 * part of up to a half (jitter), so that many alerts of a dead endpoint do
 * not come back all at once.  An endpoint that stops answering altogether
 * -- a webhook's host and port, or a Kafka topic on its brokers -- has its
 * alerts held and probed by one of them (breaker.c).  The SQL only records
 * those decisions.  Alerts left 'sending' by a sender that died (even with
 * the server, kill -9) go back to pending when it starts again: an alert is
 * sent at least once, with the same idempotency key on every attempt (the
 * Idempotency-Key header of a request or of a Kafka record), so that the
 * receiver can drop the repeats.  Webhooks and Kafka topics share the
 * webhook_* parameters: attempts, backoff, in-flight limit, and the timeout
 * of one attempt, which for a record is its message.timeout.ms.
 *
 * The sender's state is one AlertSender; next_wakeup() alone decides how
 * long it sleeps between rounds.
 *
 * The sender writes only to rail_stream.alerts, in its own transactions: a
 * slow or dead endpoint delays no ingest worker.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/alert_sender.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "breaker.h"
#include "guc.h"
#include "http_client.h"
#include "kafka.h"
#include "plans.h"
#include "shmem.h"
#include "bgw.h"

#define IDLE_WAIT_MS		10000	/* look at the outbox at least this often */
#define RETRY_AFTER_MAX_S	3600	/* a longer Retry-After is cut to this */
#define ROUND_MIN_MS		20	/* rounds for retries and outcomes only */

/* A claimed alert to send */
typedef struct Claimed
{
	int64		id;
	int			attempt;		/* counted by the claim */
	char	   *url;			/* the rule's webhook, or NULL */
	char	   *topic;			/* or its Kafka topic, or NULL */
	char	   *brokers;		/* the topic's brokers; NULL: rail_stream.brokers */
	Jsonb	   *properties;		/* the producer's librdkafka properties */
	char	   *key;			/* the Kafka key: rule id and movement */
	char	   *body;
	char	   *idempotency_key;
} Claimed;

/* What an attempt made of its alert, to record in rail_stream.alerts */
typedef struct Outcome
{
	int64		id;
	const char *state;			/* delivered, failed or pending (again) */
	bool		uncounted;		/* held: the attempt was not made */
	int			status;			/* 0: no HTTP response */
	char		error[Max(RS_HTTP_ERROR_LEN, RS_KAFKA_ERROR_LEN)];	/* empty: none */
	int64		delay_ms;		/* pending: due this long after finished_at */
	TimestampTz finished_at;
} Outcome;

/* How an attempt ended, as decide() takes it */
typedef enum Verdict
{
	VERDICT_DELIVERED,
	VERDICT_RETRY,				/* no answer, 408, 429, 5xx, no acknowledgement */
	VERDICT_FAILED,				/* any other answer, a refused record; or it
								 * cannot be sent */
	VERDICT_HELD				/* not sent: its endpoint's breaker is open */
} Verdict;

typedef struct AlertSender
{
	RsHttpClient *http;			/* the requests in flight */
	RsKafkaProducers *kafka;	/* the records in flight */
	TimestampTz next_due_at;	/* earliest pending alert not claimed, or 0 */
	bool		look;			/* look for due alerts in the next round */
	TimestampTz last_round_at;
	bool		resumed;		/* alerts a dead sender left are pending */
	List	   *unwritten;		/* outcomes to record, in outcome_cxt */
	MemoryContext outcome_cxt;
	SPIPlanPtr	claim_plan;
	SPIPlanPtr	write_plan;
	SPIPlanPtr	next_due_plan;
} AlertSender;

static AlertSender *sender = NULL;

static void sender_round(void);
static long next_wakeup(long until_round);
static List *run_round(bool claim, int room);
static List *claim_due(int limit);
static Claimed *claimed_alert(HeapTuple t, TupleDesc d);
static void resume_interrupted(void);
static int	in_flight(void);
static void start_attempt(Claimed *alert);
static void post(Claimed *alert, RsEndpoint *ep);
static void produce(Claimed *alert, RsEndpoint *ep);
static void judge(const RsHttpResult *result);
static void judge_delivery(const RsKafkaDelivery *delivery);
static void decide(int64 id, Verdict verdict, int attempt, int status,
				   const char *error, int64 retry_after_ms);
static bool host_allowed(const char *url, char *why, size_t len);
static bool entry_allows(const char *entry, const char *host, int port,
						 int default_port);
static void write_outcomes(List *outcomes);
static void read_next_due(void);
static ArrayType *int64_array(Datum *values, int n);
static void sender_detach(int code, Datum arg);
static void close_producers(int code, Datum arg);

void
rs_alert_sender_main(Datum main_arg)
{
	MemoryContext round_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(rs_database, NULL, 0);
	pgstat_report_appname("rail_stream alert sender");
	/* it runs as a superuser: resolve nothing through a user's schema */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Delivery is at least once anyway: a record lost in a crash means an
	 * alert sent again with its key, so no commit waits for the disk (and
	 * takes WAL flushes from the ingest workers).
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	rs_shared->sender_pid = MyProcPid;
	rs_shared->sender_latch = MyLatch;
	LWLockRelease(rs_shared->lock);
	before_shmem_exit(sender_detach, (Datum) 0);

	sender = MemoryContextAllocZero(TopMemoryContext, sizeof(AlertSender));
	sender->look = true;
	sender->http = rs_http_create(TopMemoryContext);
	sender->kafka = rs_kafka_producers_create(TopMemoryContext);
	before_shmem_exit(close_producers, (Datum) 0);
	sender->outcome_cxt = AllocSetContextCreate(TopMemoryContext,
												"rail_stream alert outcomes",
												ALLOCSET_DEFAULT_SIZES);
	round_cxt = AllocSetContextCreate(TopMemoryContext, "rail_stream alert sender",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContextSwitchTo(round_cxt);
		sender_round();
		MemoryContextReset(round_cxt);
	}
}

/*
 * sender_round
 *		One round: write back and claim in one transaction if there is
 *		anything to write or to claim, start the claimed requests, then wait
 *		for the latch, the requests or the next due alert.
 */
static void
sender_round(void)
{
	int			room = rs_webhook_max_in_flight - in_flight();
	TimestampTz now = GetCurrentTimestamp();
	bool		claim = room > 0 && (sender->look ||
									 (sender->next_due_at != 0 &&
									  sender->next_due_at <= now));
	long		until_round;
	RsHttpResult result;
	RsKafkaDelivery delivery;
	ListCell   *lc;

	/*
	 * New alerts (look) are claimed at once.  Outcomes and retries wait up
	 * to ROUND_MIN_MS for each other, so that a failing endpoint costs a
	 * transaction per batch of attempts, not per attempt.
	 */
	until_round = sender->look ? 0 :
		ROUND_MIN_MS - TimestampDifferenceMilliseconds(sender->last_round_at, now);
	if ((claim || sender->unwritten != NIL) && until_round <= 0)
	{
		List	   *claimed = run_round(claim, room);

		sender->last_round_at = now;
		until_round = ROUND_MIN_MS;
		if (claim)				/* a full claim may have left more due */
			sender->look = list_length(claimed) == room;
		foreach(lc, claimed)
			start_attempt(lfirst(lc));
	}

	if (rs_http_wait(sender->http, next_wakeup(Max(until_round, 0)),
					 rs_kafka_producers_wake_fd(sender->kafka),
					 PG_WAIT_EXTENSION) & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		sender->look = true;
	}
	rs_handle_interrupts();
	if (rs_shared->dropping_database == MyDatabaseId)
	{
		ereport(LOG,
				(errmsg("rail_stream alert sender stops: its database is being dropped")));
		proc_exit(0);			/* exit code 0: not restarted */
	}
	while (rs_http_next_result(sender->http, &result))
		judge(&result);
	rs_kafka_producers_serve(sender->kafka);
	while (rs_kafka_next_delivery(sender->kafka, &delivery))
		judge_delivery(&delivery);
}

/* Attempts in flight: requests and records */
static int
in_flight(void)
{
	return rs_http_in_flight(sender->http) +
		rs_kafka_producers_in_flight(sender->kafka);
}

/*
 * next_wakeup
 *		How long the sender may sleep, unless its latch or a request wakes
 *		it: not at all with new alerts and room to send them; until the next
 *		round with outcomes to record; until the next due alert; and at most
 *		IDLE_WAIT_MS.
 */
static long
next_wakeup(long until_round)
{
	bool		full = in_flight() >= rs_webhook_max_in_flight;

	if (sender->look && !full)
		return 0;
	if (sender->unwritten != NIL)
		return until_round;
	if (full || sender->next_due_at == 0)
		return IDLE_WAIT_MS;	/* only the attempts can make room */
	return Min(IDLE_WAIT_MS,
			   Max(until_round,
				   TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
												   sender->next_due_at)));
}

/*
 * run_round
 *		The round's transaction: write the outcomes, then claim up to room
 *		due alerts if claim.  Returns the claimed alerts.
 */
static List *
run_round(bool claim, int room)
{
	List	   *claimed = NIL;

	rs_begin_transaction("rail_stream: sending alerts");
	if (rs_relation_exists("rail_stream.alerts"))
	{
		if (!sender->resumed)
			resume_interrupted();
		write_outcomes(sender->unwritten);
		rs_breaker_apply();
		if (claim)
			claimed = claim_due(room);
		/* after a full claim the next round claims again anyway */
		if (!claim || list_length(claimed) < room)
			read_next_due();

		/*
		 * Due alerts left unclaimed with room to spare are locked by another
		 * transaction (FOR UPDATE SKIP LOCKED): look again in a second rather
		 * than at once.
		 */
		if (claim && list_length(claimed) < room && sender->next_due_at != 0 &&
			sender->next_due_at <= GetCurrentTransactionStartTimestamp())
			sender->next_due_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															  1000);
	}
	else
	{
		/* no extension (yet, or any more): look again when woken or idle */
		sender->next_due_at = 0;
		sender->resumed = false;
	}
	rs_commit_transaction();
	sender->unwritten = NIL;
	MemoryContextReset(sender->outcome_cxt);
	return claimed;
}

/*
 * claim_due
 *		Mark up to limit due alerts 'sending', counting their attempt, and
 *		return them, in the caller's memory context.
 */
static List *
claim_due(int limit)
{
	Datum		args[1] = {Int32GetDatum(limit)};
	Oid			argtypes[1] = {INT4OID};
	List	   *claimed = NIL;

	if (sender->claim_plan == NULL)
		sender->claim_plan = rs_keep_plan("WITH due AS ("
							 "  SELECT id FROM rail_stream.alerts"
							 "  WHERE state = 'pending' AND next_attempt_at <= now()"
							 "  ORDER BY next_attempt_at, id LIMIT $1"
							 "  FOR UPDATE SKIP LOCKED)"
							 " UPDATE rail_stream.alerts a"
							 " SET state = 'sending', attempts = a.attempts + 1,"
							 "     last_attempt_at = now(), next_attempt_at = NULL"
							 " FROM due, rail_stream.alert_rules r"
							 " WHERE a.id = due.id AND r.id = a.rule_id"
							 " RETURNING a.id, r.webhook_url, a.body,"
							 "     a.idempotency_key::text, a.attempts,"
							 "     r.kafka_topic, r.kafka_brokers, r.kafka_properties,"
							 "     a.rule_id || '/' || a.msg_key",
							 1, argtypes);
	if (SPI_execute_plan(sender->claim_plan, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim due alerts");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext spi = MemoryContextSwitchTo(rs_caller_context());

		claimed = lappend(claimed, claimed_alert(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc));
		MemoryContextSwitchTo(spi);
	}
	return claimed;
}

/* A row that the claim returned, in the current memory context */
static Claimed *
claimed_alert(HeapTuple t, TupleDesc d)
{
	Claimed    *c = palloc0(sizeof(Claimed));
	bool		isnull;
	Datum		properties;

	c->id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
	c->url = SPI_getvalue(t, d, 2);
	c->body = SPI_getvalue(t, d, 3);
	c->idempotency_key = SPI_getvalue(t, d, 4);
	c->attempt = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
	c->topic = SPI_getvalue(t, d, 6);
	c->brokers = SPI_getvalue(t, d, 7);
	properties = SPI_getbinval(t, d, 8, &isnull);
	c->properties = isnull ? NULL : DatumGetJsonbPCopy(properties);
	c->key = SPI_getvalue(t, d, 9);
	return c;
}

/* When the next pending alert falls due (0: none pending) */
static void
read_next_due(void)
{
	bool		isnull;
	Datum		next;

	if (sender->next_due_plan == NULL)
		sender->next_due_plan = rs_keep_plan("SELECT min(next_attempt_at) FROM rail_stream.alerts"
								" WHERE state = 'pending'", 0, NULL);
	/* not read-only: it must see this transaction's claim */
	if (SPI_execute_plan(sender->next_due_plan, NULL, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read when the next alert is due");
	next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	sender->next_due_at = isnull ? 0 : DatumGetTimestampTz(next);
}

/*
 * resume_interrupted
 *		Alerts that a sender left 'sending' when it died are due again: no
 *		other sender runs, so none of them is in flight.  So is every
 *		pending alert.
 */
static void
resume_interrupted(void)
{
	uint64		n;

	if (SPI_execute("UPDATE rail_stream.alerts SET state = 'pending',"
					" next_attempt_at = now() WHERE state = 'sending'",
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not resume interrupted alerts");
	n = SPI_processed;

	/*
	 * Alerts held by a circuit breaker of the sender that died wait for a
	 * probe nobody will send: every pending alert is due again.
	 */
	if (SPI_execute("UPDATE rail_stream.alerts SET next_attempt_at = now()"
					" WHERE state = 'pending' AND next_attempt_at > now()",
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not resume held alerts");
	if (n > 0)
		ereport(LOG,
				(errmsg_plural("rail_stream alert sender resumes %llu alert that was being sent",
							   "rail_stream alert sender resumes %llu alerts that were being sent",
							   n, (unsigned long long) n),
				 errdetail("They are sent again with the same Idempotency-Key.")));
	sender->resumed = true;
}

/*
 * start_attempt
 *		Send a claimed alert to its webhook or Kafka topic, unless its
 *		endpoint's breaker holds it; or, if it cannot be sent at all, note
 *		the outcome that says why.
 */
static void
start_attempt(Claimed *alert)
{
	char		why[RS_HTTP_ERROR_LEN];
	RsEndpoint *ep;
	int64		hold_ms;

	if (alert->body == NULL || (alert->url == NULL && alert->topic == NULL))
	{
		decide(alert->id, VERDICT_FAILED, alert->attempt, 0,
			   "the alert's rule has no webhook URL or Kafka topic", -1);
		return;
	}
	if (alert->url != NULL && !host_allowed(alert->url, why, sizeof(why)))
	{
		decide(alert->id, VERDICT_FAILED, alert->attempt, 0, why, -1);
		return;
	}
	ep = rs_breaker_endpoint(alert->url, alert->topic, alert->brokers);
	if (!rs_breaker_allows(ep, alert->id, GetCurrentTimestamp(), &hold_ms))
		decide(alert->id, VERDICT_HELD, alert->attempt, 0, "", hold_ms);
	else if (alert->url != NULL)
		post(alert, ep);
	else
		produce(alert, ep);
}

/* POST an alert to its webhook */
static void
post(Claimed *alert, RsEndpoint *ep)
{
	RsHttpRequestSpec spec;

	spec.arg = ep;
	spec.id = alert->id;
	spec.attempt = alert->attempt;
	spec.url = alert->url;
	spec.body = alert->body;
	spec.idempotency_key = alert->idempotency_key;
	spec.connect_timeout_ms = Min(rs_webhook_connect_timeout, rs_webhook_timeout);
	spec.timeout_ms = rs_webhook_timeout;
	rs_http_post(sender->http, &spec);
}

/* Produce an alert to its Kafka topic */
static void
produce(Claimed *alert, RsEndpoint *ep)
{
	RsKafkaRecordSpec spec;

	spec.arg = ep;
	spec.id = alert->id;
	spec.attempt = alert->attempt;
	spec.brokers = alert->brokers ? alert->brokers : rs_brokers;
	spec.properties = alert->properties;
	spec.topic = alert->topic;
	spec.key = alert->key;
	spec.value = alert->body;
	spec.idempotency_key = alert->idempotency_key;
	spec.timeout_ms = rs_webhook_timeout;
	rs_kafka_produce(sender->kafka, &spec);
}

/*
 * judge
 *		2xx is delivered; no response, 408, 429 and 5xx are retried (after
 *		Retry-After, if the response has one); anything else is final.  The
 *		breaker hears of every answer and every silence.
 */
static void
judge(const RsHttpResult *result)
{
	int			s = result->status;
	Verdict		verdict;

	rs_breaker_result(result->arg, result->id,
					  result->transport_error || s == 408 || s >= 500 ? RS_UNANSWERED :
					  s == 429 ? RS_SLOW_DOWN : RS_ANSWERED,
					  GetCurrentTimestamp());
	if (result->transport_error)
		verdict = VERDICT_RETRY;
	else if (s >= 200 && s < 300)
		verdict = VERDICT_DELIVERED;
	else if (s == 408 || s == 429 || s >= 500)
		verdict = VERDICT_RETRY;
	else
		verdict = VERDICT_FAILED;
	decide(result->id, verdict, result->attempt, s, result->error,
		   result->retry_after_s < 0 ? -1 :
		   Min(result->retry_after_s, RETRY_AFTER_MAX_S) * 1000);
}

/*
 * judge_delivery
 *		An acknowledged record is delivered; one that no broker acknowledged
 *		in time is retried, and its endpoint heard nothing; one refused for
 *		good (too large, not allowed) has failed.
 */
static void
judge_delivery(const RsKafkaDelivery *delivery)
{
	rs_breaker_result(delivery->arg, delivery->id,
					  delivery->outcome == RS_KAFKA_UNDELIVERED ? RS_UNANSWERED :
					  RS_ANSWERED, GetCurrentTimestamp());
	decide(delivery->id,
		   delivery->outcome == RS_KAFKA_DELIVERED ? VERDICT_DELIVERED :
		   delivery->outcome == RS_KAFKA_UNDELIVERED ? VERDICT_RETRY : VERDICT_FAILED,
		   delivery->attempt, 0, delivery->error, -1);
}

/*
 * decide
 *		The retry policy, whole: what an attempt's verdict makes of its alert,
 *		noted for the next round's transaction to record.  Delivered and
 *		failed are final; a retry on the last attempt has failed; otherwise
 *		the alert is due again after wait_ms (the response's Retry-After, or
 *		the hold of its endpoint's breaker) or, without one, after one second
 *		doubled per attempt up to webhook_backoff_max, less up to a half at
 *		random.  A held alert was not sent: its attempt does not count.
 */
static void
decide(int64 id, Verdict verdict, int attempt, int status, const char *error,
	   int64 wait_ms)
{
	MemoryContext old = MemoryContextSwitchTo(sender->outcome_cxt);
	Outcome    *o = palloc0(sizeof(Outcome));

	o->id = id;
	o->status = status;
	strlcpy(o->error, error, sizeof(o->error));
	o->finished_at = GetCurrentTimestamp();
	o->uncounted = (verdict == VERDICT_HELD);
	if (verdict == VERDICT_DELIVERED)
		o->state = "delivered";
	else if (verdict == VERDICT_FAILED ||
			 (verdict == VERDICT_RETRY && attempt >= rs_webhook_max_attempts))
		o->state = "failed";
	else
	{
		o->state = "pending";
		if (wait_ms >= 0)
			o->delay_ms = wait_ms;
		else
			o->delay_ms = (int64)
				(Min(ldexp(1000.0, Min(attempt - 1, 40)),
					 (double) rs_webhook_backoff_max * 1000.0) *
				 (1.0 - pg_prng_double(&pg_global_prng_state) / 2.0));
	}
	sender->unwritten = lappend(sender->unwritten, o);
	MemoryContextSwitchTo(old);
}

/*
 * host_allowed
 *		Whether rail_stream.webhook_allowed_hosts (empty: any host) lets the
 *		alert go to this URL's host and port; if not, why into why.
 *
 * An entry "host" allows the scheme's default port only (80 or 443),
 * "host:port" that port, and "host:*" any; an IPv6 address with a port is
 * written in brackets, as "[::1]:8080".
 */
static bool
host_allowed(const char *url, char *why, size_t len)
{
	char		host[256];
	int			port;
	int			default_port = (pg_strncasecmp(url, "https:", 6) == 0) ? 443 : 80;
	char	   *hosts;
	List	   *allowed;
	ListCell   *lc;

	if (!rs_http_url_host(url, host, sizeof(host), &port))
	{
		strlcpy(why, "the webhook URL is not an http or https URL", len);
		return false;
	}
	if (rs_webhook_allowed_hosts == NULL || rs_webhook_allowed_hosts[0] == '\0')
		return true;
	hosts = pstrdup(rs_webhook_allowed_hosts);
	(void) SplitGUCList(hosts, ',', &allowed);	/* checked when set */
	foreach(lc, allowed)
	{
		if (entry_allows(lfirst(lc), host, port, default_port))
			return true;
	}
	snprintf(why, len, "host \"%s\" port %d is not in rail_stream.webhook_allowed_hosts",
			 host, port);
	return false;
}

/* Whether one entry of webhook_allowed_hosts allows host and port */
static bool
entry_allows(const char *entry, const char *host, int port, int default_port)
{
	char	   *name = pstrdup(entry);
	char	   *colon;
	const char *port_part = NULL;
	const char *h = host;
	char		bracketed[260];

	/* "[v6]:port", "[v6]", "name:port", "name"; a bare v6 address has no port */
	if (name[0] == '[')
	{
		char	   *close = strchr(name, ']');

		if (close != NULL && close[1] == ':')
			port_part = close + 2;
		if (close != NULL)
			close[1] = '\0';
		snprintf(bracketed, sizeof(bracketed), "[%s]", host);
		h = (host[0] == '[') ? host : bracketed;
	}
	else if ((colon = strchr(name, ':')) != NULL && strchr(colon + 1, ':') == NULL)
	{
		*colon = '\0';
		port_part = colon + 1;
	}
	if (pg_strcasecmp(h, name) != 0)
		return false;
	if (port_part == NULL)
		return port == default_port;
	return strcmp(port_part, "*") == 0 || atoi(port_part) == port;
}

/*
 * write_outcomes
 *		Record what decide() made of each attempt.  An alert no longer
 *		'sending' (deleted, or reset by hand) is left alone.
 */
static void
write_outcomes(List *outcomes)
{
	int			n = list_length(outcomes);
	Datum	   *ids,
			   *states,
			   *uncounted,
			   *statuses,
			   *errors,
			   *delays,
			   *finished;
	Oid			argtypes[7] = {INT8ARRAYOID, TEXTARRAYOID, BOOLARRAYOID,
		INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		args[7];
	int			i = 0;
	ListCell   *lc;

	if (n == 0)
		return;
	ids = palloc(n * sizeof(Datum));
	states = palloc(n * sizeof(Datum));
	uncounted = palloc(n * sizeof(Datum));
	statuses = palloc(n * sizeof(Datum));
	errors = palloc(n * sizeof(Datum));
	delays = palloc(n * sizeof(Datum));
	finished = palloc(n * sizeof(Datum));
	foreach(lc, outcomes)
	{
		Outcome    *o = lfirst(lc);

		ids[i] = Int64GetDatum(o->id);
		states[i] = CStringGetTextDatum(o->state);
		uncounted[i] = BoolGetDatum(o->uncounted);
		statuses[i] = Int32GetDatum(o->status);
		errors[i] = CStringGetTextDatum(o->error);
		delays[i] = Int64GetDatum(o->delay_ms);
		finished[i] = TimestampTzGetDatum(o->finished_at);
		i++;
	}
	args[0] = PointerGetDatum(int64_array(ids, n));
	args[1] = PointerGetDatum(construct_array(states, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(uncounted, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	args[3] = PointerGetDatum(construct_array(statuses, n, INT4OID, 4, true, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(errors, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[5] = PointerGetDatum(int64_array(delays, n));
	args[6] = PointerGetDatum(construct_array(finished, n, TIMESTAMPTZOID, sizeof(TimestampTz),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	if (sender->write_plan == NULL)
		sender->write_plan = rs_keep_plan("UPDATE rail_stream.alerts a"
										  " SET state = o.state,"
										  "     attempts = a.attempts - o.uncounted::int,"
										  "     last_status = CASE WHEN o.uncounted THEN a.last_status"
										  "                   ELSE nullif(o.status, 0) END,"
										  "     last_error = CASE WHEN o.state <> 'delivered'"
										  "                  THEN coalesce(nullif(o.error, ''), a.last_error) END,"
										  "     delivered_at = CASE WHEN o.state = 'delivered'"
										  "                    THEN o.finished_at END,"
										  "     next_attempt_at = CASE WHEN o.state = 'pending'"
										  "       THEN o.finished_at + interval '1 ms' * o.delay_ms END"
										  " FROM unnest($1, $2, $3, $4, $5, $6, $7)"
										  "   AS o(id, state, uncounted, status, error, delay_ms, finished_at)"
										  " WHERE a.id = o.id AND a.state = 'sending'",
										  7, argtypes);
	if (SPI_execute_plan(sender->write_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record alert outcomes");
}

static ArrayType *
int64_array(Datum *values, int n)
{
	return construct_array(values, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
						   TYPALIGN_DOUBLE);
}

static void
sender_detach(int code, Datum arg)
{
	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	rs_shared->sender_pid = 0;
	rs_shared->sender_latch = NULL;
	LWLockRelease(rs_shared->lock);
}

/*
 * At exit: librdkafka's threads stop before the process ends, rather than
 * run on while it tears down.  Records in flight are dropped; their alerts
 * are still 'sending', and are sent again by the next sender.
 */
static void
close_producers(int code, Datum arg)
{
	rs_kafka_producers_close(sender->kafka);
}
