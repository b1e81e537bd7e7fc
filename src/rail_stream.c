/*-------------------------------------------------------------------------
 *
 * rail_stream.c
 *	  Module entry point of rail_stream.
 *
 * The SQL functions (transforms, decodes, ingest_message, window counts)
 * need nothing but CREATE EXTENSION: _PG_init only defines the parameters,
 * so the library works without shared_preload_libraries, for instance on a
 * managed server or in a pg_regress run.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/rail_stream.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	rs_guc_init();
}
