/*-------------------------------------------------------------------------
 *
 * schema_registry.h
 *	  Avro values in the Confluent wire format, with their schemas fetched
 *	  from a schema registry and cached by id.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/schema_registry.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_SCHEMA_REGISTRY_H
#define RAIL_STREAM_SCHEMA_REGISTRY_H

#include "lib/stringinfo.h"

extern void rs_registry_check_usable(const char *registry);
extern void rs_registry_to_json(const char *registry, const char *data,
								size_t len, StringInfo out);

#endif							/* RAIL_STREAM_SCHEMA_REGISTRY_H */
