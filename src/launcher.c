/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: keeps one ingest worker running per subscription slot.
 *
 * With shared_preload_libraries = 'rail_stream', the postmaster starts this
 * worker.  It connects to rail_stream.database and, whenever woken (a
 * change to rail_stream.subscriptions commits) or every second, compares
 * the subscriptions with the workers it runs:
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
 *	- when DROP DATABASE of its database begins, an object access hook in
 *	  the dropping backend stops the workers and the launcher, which exits
 *	  for good (until the server restarts), so that the drop goes through;
 *	- the same hook refuses DROP ROLE of a role that owns a subscription
 *	  (its workers connect as it): one the launcher runs, in any database,
 *	  or one in the database where DROP ROLE runs.
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

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "run_as.h"
#include "shmem.h"
#include "worker.h"

/* A worker the subscriptions want */
typedef struct WantedWorker
{
	int64		subscription_id;
	char		name[NAMEDATALEN];
	int			worker_index;
	int			config_version;
	Oid			owner;
	bool		owner_exists;	/* false once DROP ROLE removed the owner */
} WantedWorker;

static BackgroundWorkerHandle **handles;	/* per slot */
static object_access_hook_type prev_object_access_hook = NULL;
static bool slots_logged_full = false;

static List *read_wanted(void);
static void reap_workers(void);
static void stop_unwanted(List *wanted);
static void start_wanted(List *wanted);
static void report_lost_owner(int slot_index, const WantedWorker *w);
static void claim_slot(RsWorkerSlot *slot, const WantedWorker *w,
					   RsWorkerState state);
static void refuse_dropping_owner(Oid role);
static bool start_worker(int slot, const WantedWorker *w);
static int	find_slot(const WantedWorker *w);
static void launcher_detach(int code, Datum arg);
static void release_dropped_database(ObjectAccessType access, Oid classId,
									 Oid objectId, int subId, void *arg);

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
		memset(&rs_shared->slots[i], 0, sizeof(RsWorkerSlot));
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

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (rs_shared->dropping_database == MyDatabaseId)
		{
			ereport(LOG,
					(errmsg("rail_stream launcher stops: its database is being dropped"),
					 errhint("Set \"rail_stream.database\" and restart the server to run subscriptions again.")));
			proc_exit(0);		/* exit code 0: not restarted */
		}
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
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

			w->subscription_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
			strlcpy(w->name, SPI_getvalue(t, d, 2), NAMEDATALEN);
			w->config_version = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
			w->owner = DatumGetObjectId(SPI_getbinval(t, d, 4, &isnull));
			w->worker_index = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
			w->owner_exists = DatumGetBool(SPI_getbinval(t, d, 6, &isnull));
			wanted = lappend(wanted, w);
			MemoryContextSwitchTo(spi);
		}
	}
	rs_commit_transaction();
	return wanted;
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
		slot->pid = 0;
		if (slot->planned_exit)
		{
			slot->state = RS_STATE_BACKING_OFF;
			slot->restart_at = now;
		}
		else
		{
			int			delay = Min(1 << Min(slot->failures, 16), rs_restart_backoff_max);

			slot->failures++;
			slot->state = slot->failures >= RS_FAILURES_FAILED ?
				RS_STATE_FAILED : RS_STATE_BACKING_OFF;
			slot->restart_at = now + (int64) delay * USECS_PER_SEC;
		}
		slot->planned_exit = false;
		LWLockRelease(rs_shared->lock);
	}
}

/*
 * claim_slot
 *		With the lock held: give slot to w, in state, with a new generation
 *		(a worker of an earlier one leaves the slot alone).  A slot that held
 *		another subscription, worker or configuration starts afresh.
 */
static void
claim_slot(RsWorkerSlot *slot, const WantedWorker *w, RsWorkerState state)
{
	if (slot->subscription_id != w->subscription_id ||
		slot->worker_index != w->worker_index ||
		slot->config_version != w->config_version)
		memset(slot, 0, sizeof(RsWorkerSlot));
	slot->generation = ++rs_shared->last_generation;
	slot->owner = w->owner;
	slot->subscription_id = w->subscription_id;
	slot->worker_index = w->worker_index;
	slot->config_version = w->config_version;
	slot->state = state;
}

/*
 * A subscription whose owner was dropped cannot run: its worker would
 * connect as a role that no longer exists.  Say so in the status instead,
 * and look again on the next round.
 */
