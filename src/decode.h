/*-------------------------------------------------------------------------
 *
 * decode.h
 *	  The code lists of the TRUST and CIF feeds, decoded to text.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/decode.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_DECODE_H
#define RAIL_STREAM_DECODE_H

/* One code list; the lookups below return NULL for an unlisted code. */
typedef enum RsCodeList
{
	RS_CODES_POWER_TYPE,
	RS_CODES_TRAIN_STATUS,
	RS_CODES_TRAIN_CATEGORY,
	RS_CODES_SEATING_CLASS,
	RS_CODES_SLEEPERS,
	RS_CODES_RESERVATIONS
} RsCodeList;

extern const char *rs_decode(RsCodeList list, const char *code);
extern const char *rs_code_list_name(RsCodeList list);
extern char *rs_variation_text(const char *status, int minutes);
extern char *rs_platform_text(const char *platform);
extern bool rs_late_ind(const char *status, bool *isnull);
extern const char *rs_correct_schedule_type(const char *schedule_type);
extern char *rs_schedule_key(const char *train_uid, const char *start_date,
							 const char *stp_indicator);

#endif							/* RAIL_STREAM_DECODE_H */
