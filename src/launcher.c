/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: keeps one ingest worker running per subscription slot.
 *
 * With shared_preload_libraries = 'rail_stream', the postmaster starts this
 * worker.  It connects to rail_stream.database and, whenever woken (a
 * change to rail_stream.subscriptions commits, a worker it started stops)
 * or when the earliest restart is due, compares the subscriptions with the
 * workers it runs:
 *
 *	- an enabled, unpaused subscription wants `parallelism` workers;
 *	- a worker whose subscription is gone, disabled, paused or changed
 *	  (config_version) is terminated; a changed one is started again;
 *	- a worker that died is restarted after a backoff that doubles from one
 *	  second up to rail_stream.restart_backoff_max, unless it exited on
 *	  purpose (planned_exit); after RS_FAILURES_FAILED failures in a row its
 *	  state reads "failed", and it is still retried at the longest backoff;
 *	- with no extension in the database (or after DROP EXTENSION) it runs
 *	  no worker at all;
 *	- when DROP DATABASE of its database begins, the dropping backend
 *	  stops the workers and has the launcher exit for good (until the
 *	  server restarts), so that the drop goes through (object_access.c).
 *
 * The launcher owns the shared-memory slots; each worker fills in its own.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgw.h"
#include "guc.h"
#include "shmem.h"

/* A worker the subscriptions want */
typedef struct WantedWorker
{
	RsSlotKey	key;			/* subscription, worker index, version, owner */
	char		name[NAMEDATALEN];
	bool		owner_exists;	/* false once DROP ROLE removed the owner */
} WantedWorker;

static BackgroundWorkerHandle **handles;	/* per slot */
static bool slots_logged_full = false;

/* COMMIT PREPARED wakes nobody: the launcher looks at least this often */
#define RS_LAUNCHER_MAX_SLEEP_MS	10000

static long until_next_restart(void);
static List *read_wanted(void);
static void publish_owners(void);
static void reap_workers(void);
static void stop_unwanted(List *wanted);
static void start_wanted(List *wanted);
static void report_lost_owner(int slot_index, const WantedWorker *w);
static bool start_worker(int slot, const WantedWorker *w);
static int	find_slot(const WantedWorker *w);
static void launcher_detach(int code, Datum arg);

void
rs_launcher_main(Datum main_arg)
{
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(rs_database, NULL, 0);
	pgstat_report_appname("rail_stream launcher");

	handles = MemoryContextAllocZero(TopMemoryContext,
									 rs_shared->nslots * sizeof(BackgroundWorkerHandle *));
	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	rs_shared->launcher_pid = MyProcPid;
	rs_shared->launcher_latch = MyLatch;
	rs_shared->launcher_database = MyDatabaseId;
	rs_shared->dropping_database = InvalidOid;
	/*
	 * A restarted launcher has lost the handles of the workers it started:
	 * stop those workers and forget their slots.  Their replacements wait for
	 * nothing, as the stored offsets keep two workers from writing twice.
	 */
	for (int i = 0; i < rs_shared->nslots; i++)
	{
		if (rs_shared->slots[i].pid != 0)
			kill(rs_shared->slots[i].pid, SIGTERM);
		rs_slot_free(&rs_shared->slots[i]);
	}
	LWLockRelease(rs_shared->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "rail_stream launcher",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		List	   *wanted;

		MemoryContextSwitchTo(loop_cxt);
		wanted = read_wanted();
		reap_workers();
		stop_unwanted(wanted);
		start_wanted(wanted);
		MemoryContextReset(loop_cxt);

		(void) rs_wait(-1, until_next_restart());
		if (rs_shared->dropping_database == MyDatabaseId)
		{
			ereport(LOG,
					(errmsg("rail_stream launcher stops: its database is being dropped"),
					 errhint("Set \"rail_stream.database\" and restart the server to run subscriptions again.")));
			proc_exit(0);		/* exit code 0: not restarted */
		}
	}
}

/*
 * until_next_restart
 *		Milliseconds until the earliest restart of a stopped worker is due.
 *		Commits that change the subscriptions, and workers that stop, wake
 *		the launcher before that; COMMIT PREPARED does not, hence an upper
 *		bound.
 */
