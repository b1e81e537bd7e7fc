/*-------------------------------------------------------------------------
 *
 * breaker.c
 *	  A circuit breaker per alert destination, for the alert sender.
 *
 * A destination, or endpoint, is a webhook URL's scheme, host and port, or
 * a Kafka topic on its brokers, "kafka://host:port,.../topic", as
 * rail_stream.alert_endpoint() names it in SQL (in webhook_health, and to
 * hold and release alerts) with the same code as here.  When
 * RS_BREAKER_FAILURES requests in a row get no answer from it (no
 * connection, a timeout, 408 or 5xx; a record that no broker acknowledged
 * in time), it is taken for down: its pending alerts are held -- their next attempt pushed
 * to the end of a cool-down, without spending an attempt -- and then one
 * alert goes ahead as a probe.  If the probe fails, the cool-down doubles,
 * up to rail_stream.webhook_backoff_max; once any request gets an answer,
 * the held alerts are due at once.  So a dead endpoint with thousands of
 * alerts costs a request per cool-down instead of a request per alert per
 * backoff, and its alerts keep their attempts for when it is back.
 *
 * The state is the sender's own, in memory: after a restart every endpoint
 * starts closed, and the sender tries every pending alert again at once.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/breaker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "breaker.h"
#include "guc.h"
#include "plans.h"

#define RS_BREAKER_FAILURES		3	/* unanswered requests in a row */
#define RS_BREAKER_FIRST_MS		1000	/* the first cool-down */
#define RS_ENDPOINT_LEN			512

typedef enum BreakerState
{
	BREAKER_CLOSED,				/* requests go through */
	BREAKER_TO_HOLD,			/* down: its alerts are to be held */
	BREAKER_HELD,				/* down: waiting for the probe */
	BREAKER_TO_RELEASE			/* answered again: release its alerts */
} BreakerState;

struct RsEndpoint
{
	char		key[RS_ENDPOINT_LEN];	/* hash key: the destination */
	BreakerState state;
	int			failures;		/* unanswered requests in a row */
	int64		cooldown_ms;
	TimestampTz open_until;		/* the probe may go then */
	int64		probe_id;		/* the alert in flight as the probe, or 0 */
	TimestampTz probe_sent_at;
};

static HTAB *endpoints = NULL;
static SPIPlanPtr hold_plan = NULL;
static SPIPlanPtr release_plan = NULL;

PG_FUNCTION_INFO_V1(rs_alert_endpoint);

static bool endpoint_key(const char *url, const char *topic, const char *brokers,
						 char *key);
static void run_for_endpoint(SPIPlanPtr *plan, const char *sql, RsEndpoint *ep,
							 TimestampTz until);

/*
 * rs_breaker_endpoint
 *		The breaker of a webhook URL's endpoint, or of a Kafka topic on its
 *		brokers (NULL: rail_stream.brokers), made closed when first seen.
 */
RsEndpoint *
rs_breaker_endpoint(const char *url, const char *topic, const char *brokers)
{
	char		key[RS_ENDPOINT_LEN];
	RsEndpoint *ep;
	bool		found;

	if (endpoints == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = RS_ENDPOINT_LEN;
		ctl.entrysize = sizeof(RsEndpoint);
		endpoints = hash_create("rail_stream alert endpoints", 16, &ctl,
								HASH_ELEM | HASH_STRINGS);
	}
	if (!endpoint_key(url, topic, brokers, key))
		return NULL;			/* too long to be one: no breaker */
	ep = hash_search(endpoints, key, HASH_ENTER, &found);
	if (!found)
	{
		ep->state = BREAKER_CLOSED;
		ep->failures = 0;
		ep->cooldown_ms = 0;
		ep->open_until = 0;
		ep->probe_id = 0;
	}
	return ep;
}

/*
 * rs_breaker_allows
 *		Whether the request of an alert may go now: always while its
 *		endpoint is closed, else as the one probe once the cool-down is over.
 *		If not, *hold_ms says when to try the alert again.
 */
bool
rs_breaker_allows(RsEndpoint *ep, int64 alert_id, TimestampTz now, int64 *hold_ms)
{
	if (ep == NULL || ep->state == BREAKER_CLOSED || ep->state == BREAKER_TO_RELEASE)
		return true;
	if (ep->probe_id == 0 && now >= ep->open_until)
	{
		ep->probe_id = alert_id;
		ep->probe_sent_at = now;
		return true;
	}
	if (ep->probe_id != 0)		/* until the probe may have ended, and then some */
		*hold_ms = TimestampDifferenceMilliseconds(now,
												   TimestampTzPlusMilliseconds(ep->probe_sent_at,
																			   rs_webhook_timeout)) +
			ep->cooldown_ms;
	else
		*hold_ms = TimestampDifferenceMilliseconds(now, ep->open_until) + ep->cooldown_ms;
	return false;
}

/*
 * rs_breaker_result
 *		What a request of an alert came to: answered (any status but 408,
 *		429 and 5xx), unanswered, or asked to slow down (429).  Only the
 *		probe's result opens a held endpoint again, or holds it longer.
 */
