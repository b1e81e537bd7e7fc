/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared state of the launcher, the ingest workers and the alert sender.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_SHMEM_H
#define RAIL_STREAM_SHMEM_H

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#define RS_MAX_PARTITIONS	128 /* partitions one worker reports on */
#define RS_RATE_SECONDS		60	/* window of messages_per_second */
#define RS_ERROR_LEN		256
#define RS_FAILURES_FAILED	5	/* failures in a row that read as "failed" */

typedef enum RsWorkerState
{
	RS_STATE_FREE = 0,			/* slot unused */
	RS_STATE_STARTING,
	RS_STATE_RUNNING,
	RS_STATE_BACKING_OFF,		/* failed; restarts at restart_at */
	RS_STATE_FAILED				/* failed repeatedly; still restarts */
} RsWorkerState;

typedef struct RsPartitionStatus
{
	int32		partition;
	int64		committed_offset;	/* next offset to read, as committed */
	int64		high_watermark; /* -1 while unknown */
	TimestampTz last_message_at;	/* Kafka timestamp of the last message */
	TimestampTz last_event_at;	/* the feed's own time of the last message */
	int64		rate_second[RS_RATE_SECONDS];	/* ring of per-second counts */
	int64		rate_count[RS_RATE_SECONDS];
} RsPartitionStatus;

typedef struct RsWorkerSlot
{
	uint64		generation;		/* of the worker started in it: see below */
	int64		subscription_id;
	Oid			owner;			/* the subscription's owner: who may see it */
	int			worker_index;	/* 0 .. parallelism - 1 */
	int			config_version; /* of the subscription it runs */
	pid_t		pid;
	RsWorkerState state;
	TimestampTz restart_at;
	int			failures;		/* consecutive, for the backoff */
	bool		planned_exit;	/* the worker exits to be restarted at once */
	int64		batches;
	int64		dead_letters;
	char		last_error[RS_ERROR_LEN];
	TimestampTz last_error_at;
	int			npartitions;
	RsPartitionStatus partitions[RS_MAX_PARTITIONS];
} RsWorkerSlot;

/*
 * The owners of the launcher's database's subscriptions, running or not, as
 * the launcher last read them, so that DROP ROLE in any database can refuse
 * to drop one (a paused subscription has no slot).
 */
#define RS_MAX_OWNERS 64

typedef struct RsOwner
{
	Oid			role;
	int64		subscription_id;	/* the first one it owns */
} RsOwner;

typedef struct RsShared
{
	LWLock	   *lock;			/* protects everything below */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	Oid			launcher_database;	/* the workers' database */
	Oid			dropping_database;	/* DROP DATABASE of it has begun */
	pid_t		sender_pid;		/* the alert sender, 0 when not running */
	Latch	   *sender_latch;
	/*
	 * Each worker start takes the next generation, for its slot and its
	 * arguments; a worker whose slot no longer has its generation (the
	 * launcher restarted, or gave the slot to another) leaves it alone and
	 * exits.  Kept here, as restarted launchers clear the slots.
	 */
	uint64		last_generation;
	int			nowners;
	bool		owners_complete;	/* false: more than RS_MAX_OWNERS */
	RsOwner		owners[RS_MAX_OWNERS];
	int			nslots;
	RsWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} RsShared;

extern RsShared *rs_shared;

/* What a slot runs: one worker of one version of one subscription */
typedef struct RsSlotKey
{
	int64		subscription_id;
	int			worker_index;
	int			config_version;
	Oid			owner;
} RsSlotKey;

extern void rs_shmem_init(void);
extern RsWorkerSlot *rs_slot(int index);
extern uint64 rs_slot_start(RsWorkerSlot *slot, const RsSlotKey *key);
extern void rs_slot_attach(RsWorkerSlot *slot, pid_t pid);
extern void rs_slot_run(RsWorkerSlot *slot);
extern void rs_slot_stopped(RsWorkerSlot *slot, TimestampTz now);
extern void rs_slot_not_started(RsWorkerSlot *slot, const char *why,
								TimestampTz retry_at);
extern void rs_slot_refuse(RsWorkerSlot *slot, const RsSlotKey *key,
						   const char *why, TimestampTz retry_at);
extern void rs_slot_free(RsWorkerSlot *slot);
extern void rs_slot_set_error(RsWorkerSlot *slot, const char *message);
extern void rs_slot_count(RsPartitionStatus *part, int64 messages,
						  TimestampTz now);
extern double rs_slot_rate(const RsPartitionStatus *part, TimestampTz now);
extern RsPartitionStatus *rs_slot_partition(RsWorkerSlot *slot, int32 partition);
extern void rs_set_owners(const RsOwner *owners, int n, bool complete);
extern int64 rs_owned_subscription(Oid role);
extern void rs_wake_launcher_at_commit(void);
extern void rs_wake_sender_at_commit(void);

#endif							/* RAIL_STREAM_SHMEM_H */