static long
until_next_restart(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = TimestampTzPlusMilliseconds(now, RS_LAUNCHER_MAX_SLEEP_MS);

	for (int i = 0; i < rs_shared->nslots; i++)
	{
		RsWorkerSlot *slot = rs_slot(i);

		if (handles[i] == NULL && slot->state != RS_STATE_FREE &&
			slot->restart_at < next)
			next = slot->restart_at;
	}
	return Max(TimestampDifferenceMilliseconds(now, next), 0);
}

/*
 * read_wanted
 *		One WantedWorker per (subscription, worker index) that should run,
 *		in the current memory context.
 */
static List *
read_wanted(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *wanted = NIL;
	bool		isnull;

	rs_begin_transaction("rail_stream: reading subscriptions");

	if (rs_relation_exists("rail_stream.subscriptions"))
	{
		if (SPI_execute("SELECT id, name, config_version, owner::oid, i,"
						" EXISTS (SELECT 1 FROM pg_catalog.pg_roles r"
						"  WHERE r.oid OPERATOR(pg_catalog.=) owner::oid)"
						" FROM rail_stream.subscriptions,"
						" generate_series(0, parallelism - 1) AS i"
						" WHERE enabled AND NOT paused ORDER BY id, i",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read rail_stream.subscriptions");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	t = SPI_tuptable->vals[r];
			TupleDesc	d = SPI_tuptable->tupdesc;
			MemoryContext spi = MemoryContextSwitchTo(cxt);
			WantedWorker *w = palloc0(sizeof(WantedWorker));

			w->key.subscription_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
			strlcpy(w->name, SPI_getvalue(t, d, 2), NAMEDATALEN);
			w->key.config_version = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
			w->key.owner = DatumGetObjectId(SPI_getbinval(t, d, 4, &isnull));
			w->key.worker_index = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
			w->owner_exists = DatumGetBool(SPI_getbinval(t, d, 6, &isnull));
			wanted = lappend(wanted, w);
			MemoryContextSwitchTo(spi);
		}
		publish_owners();
	}
	else
		rs_set_owners(NULL, 0, true);
	rs_commit_transaction();
	return wanted;
}

/*
 * publish_owners
 *		Put the owners of every subscription, paused or not, in shared
 *		memory, for DROP ROLE in other databases (object_access.c).
 */
static void
publish_owners(void)
{
	RsOwner		owners[RS_MAX_OWNERS];
	int			n;
	bool		isnull;

	if (SPI_execute("SELECT owner::oid, min(id) FROM rail_stream.subscriptions"
					" GROUP BY 1 ORDER BY 1",
					true, RS_MAX_OWNERS + 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rail_stream.subscriptions");
	n = Min(SPI_processed, RS_MAX_OWNERS);
	for (int i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;

		owners[i].role = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		owners[i].subscription_id = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
	}
	rs_set_owners(owners, n, SPI_processed <= RS_MAX_OWNERS);
}

/* Notice workers that have exited, and schedule their restart. */
static void
reap_workers(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < rs_shared->nslots; i++)
	{
		RsWorkerSlot *slot = rs_slot(i);
		pid_t		pid;

		if (handles[i] == NULL ||
			GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED)
			continue;
		pfree(handles[i]);
		handles[i] = NULL;

		LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
		rs_slot_stopped(slot, now);
		LWLockRelease(rs_shared->lock);
	}
}

/*
 * A subscription whose owner was dropped cannot run: its worker would
 * connect as a role that no longer exists.  Say so in the status instead,
 * and look again on the next round.
 */
static void
report_lost_owner(int slot_index, const WantedWorker *w)
{
	char		why[RS_ERROR_LEN];

	snprintf(why, sizeof(why),
			 "the owner of subscription \"%s\" (role OID %u) no longer exists; "
			 "a superuser must give it another owner",
			 w->name, w->key.owner);
	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	rs_slot_refuse(rs_slot(slot_index), &w->key, why,
				   GetCurrentTimestamp() + USECS_PER_SEC);
	LWLockRelease(rs_shared->lock);
}

/* Terminate workers no subscription wants as they run. */
static void
stop_unwanted(List *wanted)
{
	for (int i = 0; i < rs_shared->nslots; i++)
	{
		RsWorkerSlot *slot = rs_slot(i);
		bool		keep = false;
		ListCell   *lc;

		if (slot->state == RS_STATE_FREE)
			continue;
		foreach(lc, wanted)
		{
			WantedWorker *w = lfirst(lc);

			if (w->key.subscription_id == slot->subscription_id &&
				w->key.worker_index == slot->worker_index &&
				w->key.config_version == slot->config_version)
				keep = true;
		}
		if (keep)
			continue;
		if (handles[i] != NULL)
		{
			/* terminate; the slot is freed once it has stopped */
			TerminateBackgroundWorker(handles[i]);
			continue;
		}
		LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
		rs_slot_free(slot);
		LWLockRelease(rs_shared->lock);
	}
}

/* Start the wanted workers that are not running and not backing off. */
static void
start_wanted(List *wanted)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	if (rs_shared->dropping_database == MyDatabaseId)
		return;
	foreach(lc, wanted)
	{
		WantedWorker *w = lfirst(lc);
		int			slot = find_slot(w);

		/* running, being terminated, or backing off */
		if (slot >= 0 && (handles[slot] != NULL ||
						  (rs_slot(slot)->config_version == w->key.config_version &&
						   rs_slot(slot)->restart_at > now)))
			continue;
		if (slot < 0)
		{
			for (int i = 0; i < rs_shared->nslots && slot < 0; i++)
			{
				if (rs_slot(i)->state == RS_STATE_FREE && handles[i] == NULL)
					slot = i;
			}
		}
		if (slot < 0)
		{
			if (!slots_logged_full)
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("out of rail_stream worker slots"),
						 errhint("Raise \"rail_stream.max_workers\" to run more subscriptions.")));
			slots_logged_full = true;
			return;
		}
		if (!w->owner_exists)
			report_lost_owner(slot, w);
		else if (!start_worker(slot, w))
			return;
	}
	slots_logged_full = false;
}

