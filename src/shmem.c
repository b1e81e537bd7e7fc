/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared state of the launcher, the ingest workers and the alert sender.
 *
 * One slot per running ingest worker (rail_stream.max_workers of them),
 * owned by the launcher: it assigns a slot when it starts a worker and marks
 * it backing off when the worker dies.  A slot changes state only through
 * the rs_slot_* transitions below, each of which checks the state it
 * leaves:
 *
 *	FREE, BACKING_OFF, FAILED --start--> STARTING --run--> RUNNING
 *	STARTING, RUNNING --stopped--> BACKING_OFF or FAILED (failures in a row)
 *	STARTING --not_started--> BACKING_OFF
 *	FREE, BACKING_OFF, FAILED --refuse--> FAILED (it cannot run: no owner)
 *	any --free--> FREE
 *  The worker fills in its partitions'
 * offsets, watermarks, message rates and errors after every batch, so that
 * rail_stream.subscription_status reads them without a broker call.  One
 * LWLock protects it all; every holder keeps it for a few stores only.
 * The launcher's and the alert sender's latches are there too, so that a
 * transaction can wake them when it commits, and the list of subscription
 * owners the launcher last read, so that DROP ROLE in any database sees a
 * paused subscription's owner too.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "shmem.h"

RsShared   *rs_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool wake_registered = false;	/* the callback, once per process */
static bool wake_launcher = false;	/* this transaction changed subscriptions */
static bool wake_sender = false;	/* this transaction queued alerts */

static void take_slot(RsWorkerSlot *slot, const RsSlotKey *key);

