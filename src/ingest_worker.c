/*-------------------------------------------------------------------------
 *
 * ingest_worker.c
 *	  The ingest worker: one subscription's partitions, exactly once.
 *
 * The launcher starts one worker per subscription (or several, for its
 * parallelism), connected to the database as the subscription's owner.  A
 * worker owns the partitions p with p % parallelism = its index; it assigns
 * them to its Kafka consumer starting at the offsets stored in
 * rail_stream.subscription_offsets, then loops:
 *
 *	1. poll up to batch_size messages, and values of at most about
 *	   RS_BATCH_MAX_BYTES, waiting at most batch_ms after the first one; the
 *	   values are copied (a batch may have to be written again in parts)
 *	   and the messages given back to librdkafka at once;
 *	2. in ONE transaction: transform and write them (ingest.c: rows, dead
 *	   letters, and whatever the triggers write) and move each partition's
 *	   stored offset past its last message, checking that it still holds the
 *	   value this worker started from;
 *	3. after the commit, commit the same offsets to the Kafka group (for lag
 *	   tools only; all of them are sent again every few seconds, and at once
 *	   after a failed commit) and publish the progress in shared memory.
 *
 * A crash anywhere, even kill -9 of the postmaster, rolls back step 2 as a
 * whole, and the restarted worker resumes from the stored offsets: every
 * message is written exactly once.  The offset check in step 2 makes a
 * second worker on the same partitions, or a concurrent reset_offsets(),
 * fail the batch instead of writing twice.
 *
 * Errors that are not a message's fault (a lost privilege, a dropped table)
 * end the worker with the error in its status; the launcher restarts it
 * with backoff.  A broker outage does not: librdkafka reconnects by itself,
 * and the outage shows as last_error meanwhile.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/ingest_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "feed_time.h"
#include "guc.h"
#include "ingest.h"
#include "kafka.h"
#include "plans.h"
#include "run_as.h"
#include "shmem.h"
#include "bgw.h"

/* A subscription, as the worker reads it at start */
typedef struct Subscription
{
	int64		id;
	char	   *name;
	char	   *topic;
	char	   *feed;
	char	   *brokers;
	char	   *start_position;
	int			batch_size;		/* 0: rail_stream.batch_size */
	int			batch_ms;		/* 0: rail_stream.batch_ms */
	int			parallelism;
	Jsonb	   *kafka;
} Subscription;

/* A partition this worker owns */
typedef struct OwnedPartition
{
	int32		partition;
	int64		next_offset;	/* stored offset the next batch starts from */
	bool		stored;			/* whether a row holds it yet */
	/* the current batch */
	int64		last_offset;	/* -1 if the batch has none of it */
	int64		messages;
	TimestampTz last_message_at;
	TimestampTz last_event_at;
} OwnedPartition;

typedef struct WorkerState
{
	RsWorkerArgs args;
	RsWorkerSlot *slot;
	Subscription *sub;
	RsFeed		feed;
	RsKafkaConsumer *consumer;
	int			npartitions;	/* of the topic */
	int			nowned;
	OwnedPartition *owned;
	RsKafkaMessage *messages;	/* batch buffer */
	int			capacity;		/* of messages */
	int			held;			/* messages polled and not yet released */
	MemoryContext batch_cxt;
	TimestampTz next_status;
	TimestampTz next_metadata;
	TimestampTz next_group_commit;	/* of all stored offsets, if dirty */
	TimestampTz next_trim;		/* of free malloc'd memory */
	bool		group_dirty;	/* batches written since that commit */
} WorkerState;

static WorkerState *worker = NULL;

/* How often a worker asks the brokers about its topic's partitions */
#define RS_METADATA_INTERVAL	(10 * USECS_PER_SEC)

/* A batch (RS_BATCH_MAX_BYTES, ingest.h) is polled this many messages at a time */
#define RS_POLL_CHUNK			16
/* an idle worker publishes its status this often (publish_status) */
#define RS_IDLE_WAIT_MS			1000
/* free memory goes back to the system at most this often */
#define RS_TRIM_INTERVAL_MS		10000

