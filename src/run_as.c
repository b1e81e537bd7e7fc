/*-------------------------------------------------------------------------
 *
 * run_as.c
 *	  Running a stretch of code as another role.
 *
 * rail_stream runs code as another role in two places: its own statements
 * on its private tables (dead letters, offsets, the subscriptions a worker
 * reads, the subscriptions DROP ROLE looks at) run as the extension's owner,
 * and a replayed dead letter is written with the rights of the role it was
 * first written with.  Both switch the user as PostgreSQL's maintenance
 * commands do (SECURITY_RESTRICTED_OPERATION), and open a GUC nest level
 * that rs_restore_user() closes: whatever the code run meanwhile sets (a
 * search_path, by SET or by set_config() in a user's trigger) is undone, so
 * that it cannot make the caller run that role's code later in the session.
 * An ERROR in between restores both with the (sub)transaction.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/run_as.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "run_as.h"

/*
 * rs_become_owner
 *		Run as the owner of the extension's tables until rs_restore_user(),
 *		with search_path pg_catalog, pg_temp (the statements run meanwhile
 *		are schema-qualified throughout anyway).
 */
void
rs_become_owner(RsSavedUser *saved)
{
	Oid			relid;
	HeapTuple	tuple;
	Oid			owner;

	relid = get_relname_relid("dead_letters", get_namespace_oid("rail_stream", false));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	rs_become_role(saved, owner);
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * rs_become_role
 *		Run as role until rs_restore_user(), restricted as maintenance
 *		commands are: nothing the caller set up may run code with the role's
 *		rights, and nothing the role's code sets (a search_path, by SET or
 *		set_config in a trigger) outlives it in the caller's session, where
 *		it could make the caller run the role's code.
 */
void
rs_become_role(RsSavedUser *saved, Oid role)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(role, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	saved->guc_nestlevel = NewGUCNestLevel();
}

void
rs_restore_user(const RsSavedUser *saved)
{
	AtEOXact_GUC(false, saved->guc_nestlevel);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}