void
rs_breaker_result(RsEndpoint *ep, int64 alert_id, RsBreakerSignal signal,
				  TimestampTz now)
{
	bool		probe = ep != NULL && ep->probe_id == alert_id;

	if (ep == NULL)
		return;
	if (probe)
		ep->probe_id = 0;
	if (signal == RS_ANSWERED)
	{
		ep->failures = 0;
		if (ep->state != BREAKER_CLOSED)
			ep->state = BREAKER_TO_RELEASE;
		return;
	}
	if (signal == RS_UNANSWERED)
		ep->failures++;
	if (ep->state == BREAKER_CLOSED && ep->failures >= RS_BREAKER_FAILURES)
		ep->cooldown_ms = RS_BREAKER_FIRST_MS;
	else if (ep->state != BREAKER_CLOSED && probe)
		ep->cooldown_ms = Min(ep->cooldown_ms * 2,
							  (int64) rs_webhook_backoff_max * 1000);
	else
		return;					/* not down (yet), or a straggler */
	ep->open_until = TimestampTzPlusMilliseconds(now, ep->cooldown_ms);
	ep->state = BREAKER_TO_HOLD;
}

/*
 * rs_breaker_apply
 *		In the sender's transaction: hold the pending alerts of endpoints
 *		gone down until their cool-down ends, and make those of endpoints
 *		that answered again due now.
 */
void
rs_breaker_apply(void)
{
	HASH_SEQ_STATUS seq;
	RsEndpoint *ep;

	if (endpoints == NULL)
		return;
	hash_seq_init(&seq, endpoints);
	while ((ep = hash_seq_search(&seq)) != NULL)
	{
		if (ep->state == BREAKER_TO_HOLD)
		{
			run_for_endpoint(&hold_plan,
							 "UPDATE rail_stream.alerts a"
							 " SET next_attempt_at = greatest(a.next_attempt_at, $2)"
							 " FROM rail_stream.alert_rules r"
							 " WHERE r.id = a.rule_id AND a.state = 'pending'"
							 "   AND rail_stream.alert_endpoint(r.webhook_url, r.kafka_topic,"
							 "                                  r.kafka_brokers) = $1",
							 ep, ep->open_until);
			ereport(LOG,
					(errmsg("rail_stream alert endpoint %s does not answer: its alerts wait " INT64_FORMAT " ms",
							ep->key, ep->cooldown_ms),
					 errdetail_plural("%llu pending alert is held.",
									  "%llu pending alerts are held.",
									  SPI_processed, (unsigned long long) SPI_processed)));
			ep->state = BREAKER_HELD;
		}
		else if (ep->state == BREAKER_TO_RELEASE)
		{
			/* those held, not those waiting for a Retry-After beyond */
			run_for_endpoint(&release_plan,
							 "UPDATE rail_stream.alerts a"
							 " SET next_attempt_at = now()"
							 " FROM rail_stream.alert_rules r"
							 " WHERE r.id = a.rule_id AND a.state = 'pending'"
							 "   AND a.next_attempt_at > now() AND a.next_attempt_at <= $2"
							 "   AND rail_stream.alert_endpoint(r.webhook_url, r.kafka_topic,"
							 "                                  r.kafka_brokers) = $1",
							 ep, TimestampTzPlusMilliseconds(ep->open_until,
															 rs_webhook_timeout + 2 * ep->cooldown_ms));
			ereport(LOG,
					(errmsg("rail_stream alert endpoint %s answers again", ep->key),
					 errdetail_plural("%llu held alert is due now.",
									  "%llu held alerts are due now.",
									  SPI_processed, (unsigned long long) SPI_processed)));
			ep->state = BREAKER_CLOSED;
			ep->cooldown_ms = 0;
		}
	}
}

/* Run a hold or release statement for one endpoint */
static void
run_for_endpoint(SPIPlanPtr *plan, const char *sql, RsEndpoint *ep, TimestampTz until)
{
	Datum		args[2] = {CStringGetTextDatum(ep->key), TimestampTzGetDatum(until)};

	if (*plan == NULL)
	{
		Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};

		*plan = rs_keep_plan(sql, 2, argtypes);
	}
	if (SPI_execute_plan(*plan, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the alerts of endpoint %s", ep->key);
}

/*
 * alert_endpoint(webhook_url text, kafka_topic text, kafka_brokers text)
 * RETURNS text: the destination of a rule's alerts, as the breaker keys it;
 * NULL for a rule with neither, or a key too long to have a breaker.
 */
Datum
rs_alert_endpoint(PG_FUNCTION_ARGS)
{
	char	   *arg[3];
	char		key[RS_ENDPOINT_LEN];

	for (int i = 0; i < 3; i++)
		arg[i] = PG_ARGISNULL(i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(i));
	if ((arg[0] == NULL && arg[1] == NULL) || !endpoint_key(arg[0], arg[1], arg[2], key))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(key));
}

/*
 * The endpoint of a webhook URL: scheme, "://" and the authority, up to the
 * first '/', '?' or '#', as rail_stream.webhook_endpoint() cuts it in SQL;
 * without a URL, "kafka://" brokers "/" topic, the brokers of
 * rail_stream.brokers if none are given.  False if it is too long.
 */
static bool
endpoint_key(const char *url, const char *topic, const char *brokers, char *key)
{
	const char *p;
	size_t		len;

	memset(key, 0, RS_ENDPOINT_LEN);
	if (url == NULL)
		return snprintf(key, RS_ENDPOINT_LEN, "kafka://%s/%s",
						brokers ? brokers : rs_brokers, topic) < RS_ENDPOINT_LEN;
	p = strstr(url, "://");
	len = p == NULL ? strlen(url) : (p - url) + 3 + strcspn(p + 3, "/?#");
	if (len >= RS_ENDPOINT_LEN)
		return false;
	memcpy(key, url, len);
	return true;
}