/* The slot of this subscription's worker, of any version, if any. */
static int
find_slot(const WantedWorker *w)
{
	for (int i = 0; i < rs_shared->nslots; i++)
	{
		RsWorkerSlot *slot = rs_slot(i);

		if (slot->state != RS_STATE_FREE &&
			slot->subscription_id == w->key.subscription_id &&
			slot->worker_index == w->key.worker_index)
			return i;
	}
	return -1;
}

static bool
start_worker(int slot_index, const WantedWorker *w)
{
	BackgroundWorker bgw;
	RsWorkerArgs args;
	RsWorkerSlot *slot = rs_slot(slot_index);
	MemoryContext old;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "rail_stream");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "rs_ingest_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "rail_stream ingest %s/%d", w->name,
			 w->key.worker_index);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "rail_stream ingest");
	bgw.bgw_main_arg = Int64GetDatum(w->key.subscription_id);
	bgw.bgw_notify_pid = MyProcPid;
	args.slot = slot_index;
	args.worker_index = w->key.worker_index;
	args.database = MyDatabaseId;
	args.owner = w->key.owner;

	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	args.generation = rs_slot_start(slot, &w->key);
	LWLockRelease(rs_shared->lock);
	memcpy(bgw.bgw_extra, &args, sizeof(args));

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&bgw, &handles[slot_index]))
	{
		MemoryContextSwitchTo(old);
		handles[slot_index] = NULL;
		LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
		rs_slot_not_started(slot, "no background worker slot free",
							GetCurrentTimestamp() + 5 * USECS_PER_SEC);
		LWLockRelease(rs_shared->lock);
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start an ingest worker for subscription \"%s\"", w->name),
				 errhint("Raise \"max_worker_processes\".")));
		return false;
	}
	MemoryContextSwitchTo(old);
	return true;
}

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	rs_shared->launcher_pid = 0;
	rs_shared->launcher_latch = NULL;
	LWLockRelease(rs_shared->lock);
}