static void run_worker(void);
static bool slot_is_mine(void);
static void lock_own_slot(void);
static void load_subscription(int64 id);
static void wait_for_partitions(void);
static void assign_partitions(void);
static int64 start_offset(OwnedPartition *p, bool *times_known);
static int64 resolve_offset(int32 partition, int64 offset);
static void offsets_at_time(TimestampTz t, int64 *offsets);
static void lookup_offsets_at_time(TimestampTz t, int64 *offsets);
static void store_start_offsets(void);
static int	collect_batch(int batch_size, int batch_ms);
static int	poll_some(int batch_size, int n, size_t *bytes);
static void write_batch(int n);
static RsMessage *build_messages(int n);
static void store_offsets(void);
static void publish_batch(int dead);
static void publish_status(bool force);
static OwnedPartition *owned(int32 partition);
static void note_kafka_error(void);
static void record_failure(void);
static void destroy_consumer(int code, Datum arg);
static void leave_slot(int code, Datum arg);
static void commit_to_group(bool all);

/*
 * rs_ingest_worker_main
 *		Entry point; main_arg is the subscription id.
 */
void
rs_ingest_worker_main(Datum main_arg)
{
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	cxt = AllocSetContextCreate(TopMemoryContext, "rail_stream worker",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	worker = palloc0(sizeof(WorkerState));
	memcpy(&worker->args, MyBgworkerEntry->bgw_extra, sizeof(RsWorkerArgs));
	worker->slot = rs_slot(worker->args.slot);
	worker->batch_cxt = AllocSetContextCreate(cxt, "rail_stream batch",
											  ALLOCSET_DEFAULT_SIZES);

	lock_own_slot();			/* unless the launcher gave it away meanwhile */
	rs_slot_attach(worker->slot, MyProcPid);
	LWLockRelease(rs_shared->lock);
	before_shmem_exit(leave_slot, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(worker->args.database,
											  worker->args.owner, 0);
	PG_TRY();
	{
		load_subscription(DatumGetInt64(main_arg));
		run_worker();
	}
	PG_CATCH();
	{
		record_failure();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

static void
run_worker(void)
{
	Subscription *sub = worker->sub;

	pgstat_report_appname(psprintf("rail_stream ingest %s", sub->name));
	worker->consumer = rs_kafka_create(sub->brokers ? sub->brokers : rs_brokers,
									   psprintf("rail_stream.%s", sub->name),
									   sub->topic, sub->kafka, rs_queue_kbytes);
	before_shmem_exit(destroy_consumer, (Datum) 0);
	wait_for_partitions();
	assign_partitions();

	lock_own_slot();
	rs_slot_run(worker->slot);
	LWLockRelease(rs_shared->lock);
	ereport(LOG,
			(errmsg("rail_stream ingest worker for subscription \"%s\" started on %d of %d partitions of topic \"%s\"",
					sub->name, worker->nowned, worker->npartitions, sub->topic)));

	for (;;)
	{
		int			batch_size = sub->batch_size ? sub->batch_size : rs_batch_size;
		int			n;

		rs_handle_interrupts();
		if (batch_size > worker->capacity)
		{
			if (worker->messages)
				pfree(worker->messages);
			worker->messages = MemoryContextAlloc(TopMemoryContext,
												  batch_size * sizeof(RsKafkaMessage));
			worker->capacity = batch_size;
		}
		n = collect_batch(batch_size, sub->batch_ms ? sub->batch_ms : rs_batch_ms);
		worker->held = n;
		rs_kafka_report(worker->consumer);
		note_kafka_error();
		if (n > 0)
			write_batch(n);
		publish_status(false);
	}
}

/* Read the subscription as the extension's owner: its table is private. */
static void
load_subscription(int64 id)
{
	Subscription *sub = palloc0(sizeof(Subscription));
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	RsSavedUser saved;
	MemoryContext cxt = CurrentMemoryContext;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	rs_begin_transaction("rail_stream: reading the subscription");
	rs_check_sql_version();
	rs_become_owner(&saved);
	if (SPI_execute_with_args("SELECT name, topic, feed, brokers, start_position,"
							  " batch_size, batch_ms, parallelism, kafka_properties"
							  " FROM rail_stream.subscriptions"
							  " WHERE id OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read subscription %lld", (long long) id);
	rs_restore_user(&saved);
	if (SPI_processed == 0)
	{
		/* dropped before we started: nothing to do */
		rs_commit_transaction();
		proc_exit(0);
	}
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	MemoryContextSwitchTo(cxt);
	sub->id = id;
	sub->name = SPI_getvalue(tuple, desc, 1);
	sub->topic = SPI_getvalue(tuple, desc, 2);
	sub->feed = SPI_getvalue(tuple, desc, 3);
	sub->brokers = SPI_getvalue(tuple, desc, 4);
	sub->start_position = SPI_getvalue(tuple, desc, 5);
	d = SPI_getbinval(tuple, desc, 6, &isnull);
	sub->batch_size = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tuple, desc, 7, &isnull);
	sub->batch_ms = isnull ? 0 : DatumGetInt32(d);
	sub->parallelism = DatumGetInt32(SPI_getbinval(tuple, desc, 8, &isnull));
	d = SPI_getbinval(tuple, desc, 9, &isnull);
	sub->kafka = isnull ? NULL : DatumGetJsonbPCopy(d);
	worker->sub = sub;
	rs_feed_parse(sub->feed, &worker->feed);
	rs_commit_transaction();
}

/*
 * wait_for_partitions
 *		Ask the brokers how many partitions the topic has, until they answer;
 *		meanwhile the status shows why not, and once they answer, no longer
 *		(the server log keeps it).
 */
static void
wait_for_partitions(void)
{
	int			count;
	bool		waited = false;

	while ((count = rs_kafka_partition_count(worker->consumer, 5000)) == 0)
	{
		rs_kafka_report(worker->consumer);
		note_kafka_error();
		(void) rs_wait(-1, 2000);
		waited = true;
	}
	if (waited)
		rs_slot_set_error(worker->slot, NULL);
	worker->npartitions = count;
	worker->owned = palloc0(count * sizeof(OwnedPartition));
	worker->nowned = 0;
	for (int p = 0; p < count; p++)
	{
		if (p % worker->sub->parallelism == worker->args.worker_index)
			worker->owned[worker->nowned++].partition = p;
	}
	worker->next_metadata = GetCurrentTimestamp() + RS_METADATA_INTERVAL;
}

/*
 * assign_partitions
 *		Start each owned partition at its stored offset, or where the
 *		subscription starts: earliest, latest or a time.
 */
static void
assign_partitions(void)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(worker->sub->id)};
	int32	   *partitions = palloc(Max(worker->nowned, 1) * sizeof(int32));
	int64	   *offsets = palloc(Max(worker->nowned, 1) * sizeof(int64));
	bool		times_known = false;
	RsSavedUser saved;

	rs_begin_transaction("rail_stream: reading offsets");
	rs_become_owner(&saved);
	if (SPI_execute_with_args("SELECT partition, next_offset FROM rail_stream.subscription_offsets"
							  " WHERE subscription_id OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read offsets of subscription \"%s\"", worker->sub->name);
	rs_restore_user(&saved);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, 1, &isnull));
		OwnedPartition *op = owned(p);

		if (op == NULL)
			continue;
		op->next_offset = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc, 2, &isnull));
		op->stored = true;
	}
	rs_commit_transaction();

	for (int i = 0; i < worker->nowned; i++)
	{
		OwnedPartition *op = &worker->owned[i];

		partitions[i] = op->partition;
		offsets[i] = start_offset(op, &times_known);
		if (!op->stored)
			op->next_offset = offsets[i] = resolve_offset(op->partition, offsets[i]);
	}
	store_start_offsets();
	rs_kafka_assign(worker->consumer, worker->nowned, partitions, offsets);
}

