/*-------------------------------------------------------------------------
 *
 * bgw.c
 *	  What the background workers share: registration and transactions.
 *
 * The launcher and the alert sender are static workers, registered from
 * _PG_init; the ingest workers are started by the launcher.  Each runs its
 * SQL in transactions of its own, with the worker_spi sequence below.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/bgw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "tcop/tcopprot.h"
#include "utils/regproc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "pg_compat.h"
#include "worker.h"

static MemoryContext caller_context = NULL;

/*
 * rs_register_static_worker
 *		Register a worker of this library that the postmaster starts once
 *		recovery has finished, and restarts 5 s after it fails; exit code 0
 *		stops it for good.
 */
void
rs_register_static_worker(const char *function_name, const char *name)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "rail_stream");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "%s", function_name);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", name);
	RegisterBackgroundWorker(&bgw);
}

/*
 * rs_begin_transaction
 *		Start a transaction with SPI and a snapshot; activity is what
 *		pg_stat_activity shows meanwhile.  The caller's memory context, which
 *		must outlive the transaction, is current again after the commit.
 */
void
rs_begin_transaction(const char *activity)
{
	caller_context = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	debug_query_string = activity;
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* The memory context that was current at rs_begin_transaction */
MemoryContext
rs_caller_context(void)
{
	return caller_context;
}

/* Commit what rs_begin_transaction started. */
void
rs_commit_transaction(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	debug_query_string = NULL;
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(caller_context);
}

/*
 * rs_relation_exists
 *		Whether the relation exists (the extension may not be created yet,
 *		or dropped); inside a transaction.  A catalog lookup, no query.
 */
bool
rs_relation_exists(const char *name)
{
	List	   *names = rs_stringToQualifiedNameList(name);

	return OidIsValid(RangeVarGetRelid(makeRangeVarFromNameList(names),
									   NoLock, true));
}
