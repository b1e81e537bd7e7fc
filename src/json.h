/*-------------------------------------------------------------------------
 *
 * json.h
 *	  A small read-only view of parsed JSON documents.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/json.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAIL_STREAM_JSON_H
#define RAIL_STREAM_JSON_H

#include "utils/jsonb.h"

/* A node of a parsed document; owned by the document's memory context. */
typedef struct RsJson RsJson;

typedef enum RsJsonType
{
	RS_JSON_OBJECT,
	RS_JSON_ARRAY,
	RS_JSON_STRING,
	RS_JSON_NUMBER,
	RS_JSON_BOOL,
	RS_JSON_NULL
} RsJsonType;

typedef bool (*RsJsonKeyFilter) (const char *key, void *arg);
typedef void (*RsJsonMemberCallback) (const char *key, const RsJson *value,
									  void *arg);

extern RsJson *rs_json_parse(const char *data, size_t len, const char *what);
extern RsJsonType rs_json_type(const RsJson *node);
extern const char *rs_json_type_name(const RsJson *node);
extern const RsJson *rs_json_get(const RsJson *object, const char *key);
extern size_t rs_json_size(const RsJson *node);
extern const RsJson *rs_json_at(const RsJson *array, size_t index);
extern const char *rs_json_string(const RsJson *node, size_t *len);
extern char *rs_json_scalar_text(const RsJson *node);
extern void rs_json_foreach(const RsJson *object, RsJsonMemberCallback cb,
							void *arg);
extern char *rs_json_dump(const RsJson *node, size_t *len);
extern Jsonb *rs_json_to_jsonb(const RsJson *node);
extern Jsonb *rs_json_members_jsonb(const RsJson *object, RsJsonKeyFilter keep,
									void *arg);

#endif							/* RAIL_STREAM_JSON_H */