static Size
shared_size(void)
{
	return add_size(offsetof(RsShared, slots),
					mul_size(rs_max_workers, sizeof(RsWorkerSlot)));
}

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("rail_stream", 1);
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rs_shared = ShmemInitStruct("rail_stream", shared_size(), &found);
	if (!found)
	{
		memset(rs_shared, 0, shared_size());
		rs_shared->lock = &(GetNamedLWLockTranche("rail_stream"))->lock;
		rs_shared->nslots = rs_max_workers;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * rs_shmem_init
 *		Install the hooks; called from _PG_init while preloading.
 */
void
rs_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

/*
 * rs_set_owners
 *		The launcher publishes the owners of its database's subscriptions,
 *		paused ones included; complete is false when there were more than
 *		RS_MAX_OWNERS of them.
 */
void
rs_set_owners(const RsOwner *owners, int n, bool complete)
{
	Assert(n >= 0 && n <= RS_MAX_OWNERS);
	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	if (n > 0)
		memcpy(rs_shared->owners, owners, n * sizeof(RsOwner));
	rs_shared->nowners = n;
	rs_shared->owners_complete = complete;
	LWLockRelease(rs_shared->lock);
}

/*
 * rs_owned_subscription
 *		A subscription of the launcher's database that the role owns, as a
 *		slot or the published owners say; 0 when none is known.
 */
int64
rs_owned_subscription(Oid role)
{
	int64		id = 0;

	if (rs_shared == NULL)
		return 0;
	LWLockAcquire(rs_shared->lock, LW_SHARED);
	for (int i = 0; i < rs_shared->nowners && id == 0; i++)
	{
		if (rs_shared->owners[i].role == role)
			id = rs_shared->owners[i].subscription_id;
	}
	for (int i = 0; i < rs_shared->nslots && id == 0; i++)
	{
		if (rs_shared->slots[i].state != RS_STATE_FREE &&
			rs_shared->slots[i].owner == role)
			id = rs_shared->slots[i].subscription_id;
	}
	LWLockRelease(rs_shared->lock);
	return id;
}

RsWorkerSlot *
rs_slot(int index)
{
	Assert(rs_shared != NULL && index >= 0 && index < rs_shared->nslots);
	return &rs_shared->slots[index];
}

/*
 * rs_slot_start
 *		The launcher gives a slot to a worker it starts, with a new
 *		generation (a worker of an earlier one leaves the slot alone).  A
 *		slot that held another subscription, worker or configuration starts
 *		afresh; one that held this one keeps its failures and status.
 *		Returns the generation.  Caller holds the lock, as for every
 *		transition.
 */
uint64
rs_slot_start(RsWorkerSlot *slot, const RsSlotKey *key)
{
	Assert(slot->state != RS_STATE_STARTING && slot->state != RS_STATE_RUNNING);
	take_slot(slot, key);
	slot->state = RS_STATE_STARTING;
	slot->pid = 0;
	return slot->generation;
}

/* The worker has taken its slot: STARTING, with its pid. */
void
rs_slot_attach(RsWorkerSlot *slot, pid_t pid)
{
	Assert(slot->state == RS_STATE_STARTING);
	slot->pid = pid;
	slot->npartitions = 0;
}

/* The worker has its partitions assigned: STARTING -> RUNNING. */
void
rs_slot_run(RsWorkerSlot *slot)
{
	Assert(slot->state == RS_STATE_STARTING);
	slot->state = RS_STATE_RUNNING;
}

/*
 * rs_slot_stopped
 *		A worker stopped: it restarts at once if it exited on purpose
 *		(planned_exit), otherwise after a backoff that doubles per failure
 *		in a row up to rail_stream.restart_backoff_max; after
 *		RS_FAILURES_FAILED of them it reads "failed".
 */
void
rs_slot_stopped(RsWorkerSlot *slot, TimestampTz now)
{
	Assert(slot->state == RS_STATE_STARTING || slot->state == RS_STATE_RUNNING);
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
}

/* The worker could not be started: try again at retry_at, saying why. */
void
rs_slot_not_started(RsWorkerSlot *slot, const char *why, TimestampTz retry_at)
{
	Assert(slot->state == RS_STATE_STARTING && slot->pid == 0);
	slot->state = RS_STATE_BACKING_OFF;
	slot->restart_at = retry_at;
	strlcpy(slot->last_error, why, RS_ERROR_LEN);
	slot->last_error_at = GetCurrentTimestamp();
}

/*
 * rs_slot_refuse
 *		A subscription that cannot run (its owner was dropped) holds a slot
 *		in state FAILED, with why in its status, until retry_at.
 */
void
rs_slot_refuse(RsWorkerSlot *slot, const RsSlotKey *key, const char *why,
			   TimestampTz retry_at)
{
	Assert(slot->state != RS_STATE_STARTING && slot->state != RS_STATE_RUNNING);
	take_slot(slot, key);
	slot->state = RS_STATE_FAILED;
	slot->pid = 0;
	slot->restart_at = retry_at;
	strlcpy(slot->last_error, why, RS_ERROR_LEN);
	slot->last_error_at = GetCurrentTimestamp();
}

/* Nothing runs in the slot any more, nor will: FREE. */
void
rs_slot_free(RsWorkerSlot *slot)
{
	memset(slot, 0, sizeof(RsWorkerSlot));
}

static void
take_slot(RsWorkerSlot *slot, const RsSlotKey *key)
{
	if (slot->subscription_id != key->subscription_id ||
		slot->worker_index != key->worker_index ||
		slot->config_version != key->config_version)
		memset(slot, 0, sizeof(RsWorkerSlot));
	slot->generation = ++rs_shared->last_generation;
	slot->owner = key->owner;
	slot->subscription_id = key->subscription_id;
	slot->worker_index = key->worker_index;
	slot->config_version = key->config_version;
}

/*
 * Record an error for the status view, or (message NULL) take back the one
 * there, whose cause is gone; caller must not hold the lock.
 */
void
rs_slot_set_error(RsWorkerSlot *slot, const char *message)
{
	LWLockAcquire(rs_shared->lock, LW_EXCLUSIVE);
	strlcpy(slot->last_error, message ? message : "", RS_ERROR_LEN);
	slot->last_error_at = message ? GetCurrentTimestamp() : 0;
	LWLockRelease(rs_shared->lock);
}

/*
 * The status of one partition in a slot, added if new (NULL when the slot
 * reports on RS_MAX_PARTITIONS already).  Caller holds the lock.
 */
RsPartitionStatus *
rs_slot_partition(RsWorkerSlot *slot, int32 partition)
{
	RsPartitionStatus *part;

	for (int i = 0; i < slot->npartitions; i++)
	{
		if (slot->partitions[i].partition == partition)
			return &slot->partitions[i];
	}
	if (slot->npartitions >= RS_MAX_PARTITIONS)
		return NULL;
	part = &slot->partitions[slot->npartitions++];
	memset(part, 0, sizeof(RsPartitionStatus));
	part->partition = partition;
	part->high_watermark = -1;
	part->committed_offset = -1;
	return part;
}

/* Count messages in the current second's bucket; caller holds the lock. */
void
rs_slot_count(RsPartitionStatus *part, int64 messages, TimestampTz now)
{
	int64		second = now / USECS_PER_SEC;
	int			bucket = second % RS_RATE_SECONDS;

	if (part->rate_second[bucket] != second)
	{
		part->rate_second[bucket] = second;
		part->rate_count[bucket] = 0;
	}
	part->rate_count[bucket] += messages;
}

/* Messages per second over the last minute; caller holds the lock. */
double
rs_slot_rate(const RsPartitionStatus *part, TimestampTz now)
{
	int64		second = now / USECS_PER_SEC;
	int64		total = 0;

	for (int i = 0; i < RS_RATE_SECONDS; i++)
	{
		if (part->rate_second[i] > second - RS_RATE_SECONDS &&
			part->rate_second[i] <= second)
			total += part->rate_count[i];
	}
	return (double) total / RS_RATE_SECONDS;
}

static void
set_latch_of(Latch **latch_field)
{
	Latch	   *latch;

	LWLockAcquire(rs_shared->lock, LW_SHARED);
	latch = *latch_field;
	LWLockRelease(rs_shared->lock);
	if (latch)
		SetLatch(latch);
}

static void
wake_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && rs_shared != NULL)
	{
		if (wake_launcher)
			set_latch_of(&rs_shared->launcher_latch);
		if (wake_sender)
			set_latch_of(&rs_shared->sender_latch);
	}
	/* after PREPARE TRANSACTION, COMMIT PREPARED wakes nobody: they poll */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_launcher = wake_sender = false;
}

static void
register_wake(void)
{
	if (!wake_registered)
	{
		/* registered for good: unregistering inside the callback is unsafe */
		RegisterXactCallback(wake_at_commit, NULL);
		wake_registered = true;
	}
}

/*
 * rs_wake_launcher_at_commit
 *		Have the launcher look at the subscriptions when this transaction
 *		commits, and not at all if it aborts.
 */
void
rs_wake_launcher_at_commit(void)
{
	if (rs_shared == NULL)
		return;
	register_wake();
	wake_launcher = true;
}

/*
 * rs_wake_sender_at_commit
 *		Have the alert sender look for due alerts when this transaction
 *		commits.  The sender does not wake itself.
 */
void
rs_wake_sender_at_commit(void)
{
	if (rs_shared == NULL || MyProcPid == rs_shared->sender_pid)
		return;
	register_wake();
	wake_sender = true;
}
