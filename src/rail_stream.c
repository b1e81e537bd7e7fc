/*-------------------------------------------------------------------------
 *
 * rail_stream.c
 *	  Module entry point of rail_stream.
 *
 * The SQL functions (transforms, decodes, ingest_message, window counts)
 * need nothing but CREATE EXTENSION: without shared_preload_libraries,
 * _PG_init only defines the parameters, so the library works on a managed
 * server or in a pg_regress run.  Preloaded, it also sets up the shared
 * memory and registers the launcher of the Kafka ingest workers and the
 * alert sender.
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
#include "shmem.h"
#include "bgw.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	rs_guc_init();
	if (!process_shared_preload_libraries_in_progress)
		return;
	rs_shmem_init();
	rs_register_static_worker("rs_launcher_main", "rail_stream launcher");
	rs_register_static_worker("rs_alert_sender_main", "rail_stream alert sender");
	rs_watch_drop_database();
}
