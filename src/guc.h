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

/*
 * Limits of the settings that a subscription may also set; the SQL reads
 * them through rail_stream._option_limits() (the table's checks and
 * create_subscription's), so they are written here only.
 */
#define RS_BATCH_SIZE_MAX	100000
#define RS_BATCH_MS_MAX		60000	/* ms */
#define RS_MAX_WORKERS_MAX	256 /* and a subscription's parallelism */

extern int	rs_max_message_size;
extern int	rs_dead_letter_max_size;
extern char *rs_database;
extern char *rs_brokers;
extern int	rs_batch_size;
extern int	rs_batch_ms;
extern int	rs_max_workers;
extern int	rs_restart_backoff_max;
extern int	rs_queue_kbytes;
extern int	rs_webhook_timeout;
extern int	rs_webhook_connect_timeout;
extern int	rs_webhook_max_attempts;
extern int	rs_webhook_backoff_max;
extern int	rs_webhook_max_in_flight;
extern char *rs_webhook_allowed_hosts;
extern char *rs_telegram_chat_id;

extern void rs_guc_init(void);

#endif							/* RAIL_STREAM_GUC_H */
