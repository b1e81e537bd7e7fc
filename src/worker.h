/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The launcher and the ingest workers: entry points and arguments.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_WORKER_H
#define RAIL_STREAM_WORKER_H

#include "fmgr.h"

/* What the launcher tells an ingest worker, in bgw_extra */
typedef struct RsWorkerArgs
{
	int			slot;			/* its slot in shared memory */
	int			worker_index;	/* 0 .. parallelism - 1 */
	Oid			database;
	Oid			owner;			/* the subscription's owner, whom it runs as */
} RsWorkerArgs;

extern void rs_launcher_register(void);
extern void rs_watch_drop_database(void);

extern PGDLLEXPORT void rs_launcher_main(Datum main_arg);
extern PGDLLEXPORT void rs_ingest_worker_main(Datum main_arg);

#endif							/* RAIL_STREAM_WORKER_H */