/*
 * resolve_offset
 *		"earliest" or "latest" as the offset it is now, asking the brokers
 *		until they answer: a worker that restarts before a partition's first
 *		message must start where this one did, not at a later "latest".
 */
static int64
resolve_offset(int32 partition, int64 offset)
{
	int64		low,
				high;

	if (offset >= 0)
		return offset;
	while (!rs_kafka_watermarks(worker->consumer, partition, &low, &high, 5000))
	{
		note_kafka_error();
		(void) rs_wait(-1, 1000);
	}
	return offset == RS_OFFSET_BEGINNING ? low : high;
}

/*
 * store_start_offsets
 *		Store where each new partition starts, before anything is read from
 *		it; a concurrent store makes the worker restart (see store_offsets).
 */
static void
store_start_offsets(void)
{
	rs_begin_transaction("rail_stream: storing start offsets");
	for (int i = 0; i < worker->nowned; i++)
		worker->owned[i].last_offset = worker->owned[i].stored ? -1 :
			worker->owned[i].next_offset - 1;
	store_offsets();
	rs_commit_transaction();
	for (int i = 0; i < worker->nowned; i++)
	{
		worker->owned[i].stored = true;
		worker->owned[i].last_offset = -1;
	}
}

/*
 * The offset a partition starts at.  When the subscription starts at a time,
 * the first call looks up the offsets of all owned partitions at once (one
 * broker call) and sets *times_known.
 */
