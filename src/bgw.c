/*-------------------------------------------------------------------------
 *
 * bgw.c
 *	  What the background workers share: registration, transactions,
 *	  waiting and interrupts.
 *
 * The launcher and the alert sender are static workers, registered from
 * _PG_init; the ingest workers are started by the launcher.  Each runs its
 * SQL in transactions of its own, with the worker_spi sequence below.
 *
 * Each worker's loop waits in one place, rs_wait() (the alert sender in
 * rs_http_wait(), on its requests' sockets and its Kafka producers' pipe
 * too), and then handles what came in meanwhile with
 * rs_handle_interrupts(): SIGTERM, a crashed postmaster, a reload.  The ingest worker waits on its latch and on
 * librdkafka's queue together (a pipe that librdkafka writes to when a
 * message comes), so that neither a message nor a signal waits for the
 * other.
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
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"

#include "bgw.h"
#include "pg_compat.h"

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

/*
 * rs_wait
 *		Wait until the latch is set, fd (unless -1) is readable or timeout_ms
 *		have passed, then handle interrupts.  Returns the WL_* events seen.
 */
int
rs_wait(int fd, long timeout_ms)
{
	int			events = WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH;
	int			rc;

	if (fd >= 0)
		events |= WL_SOCKET_READABLE;
	rc = WaitLatchOrSocket(MyLatch, events, fd, Max(timeout_ms, 0),
						   PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	rs_handle_interrupts();
	return rc;
}

/*
 * rs_handle_interrupts
 *		What a worker does after each wait: SIGTERM and other interrupts,
 *		exit with a crashed postmaster (it may also have waited inside
 *		librdkafka or libcurl, not on its latch), and a reload.
 */
void
rs_handle_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
	if (!PostmasterIsAlive())
		proc_exit(1);
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}
