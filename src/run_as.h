/*-------------------------------------------------------------------------
 *
 * run_as.h
 *	  Running a stretch of code as another role.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/run_as.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_RUN_AS_H
#define RAIL_STREAM_RUN_AS_H

/* The user a function runs as, while it runs as another role */
typedef struct RsSavedUser
{
	Oid			userid;
	int			sec_context;
	int			guc_nestlevel;	/* settings made meanwhile are undone */
} RsSavedUser;

extern void rs_become_owner(RsSavedUser *saved);
extern void rs_become_role(RsSavedUser *saved, Oid role);
extern void rs_restore_user(const RsSavedUser *saved);

#endif							/* RAIL_STREAM_RUN_AS_H */
