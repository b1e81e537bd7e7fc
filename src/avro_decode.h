/*-------------------------------------------------------------------------
 *
 * avro_decode.h
 *	  Avro schemas (parsed by libavro) and Avro binary values as JSON text.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/avro_decode.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_AVRO_DECODE_H
#define RAIL_STREAM_AVRO_DECODE_H

#include "lib/stringinfo.h"

/* A parsed schema; allocated by libavro, freed by rs_avro_schema_free */
typedef struct RsAvroSchema RsAvroSchema;

extern RsAvroSchema *rs_avro_schema_parse(const char *json, size_t len);
extern void rs_avro_schema_free(RsAvroSchema *schema);
extern void rs_avro_to_json(const RsAvroSchema *schema, const char *data,
							size_t len, StringInfo out);

#endif							/* RAIL_STREAM_AVRO_DECODE_H */
