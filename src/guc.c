/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Configuration parameters of rail_stream, all under "rail_stream.".
 *
 * Parameters that size shared memory or name the database of the workers
 * take effect at server start, and exist only when the library is preloaded
 * (a library loaded later cannot define them); the workers' tunables take
 * effect on reload (SIGHUP).
 * Per-subscription options (rail_stream.create_subscription) override the
 * batch settings and the brokers.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "guc.h"

int			rs_max_message_size = 1024;
int			rs_dead_letter_max_size = 64;
char	   *rs_database = NULL;
char	   *rs_brokers = NULL;
int			rs_batch_size = 100;
int			rs_batch_ms = 100;
int			rs_max_workers = 8;
int			rs_restart_backoff_max = 60;
int			rs_queue_kbytes = 0;
int			rs_webhook_timeout = 10000;
int			rs_webhook_connect_timeout = 5000;
int			rs_webhook_max_attempts = 10;
int			rs_webhook_backoff_max = 300;
int			rs_webhook_max_in_flight = 100;
char	   *rs_webhook_allowed_hosts = NULL;
char	   *rs_telegram_chat_id = NULL;

static void define_webhook_gucs(void);
static bool check_host_list(char **newval, void **extra, GucSource source);
static bool check_queue_kbytes(int *newval, void **extra, GucSource source);

/*
 * rs_guc_init
 *		Define the parameters; called from _PG_init in every process.
 */
void
rs_guc_init(void)
{
	DefineCustomIntVariable("rail_stream.max_message_size",
							gettext_noop("Sets the largest message that is transformed."),
							gettext_noop("Larger messages are stored in rail_stream.dead_letters instead. "
										 "The default matches Kafka's default message.max.bytes."),
							&rs_max_message_size,
							1024, 1, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.dead_letter_max_size",
							gettext_noop("Sets how much of a message over rail_stream.max_message_size is kept as a dead letter."),
							gettext_noop("The rest is dropped; the dead letter keeps the whole message's length and SHA-256."),
							&rs_dead_letter_max_size,
							64, 0, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomStringVariable("rail_stream.brokers",
							   gettext_noop("Sets the Kafka bootstrap servers of subscriptions that name none."),
							   gettext_noop("A comma-separated list of host:port."),
							   &rs_brokers,
							   "127.0.0.1:9092",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.batch_size",
							gettext_noop("Sets the largest number of Kafka messages written per transaction."),
							gettext_noop("A batch also ends at 4 MB of message values."),
							&rs_batch_size,
							100, 1, RS_BATCH_SIZE_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.batch_ms",
							gettext_noop("Sets the longest time a batch waits for more messages before it is written."),
							gettext_noop("This bounds the latency that batching adds."),
							&rs_batch_ms,
							100, 1, RS_BATCH_MS_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.restart_backoff_max",
							gettext_noop("Sets the longest wait before a failed ingest worker is restarted."),
							gettext_noop("The wait doubles from one second after each failure, up to this."),
							&rs_restart_backoff_max,
							60, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.queue_kbytes",
							gettext_noop("Sets how much fetched Kafka data an ingest worker may hold before it is written."),
							gettext_noop("This is librdkafka's queued.max.messages.kbytes; it bounds the worker's memory. "
										 "0 chooses by librdkafka's version: 8MB from 2.3 on, 32MB before."),
							&rs_queue_kbytes,
							0, 0, 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_KB,
							check_queue_kbytes, NULL, NULL);

	define_webhook_gucs();

	/* these size shared memory or start workers: only when preloading */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("rail_stream.database",
								   gettext_noop("Sets the database whose subscriptions the background workers run."),
								   NULL,
								   &rs_database,
								   "postgres",
								   PGC_POSTMASTER, 0,
								   NULL, NULL, NULL);

		DefineCustomIntVariable("rail_stream.max_workers",
								gettext_noop("Sets the largest number of ingest workers that can run at once."),
								gettext_noop("Each also takes a slot of max_worker_processes."),
								&rs_max_workers,
								8, 1, RS_MAX_WORKERS_MAX,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
	}

	MarkGUCPrefixReserved("rail_stream");
}

/*
 * The alert sender's parameters; all take effect on reload.  Named for
 * webhooks, they apply to alerts sent to Kafka topics as well (the timeout
 * to producers made after the reload).
 */
static void
define_webhook_gucs(void)
{
	DefineCustomIntVariable("rail_stream.webhook_timeout",
							gettext_noop("Sets the longest time one webhook request, or one Kafka record's delivery, may take."),
							gettext_noop("An attempt that takes longer is abandoned and retried."),
							&rs_webhook_timeout,
							10000, 100, 600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.webhook_connect_timeout",
							gettext_noop("Sets the longest wait for a webhook's connection."),
							NULL,
							&rs_webhook_connect_timeout,
							5000, 100, 600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.webhook_max_attempts",
							gettext_noop("Sets how many times an alert is sent before it is given up as failed."),
							NULL,
							&rs_webhook_max_attempts,
							10, 1, 1000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.webhook_backoff_max",
							gettext_noop("Sets the longest wait between two attempts to send an alert."),
							gettext_noop("The wait doubles from one second after each failed attempt, up to this, "
										 "less a random part of up to a half (jitter)."),
							&rs_webhook_backoff_max,
							300, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rail_stream.webhook_max_in_flight",
							gettext_noop("Sets how many webhook requests and Kafka records the alert sender has in flight at once."),
							NULL,
							&rs_webhook_max_in_flight,
							100, 1, 1000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("rail_stream.webhook_allowed_hosts",
							   gettext_noop("Sets the hosts that webhooks may be sent to."),
							   gettext_noop("A comma-separated list of host names or addresses; empty allows every host."),
							   &rs_webhook_allowed_hosts,
							   "",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   check_host_list, NULL, NULL);

	DefineCustomStringVariable("rail_stream.telegram_chat_id",
							   gettext_noop("Sets the chat_id of the default webhook body, Telegram's sendMessage."),
							   gettext_noop("It is read when an alert is raised; rules with their own template do not use it."),
							   &rs_telegram_chat_id,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
}

/* rail_stream.webhook_allowed_hosts must be a list of hosts with ports */
static bool
check_host_list(char **newval, void **extra, GucSource source)
{
	char	   *copy = pstrdup(*newval);
	List	   *hosts;
	ListCell   *lc;
	bool		ok = SplitGUCList(copy, ',', &hosts);

	foreach(lc, hosts)
	{
		const char *host = lfirst(lc);

		if (!ok || host[0] == '\0' || strpbrk(host, "/@?# ") != NULL)
		{
			GUC_check_errdetail("List host names or addresses, each with an optional port (host:8443, host:* for any, [::1]:8080), separated by commas, without scheme or path.");
			ok = false;
			break;
		}
	}
	list_free(hosts);
	pfree(copy);
	return ok;
}

/* rail_stream.queue_kbytes: 0 (chosen by librdkafka's version) or 1MB up */
static bool
check_queue_kbytes(int *newval, void **extra, GucSource source)
{
	if (*newval != 0 && *newval < 1024)
	{
		GUC_check_errdetail("Give 0, for a size chosen by librdkafka's version, or at least 1MB.");
		return false;
	}
	return true;
}
