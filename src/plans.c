/*-------------------------------------------------------------------------
 *
 * plans.c
 *	  Statements prepared once and kept for the life of the process.
 *
 * The workers and the SQL functions run the same few statements over and
 * over: each is prepared through SPI the first time, and its plan kept
 * (SPI_keepplan).  PostgreSQL's plan cache revalidates a kept plan when a
 * table it uses changes, so a kept plan never runs against a stale table.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/plans.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "plans.h"

/*
 * rs_keep_plan
 *		Prepare a statement and keep its plan for the life of the process.
 *		The caller must be connected to SPI.
 */
SPIPlanPtr
rs_keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "could not prepare \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	return plan;
}
