/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Configuration parameters of rail_stream, all under "rail_stream.".
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "guc.h"

/* the largest message accepted, in kB; larger ones go to the dead letters */
int			rs_max_message_size = 1024;

/*
 * rs_guc_init
 *		Define the parameters; called from _PG_init in every process.
 */
void
rs_guc_init(void)
{
	DefineCustomIntVariable("rail_stream.max_message_size",
							gettext_noop("Sets the largest message that is transformed."),
							gettext_noop("Larger messages are stored in rail_stream.dead_letters instead. "
										 "The default matches Kafka's default message.max.bytes."),
							&rs_max_message_size,
							1024, 1, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("rail_stream");
}