static int64
start_offset(OwnedPartition *p, bool *times_known)
{
	const char *start = worker->sub->start_position;
	TimestampTz t;

	if (p->stored)
		return p->next_offset;
	if (strcmp(start, "earliest") == 0)
		return RS_OFFSET_BEGINNING;
	if (strcmp(start, "latest") == 0)
		return RS_OFFSET_END;

	if (!*times_known)
	{
		int64	   *offs = palloc(worker->nowned * sizeof(int64));

		t = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
													CStringGetDatum(start),
													ObjectIdGetDatum(InvalidOid),
													Int32GetDatum(-1)));
		offsets_at_time(t, offs);
		for (int i = 0; i < worker->nowned; i++)
		{
			if (!worker->owned[i].stored)
				worker->owned[i].next_offset = offs[i];
		}
		*times_known = true;
	}
	return p->next_offset;
}

/*
 * offsets_at_time
 *		For each owned partition, the offset of its first message as late as
 *		t or later; for a partition that has none, its end.
 *
 * Kafka says -1 for "none yet", which must not be taken for "latest" and
 * resolved later: a message sent in between would be skipped.  So the end
 * of such a partition is read, and the lookup made again: if it still
 * finds none, no message below that end is as late as t, and the partition
 * starts there.
 */
static void
offsets_at_time(TimestampTz t, int64 *offsets)
{
	int			n = worker->nowned;
	int64	   *ends = palloc(n * sizeof(int64));
	int64	   *again = palloc(n * sizeof(int64));
	bool		none = false;

	lookup_offsets_at_time(t, offsets);
	for (int i = 0; i < n; i++)
	{
		if (offsets[i] < 0)
		{
			ends[i] = resolve_offset(worker->owned[i].partition, RS_OFFSET_END);
			none = true;
		}
	}
	if (!none)
		return;
	lookup_offsets_at_time(t, again);
	for (int i = 0; i < n; i++)
	{
		if (offsets[i] < 0)
			offsets[i] = again[i] >= 0 ? again[i] : ends[i];
	}
}

/* Kafka's offsets for time t of the owned partitions, asking until it answers */
static void
lookup_offsets_at_time(TimestampTz t, int64 *offsets)
{
	int32	   *parts = palloc(worker->nowned * sizeof(int32));

	for (int i = 0; i < worker->nowned; i++)
		parts[i] = worker->owned[i].partition;
	while (!rs_kafka_offsets_for_time(worker->consumer, worker->nowned, parts,
									  rs_timestamptz_to_utc_ms(t), offsets, 10000))
	{
		note_kafka_error();
		(void) rs_wait(-1, 1000);
	}
}

/*
 * collect_batch
 *		Poll until batch_size messages or batch_ms after the first one, or
 *		values of about RS_BATCH_MAX_BYTES.  When librdkafka has nothing yet,
 *		wait on the latch and its queue together (rs_wait), so that a message
 *		and a signal are both seen at once.
 */
static int
collect_batch(int batch_size, int batch_ms)
{
	int			n = 0;
	size_t		bytes = 0;
	TimestampTz deadline = 0;
	bool		waited = false;

	for (;;)
	{
		long		timeout_ms = RS_IDLE_WAIT_MS;

		n = poll_some(batch_size, n, &bytes);
		if (n >= batch_size || bytes >= RS_BATCH_MAX_BYTES)
			break;
		if (n > 0)
		{
			if (deadline == 0)
				deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   batch_ms);
			timeout_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
														 deadline);
			if (timeout_ms <= 0)
				break;
		}
		else if (waited)
			break;				/* idle: the caller reports its status */
		(void) rs_wait(rs_kafka_wake_fd(worker->consumer), timeout_ms);
		waited = true;
	}
	return n;
}