static void
report_lost_owner(int slot_index, const WantedWorker *w)
{
	RsWorkerSlot *slot = rs_slot(slot_index);

	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	claim_slot(slot, w, RS_STATE_FAILED);
	slot->pid = 0;
	slot->restart_at = GetCurrentTimestamp() + USECS_PER_SEC;
	snprintf(slot->last_error, RS_ERROR_LEN,
			 "the owner of subscription \"%s\" (role OID %u) no longer exists; "
			 "a superuser must give it another owner",
			 w->name, w->owner);
	slot->last_error_at = GetCurrentTimestamp();
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

			if (w->subscription_id == slot->subscription_id &&
				w->worker_index == slot->worker_index &&
				w->config_version == slot->config_version)
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
		memset(slot, 0, sizeof(RsWorkerSlot));
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
						  (rs_slot(slot)->config_version == w->config_version &&
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
			slot->subscription_id == w->subscription_id &&
			slot->worker_index == w->worker_index)
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
	snprintf(bgw.bgw_name, BGW_MAXLEN, "rail_stream ingest %s/%d", w->name, w->worker_index);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "rail_stream ingest");
	bgw.bgw_main_arg = Int64GetDatum(w->subscription_id);
	bgw.bgw_notify_pid = MyProcPid;
	args.slot = slot_index;
	args.worker_index = w->worker_index;
	args.database = MyDatabaseId;
	args.owner = w->owner;

	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	claim_slot(slot, w, RS_STATE_STARTING);
	args.generation = slot->generation;
	LWLockRelease(rs_shared->lock);
	memcpy(bgw.bgw_extra, &args, sizeof(args));

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&bgw, &handles[slot_index]))
	{
		MemoryContextSwitchTo(old);
		handles[slot_index] = NULL;
		LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
		slot->state = RS_STATE_BACKING_OFF;
		slot->restart_at = GetCurrentTimestamp() + 5 * USECS_PER_SEC;
		strlcpy(slot->last_error, "no background worker slot free", RS_ERROR_LEN);
		slot->last_error_at = GetCurrentTimestamp();
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

/*
 * rs_watch_drop_database
 *		Install the hook that lets DROP DATABASE through; from _PG_init.
 */
void
rs_watch_drop_database(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = release_dropped_database;
}

/*
 * release_dropped_database
 *		In the backend running DROP DATABASE, before it waits for the other
 *		sessions of the database to go: if the launcher's database is the one
 *		dropped, terminate the ingest workers and have the launcher and the
 *		alert sender exit.
 */
static void
release_dropped_database(ObjectAccessType access, Oid classId, Oid objectId,
						 int subId, void *arg)
{
	Latch	   *latch = NULL;
	Latch	   *sender_latch = NULL;

	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_DROP && classId == AuthIdRelationId)
	{
		refuse_dropping_owner(objectId);
		return;
	}
	if (access != OAT_DROP || classId != DatabaseRelationId || rs_shared == NULL)
		return;

	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	if (rs_shared->launcher_database == objectId && rs_shared->launcher_pid != 0)
	{
		rs_shared->dropping_database = objectId;
		latch = rs_shared->launcher_latch;
		sender_latch = rs_shared->sender_latch;
		for (int i = 0; i < rs_shared->nslots; i++)
		{
			if (rs_shared->slots[i].pid != 0)
				kill(rs_shared->slots[i].pid, SIGTERM);
		}
	}
	LWLockRelease(rs_shared->lock);
	if (latch)
		SetLatch(latch);
	if (sender_latch)
		SetLatch(sender_latch);
}

/*
 * refuse_dropping_owner
 *		In DROP ROLE: an ERROR if the role owns a subscription that the
 *		launcher runs (in rail_stream.database), or one in this database.
 *		PostgreSQL cannot record the dependency itself: a subscription is a
 *		row, not an object of its catalogs.
 */
static void
refuse_dropping_owner(Oid role)
{
	char	   *where = NULL;
	int64		id = 0;

	if (rs_shared != NULL)
	{
		LWLockAcquire(rs_shared->lock, LW_SHARED);
		for (int i = 0; i < rs_shared->nslots && id == 0; i++)
		{
			if (rs_shared->slots[i].state != RS_STATE_FREE &&
				rs_shared->slots[i].owner == role)
				id = rs_shared->slots[i].subscription_id;
		}
		LWLockRelease(rs_shared->lock);
		if (id != 0)
			where = get_database_name(rs_shared->launcher_database);
	}
	if (id == 0 && OidIsValid(get_extension_oid("rail_stream", true)))
	{
		Oid			types[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(role)};
		RsSavedUser saved;
		bool		isnull;

		SPI_connect();
		rs_become_owner(&saved);
		if (SPI_execute_with_args("SELECT id FROM rail_stream.subscriptions"
								  " WHERE owner::oid OPERATOR(pg_catalog.=) $1 LIMIT 1",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read rail_stream.subscriptions");
		if (SPI_processed > 0)
		{
			id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
			where = get_database_name(MyDatabaseId);
		}
		rs_restore_user(&saved);
		SPI_finish();
	}
	if (id != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("role \"%s\" cannot be dropped because it owns a rail_stream subscription",
						GetUserNameFromId(role, false)),
				 errdetail("Subscription %lld in database \"%s\" runs its workers as this role.",
						   (long long) id, where ? where : "?"),
				 errhint("Drop the subscription, or, as a superuser, give it another owner: "
						 "UPDATE rail_stream.subscriptions SET owner = ... WHERE id = %lld.",
						 (long long) id)));
}
