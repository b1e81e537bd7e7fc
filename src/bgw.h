/*-------------------------------------------------------------------------
 *
 * bgw.h
 *	  What the background workers share: entry points, arguments,
 *	  transactions, waiting and interrupts (bgw.c).
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/bgw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_BGW_H
#define RAIL_STREAM_BGW_H

#include "fmgr.h"

/* What the launcher tells an ingest worker, in bgw_extra */
typedef struct RsWorkerArgs
{
	int			slot;			/* its slot in shared memory */
	int			worker_index;	/* 0 .. parallelism - 1 */
	Oid			database;
	Oid			owner;			/* the subscription's owner, whom it runs as */
	uint64		generation;		/* of its slot, when it was started */
} RsWorkerArgs;

extern void rs_register_static_worker(const char *function_name,
									  const char *name);
extern void rs_begin_transaction(const char *activity);
extern void rs_commit_transaction(void);
extern MemoryContext rs_caller_context(void);
extern bool rs_relation_exists(const char *name);
extern int	rs_wait(int fd, long timeout_ms);
extern void rs_handle_interrupts(void);
extern void rs_watch_drop_database(void);

extern PGDLLEXPORT void rs_launcher_main(Datum main_arg);
extern PGDLLEXPORT void rs_ingest_worker_main(Datum main_arg);
extern PGDLLEXPORT void rs_alert_sender_main(Datum main_arg);

#endif							/* RAIL_STREAM_BGW_H */