/*
 * poll_some
 *		Add to the n messages already held what librdkafka has fetched, up to
 *		RS_POLL_CHUNK at a time so that a batch stops soon after
 *		RS_BATCH_MAX_BYTES; returns the new count and adds their values'
 *		bytes to *bytes.
 */
static int
poll_some(int batch_size, int n, size_t *bytes)
{
	for (;;)
	{
		int			got = rs_kafka_poll(worker->consumer, worker->messages + n,
										Min(batch_size - n, RS_POLL_CHUNK));

		for (int i = n; i < n + got; i++)
			*bytes += worker->messages[i].len;
		n += got;
		worker->held = n;
		if (got < RS_POLL_CHUNK || n >= batch_size || *bytes >= RS_BATCH_MAX_BYTES)
			return n;
	}
}

/*
 * write_batch
 *		The batch and its offsets in one transaction; then the group commit
 *		and the status.
 */
static void
write_batch(int n)
{
	RsMessage  *msgs;
	int			dead = 0;

	MemoryContextSwitchTo(worker->batch_cxt);
	msgs = build_messages(n);
	/* the values are copied: librdkafka's fetch buffers go back at once */
	rs_kafka_release(worker->messages, n);
	worker->held = 0;

	rs_begin_transaction("rail_stream: writing a batch");
	(void) rs_ingest_batch(msgs, n, &dead);
	for (int i = 0; i < n; i++)
	{
		OwnedPartition *op = owned(msgs[i].partition);

		if (msgs[i].event_time > op->last_event_at)
			op->last_event_at = msgs[i].event_time;
	}
	store_offsets();
	rs_commit_transaction();

	for (int i = 0; i < worker->nowned; i++)
	{
		OwnedPartition *op = &worker->owned[i];

		if (op->last_offset < 0)
			continue;
		op->next_offset = op->last_offset + 1;
		op->stored = true;
	}
	commit_to_group(false);
	worker->group_dirty = true;
	publish_batch(dead);
	MemoryContextReset(worker->batch_cxt);
#ifdef __GLIBC__
	/* give back, now and then, what the peaks took (librdkafka, large chunks) */
	if (GetCurrentTimestamp() >= worker->next_trim)
	{
		malloc_trim(0);
		worker->next_trim = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														RS_TRIM_INTERVAL_MS);
	}
#endif
}

/* The batch as RsMessages, and each partition's part of it noted. */
static RsMessage *
build_messages(int n)
{
	RsMessage  *msgs = palloc0(n * sizeof(RsMessage));

	for (int i = 0; i < worker->nowned; i++)
	{
		worker->owned[i].last_offset = -1;
		worker->owned[i].messages = 0;
	}
	for (int i = 0; i < n; i++)
	{
		RsKafkaMessage *km = &worker->messages[i];
		RsMessage  *m = &msgs[i];
		OwnedPartition *op = owned(km->partition);

		m->feed = worker->feed;
		if (km->value != NULL)
		{
			char	   *copy = palloc(km->len + 1);

			memcpy(copy, km->value, km->len);
			copy[km->len] = '\0';
			m->data = copy;
		}
		m->len = km->len;
		m->isnull = (km->value == NULL);
		if (km->key != NULL)
		{
			/* keys are bytes: text when they are text, else hex, as bytea */
			if (memchr(km->key, '\0', km->keylen) == NULL &&
				pg_verifymbstr(km->key, km->keylen, true))
				m->key = pnstrdup(km->key, km->keylen);
			else
			{
				char	   *hex = palloc(km->keylen * 2 + 3);

				hex[0] = '\\';
				hex[1] = 'x';
				hex[2 + hex_encode(km->key, km->keylen, hex + 2)] = '\0';
				m->key = hex;
			}
		}
		m->subscription = worker->sub->name;
		m->topic = worker->sub->topic;
		m->partition = km->partition;
		m->offset = km->offset;
		m->timestamp = km->timestamp_ms < 0 ? 0 :
			rs_utc_ms_to_timestamptz(km->timestamp_ms);
		m->headers = rs_kafka_headers(km);
		if (op == NULL)
			elog(ERROR, "message from partition %d, which this worker does not own",
				 km->partition);
		op->last_offset = km->offset;
		op->messages++;
		if (m->timestamp > op->last_message_at)
			op->last_message_at = m->timestamp;
	}
	return msgs;
}

