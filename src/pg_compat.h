/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *		What differs between the major versions of PostgreSQL that
 *		rail_stream builds against (15, 17 and 18; see test/matrix/run.sh).
 *
 * The rest of src/ is written against one API: where a later version
 * renamed or changed something, this header gives it one name that works
 * on every version, so that each difference lives in one small
 * #if PG_VERSION_NUM block here and nowhere else.  A file that needs one of
 * these includes this header after PostgreSQL's own.
 *
 * Each block says which version made the change.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RS_PG_COMPAT_H
#define RS_PG_COMPAT_H

#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/regproc.h"
#include "utils/relcache.h"
#include "utils/resowner.h"

/*
 * PostgreSQL 16 gave stringToQualifiedNameList() a soft error context;
 * rail_stream wants errors thrown (NULL).
 */
#if PG_VERSION_NUM >= 160000
#define rs_stringToQualifiedNameList(string) \
	stringToQualifiedNameList((string), NULL)
#else
#define rs_stringToQualifiedNameList(string) \
	stringToQualifiedNameList(string)
#endif

/*
 * PostgreSQL 17 moved the backend's local transaction id into
 * PGPROC.vxid (with the proc number).
 */
#if PG_VERSION_NUM >= 170000
#define RS_MY_LXID (MyProc->vxid.lxid)
#else
#define RS_MY_LXID (MyProc->lxid)
#endif

/*
 * PostgreSQL 17 made a WaitEventSet a resource of a resource owner instead
 * of memory of a context.  Either way the caller frees it with
 * FreeWaitEventSet(); the owner (none outside a transaction) only cleans up
 * after an error.
 */
#if PG_VERSION_NUM >= 170000
#define rs_CreateWaitEventSet(nevents) \
	CreateWaitEventSet(CurrentResourceOwner, (nevents))
#else
#define rs_CreateWaitEventSet(nevents) \
	CreateWaitEventSet(CurrentMemoryContext, (nevents))
#endif

/*
 * PostgreSQL 18 lets RelationGetPrimaryKeyIndex() return a deferrable
 * primary key if asked; before, it never did, and rail_stream (which looks
 * rows up through the index) does not ask.
 */
#if PG_VERSION_NUM >= 180000
#define rs_RelationGetPrimaryKeyIndex(relation) \
	RelationGetPrimaryKeyIndex((relation), false)
#else
#define rs_RelationGetPrimaryKeyIndex(relation) \
	RelationGetPrimaryKeyIndex(relation)
#endif

/*
 * PostgreSQL 18 replaced the postfix pg_attribute_noreturn() with the
 * prefix pg_noreturn (C11's _Noreturn); the postfix form is GCC's
 * attribute, which every compiler that builds PostgreSQL 18 on Linux
 * (GCC, Clang) understands.
 */
#if PG_VERSION_NUM >= 180000 && !defined(pg_attribute_noreturn)
#if defined(__GNUC__) || defined(__clang__)
#define pg_attribute_noreturn() __attribute__((noreturn))
#else
#define pg_attribute_noreturn()
#endif
#endif

#endif							/* RS_PG_COMPAT_H */
