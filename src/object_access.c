/*-------------------------------------------------------------------------
 *
 * object_access.c
 *	  What DROP DATABASE and DROP ROLE must respect: the workers in shared
 *	  memory.
 *
 * An object access hook, installed by _PG_init in every backend, runs in the
 * backend that drops:
 *
 *	- DROP DATABASE of the launcher's database: before the dropping backend
 *	  waits for the database's other sessions to go, it terminates the
 *	  ingest workers and has the launcher and the alert sender exit for good
 *	  (rs_shared->dropping_database; they exit with code 0, so the
 *	  postmaster does not restart them), so that the drop goes through;
 *	- DROP ROLE of a role that owns a subscription: refused, as its workers
 *	  connect as it.  PostgreSQL cannot record the dependency itself: a
 *	  subscription is a row, not an object of its catalogs.  The owners of
 *	  the launcher's database, paused subscriptions included, are in shared
 *	  memory (published by the launcher), so DROP ROLE run from any database
 *	  sees them; those of the database where DROP ROLE runs are read from
 *	  its table.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/object_access.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/objectaccess.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"

#include "bgw.h"
#include "run_as.h"
#include "shmem.h"

static object_access_hook_type prev_object_access_hook = NULL;

static void release_dropped_database(ObjectAccessType access, Oid classId,
									 Oid objectId, int subId, void *arg);
static void refuse_dropping_owner(Oid role);

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
		rs_shared->nowners = 0; /* its subscriptions go with it */
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
 */
static void
refuse_dropping_owner(Oid role)
{
	char	   *where = NULL;
	int64		id = rs_owned_subscription(role);

	if (id != 0)
		where = get_database_name(rs_shared->launcher_database);
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