/*
 * store_offsets
 *		Move each touched partition's stored offset past the batch, in the
 *		batch's transaction, if it still holds what this worker started from.
 */
static void
store_offsets(void)
{
	static SPIPlanPtr update_plan = NULL;
	static SPIPlanPtr insert_plan = NULL;
	Oid			types[4] = {INT8OID, INT4OID, INT8OID, INT8OID};
	RsSavedUser saved;

	rs_become_owner(&saved);
	if (update_plan == NULL)
	{
		update_plan = rs_keep_plan("UPDATE rail_stream.subscription_offsets"
								   " SET next_offset = $3, updated_at = pg_catalog.now()"
								   " WHERE subscription_id OPERATOR(pg_catalog.=) $1"
								   " AND partition OPERATOR(pg_catalog.=) $2"
								   " AND next_offset OPERATOR(pg_catalog.=) $4", 4, types);
		insert_plan = rs_keep_plan("INSERT INTO rail_stream.subscription_offsets"
								   " (subscription_id, partition, next_offset, updated_at)"
								   " VALUES ($1, $2, $3, pg_catalog.now()) ON CONFLICT DO NOTHING",
								   3, types);
	}
	for (int i = 0; i < worker->nowned; i++)
	{
		OwnedPartition *op = &worker->owned[i];
		Datum		values[4];
		int			ret;

		/* untouched by the batch, unless its start is still to be stored */
		if (op->last_offset < 0 && op->stored)
			continue;
		values[0] = Int64GetDatum(worker->sub->id);
		values[1] = Int32GetDatum(op->partition);
		values[2] = Int64GetDatum(op->last_offset + 1);
		values[3] = Int64GetDatum(op->next_offset);
		ret = SPI_execute_plan(op->stored ? update_plan : insert_plan, values, NULL,
							   false, 0);
		if (ret != SPI_OK_UPDATE && ret != SPI_OK_INSERT)
			elog(ERROR, "unexpected SPI result %d storing offsets", ret);
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("stored offset of partition %d of subscription \"%s\" changed while a batch was written",
							op->partition, worker->sub->name),
					 errdetail("Another worker or reset_offsets() moved it; the batch was rolled back and the worker restarts from the stored offset.")));
	}
	rs_restore_user(&saved);
}

/*
 * commit_to_group
 *		Commit the stored offsets to the Kafka group, for lag tools: those of
 *		the last batch, or all of them when a previous commit failed.
 */
static void
commit_to_group(bool all)
{
	int32	   *partitions = palloc(Max(worker->nowned, 1) * sizeof(int32));
	int64	   *next = palloc(Max(worker->nowned, 1) * sizeof(int64));
	int			n = 0;

	for (int i = 0; i < worker->nowned; i++)
	{
		OwnedPartition *op = &worker->owned[i];

		if (!op->stored || op->next_offset < 0 || (!all && op->last_offset < 0))
			continue;
		partitions[n] = op->partition;
		next[n++] = op->next_offset;
	}
	if (n > 0)
		rs_kafka_commit(worker->consumer, n, partitions, next);
	pfree(partitions);
	pfree(next);
}

/* After a commit: counters and per-partition progress for the status view. */
static void
publish_batch(int dead)
{
	TimestampTz now = GetCurrentTimestamp();
	RsWorkerSlot *slot = worker->slot;

	lock_own_slot();
	slot->batches++;
	slot->dead_letters += dead;
	slot->failures = 0;
	for (int i = 0; i < worker->nowned; i++)
	{
		OwnedPartition *op = &worker->owned[i];
		RsPartitionStatus *ps;

		if (op->last_offset < 0 || (ps = rs_slot_partition(slot, op->partition)) == NULL)
			continue;
		ps->committed_offset = op->next_offset;
		if (op->last_message_at > ps->last_message_at)
			ps->last_message_at = op->last_message_at;
		if (op->last_event_at > ps->last_event_at)
			ps->last_event_at = op->last_event_at;
		rs_slot_count(ps, op->messages, now);
	}
	LWLockRelease(rs_shared->lock);
	publish_status(true);
}

