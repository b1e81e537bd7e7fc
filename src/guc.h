/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  Configuration parameters of rail_stream.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/guc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_GUC_H
#define RAIL_STREAM_GUC_H

extern int	rs_max_message_size;

extern void rs_guc_init(void);

#endif							/* RAIL_STREAM_GUC_H */
