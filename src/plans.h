/*-------------------------------------------------------------------------
 *
 * plans.h
 *	  Statements prepared once and kept for the life of the process.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/plans.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_PLANS_H
#define RAIL_STREAM_PLANS_H

#include "executor/spi.h"

extern SPIPlanPtr rs_keep_plan(const char *sql, int nargs, Oid *argtypes);

#endif							/* RAIL_STREAM_PLANS_H */