/*
 * publish_status
 *		High watermarks (as librdkafka last fetched them: no broker call) and
 *		stored offsets of every owned partition, at most once a second; and
 *		once a minute a check that the topic kept its partition count.
 */
static void
publish_status(bool force)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!force && now < worker->next_status)
		return;
	worker->next_status = now + USECS_PER_SEC;

	/*
	 * Group commits are sent without waiting, and one may be lost (say while
	 * the group's coordinator moves): send them all again now and then.
	 */
	if (rs_kafka_commit_failed(worker->consumer) ||
		(worker->group_dirty && now >= worker->next_group_commit))
	{
		commit_to_group(true);
		worker->group_dirty = false;
		worker->next_group_commit = now + 5 * USECS_PER_SEC;
	}
	lock_own_slot();
	for (int i = 0; i < worker->nowned; i++)
	{
		OwnedPartition *op = &worker->owned[i];
		RsPartitionStatus *ps = rs_slot_partition(worker->slot, op->partition);

		if (ps == NULL)
			continue;
		ps->high_watermark = rs_kafka_high_watermark(worker->consumer, op->partition);
		if (op->stored)
			ps->committed_offset = op->next_offset;
	}
	LWLockRelease(rs_shared->lock);

	if (now >= worker->next_metadata)
	{
		int			count = rs_kafka_partition_count(worker->consumer, 5000);

		worker->next_metadata = now + RS_METADATA_INTERVAL;
		if (count > worker->npartitions)
		{
			ereport(LOG,
					(errmsg("topic \"%s\" now has %d partitions instead of %d; the ingest worker restarts",
							worker->sub->topic, count, worker->npartitions)));
			lock_own_slot();
			worker->slot->planned_exit = true;
			LWLockRelease(rs_shared->lock);
			proc_exit(0);
		}
	}
}

/*
 * Whether the worker's slot is still its own: the launcher gives a slot a
 * new generation for each worker it starts in it, and clears them all when
 * it restarts.  Called with the lock held, or as a hint without it.
 */
static bool
slot_is_mine(void)
{
	return worker->slot->generation == worker->args.generation;
}

/*
 * Take the slots' lock to write the worker's slot; a worker whose slot is no
 * longer its own exits instead (its last commit stands: offsets are stored
 * with the rows).
 */
static void
lock_own_slot(void)
{
	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	if (slot_is_mine())
		return;
	LWLockRelease(rs_shared->lock);
	ereport(LOG,
			(errmsg("rail_stream ingest worker for subscription \"%s\" exits: its slot was given to another worker",
					worker->sub ? worker->sub->name : "?")));
	proc_exit(0);
}

/* At exit: the slot no longer names this process, so nobody signals its pid. */
static void
leave_slot(int code, Datum arg)
{
	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	if (worker->slot->pid == MyProcPid)
		worker->slot->pid = 0;
	LWLockRelease(rs_shared->lock);
}

static OwnedPartition *
owned(int32 partition)
{
	for (int i = 0; i < worker->nowned; i++)
	{
		if (worker->owned[i].partition == partition)
			return &worker->owned[i];
	}
	return NULL;
}

/* A consumer error since the last look goes to the log and the status. */
static void
note_kafka_error(void)
{
	const char *error = rs_kafka_take_error(worker->consumer);

	if (error == NULL)
		return;
	ereport(LOG,
			(errmsg("rail_stream subscription \"%s\": %s", worker->sub->name, error)));
	rs_slot_set_error(worker->slot, error);
}

/* In PG_CATCH: put the error in the status before the worker exits. */
static void
record_failure(void)
{
	ErrorData  *edata;

	LWLockReleaseAll();
	MemoryContextSwitchTo(TopMemoryContext);
	edata = CopyErrorData();
	if (slot_is_mine())			/* read without the lock: a hint only */
		rs_slot_set_error(worker->slot, edata->message ? edata->message : "unknown error");
}

/*
 * At exit, also after an ERROR in a batch: librdkafka waits for every
 * message to be released before it lets go of the consumer.
 */
static void
destroy_consumer(int code, Datum arg)
{
	if (worker == NULL || worker->consumer == NULL)
		return;
	rs_kafka_release(worker->messages, worker->held);
	worker->held = 0;
	rs_kafka_destroy(worker->consumer);
}
