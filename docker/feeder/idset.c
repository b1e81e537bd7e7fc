/*-------------------------------------------------------------------------
 *
 * idset.c
 *	  A bounded set of recently produced message ids.
 *
 * live.c remembers the STOMP message ids of the frames it produced (and
 * those read back from Kafka's tail at start-up), so that a frame the
 * broker redelivers is acknowledged without being produced twice.  The set
 * keeps the newest `capacity` ids: ids live in a ring in insertion order,
 * and adding to a full set forgets the oldest.  Lookup is by a chained hash
 * table over the ring's slots.  Each id carries one pointer of the
 * caller's (live.c: the frame still waiting for Kafka, or NULL once Kafka
 * has it).
 *
 * idset_frame_id() makes the id of a frame: STOMP's message-id is not
 * stable across redelivery on every broker (Artemis sends "<consumer>,
 * <message>", and the consumer part changes with each connection), so the
 * id is a 128-bit hash, in hex, of what a redelivery does not change: the
 * destination, the broker's timestamp header and the body.  Two frames
 * with the same body sent to the same topic in the same millisecond would
 * count as one; 128 bits make an accidental collision within the set's
 * window negligible (below 1e-28).
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/idset.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeder.h"

typedef struct IdEntry
{
	char	   *id;				/* NULL: slot free */
	size_t		len;
	uint32_t	hash;
	void	   *value;
	int			next;			/* next slot in the bucket's chain, or -1 */
} IdEntry;

struct IdSet
{
	IdEntry    *slots;			/* the ring */
	int			capacity;
	int			head;			/* next slot to (re)use: the oldest */
	int			count;
	int		   *buckets;		/* first slot of each chain, or -1 */
	int			nbuckets;
};

/* FNV-1a, 64 bits, continuing from h */
static uint64_t
fnv1a64(uint64_t h, const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* A second, independent 64-bit hash: the MurmurHash3 finaliser per word */
static uint64_t
mix64(uint64_t h, const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h = (h ^ (unsigned char) s[i]) * 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

/* The id of a frame, as 32 hex digits in out[33] */
void
idset_frame_id(const char *dest, const char *timestamp, const char *body,
			   size_t body_len, char *out)
{
	uint64_t	a = 14695981039346656037ULL;
	uint64_t	b = 0x9e3779b97f4a7c15ULL;
	const char *parts[2] = {dest ? dest : "", timestamp ? timestamp : ""};
	int			i;

	for (i = 0; i < 2; i++)
	{
		a = fnv1a64(a, parts[i], strlen(parts[i]) + 1);
		b = mix64(b, parts[i], strlen(parts[i]) + 1);
	}
	a = fnv1a64(a, body, body_len);
	b = mix64(b, body, body_len);
	snprintf(out, 33, "%016llx%016llx", (unsigned long long) a,
			 (unsigned long long) b);
}

/* FNV-1a */
static uint32_t
hash_id(const char *id, size_t len)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= (unsigned char) id[i];
		h *= 16777619u;
	}
	return h;
}

IdSet *
idset_create(int capacity)
{
	IdSet	   *set = xmalloc(sizeof(IdSet));
	int			i;

	set->capacity = capacity;
	set->slots = xmalloc(sizeof(IdEntry) * capacity);
	memset(set->slots, 0, sizeof(IdEntry) * capacity);
	set->nbuckets = capacity * 2;
	set->buckets = xmalloc(sizeof(int) * set->nbuckets);
	for (i = 0; i < set->nbuckets; i++)
		set->buckets[i] = -1;
	set->head = 0;
	set->count = 0;
	return set;
}

/* Slot holding id, or -1; *prev gets the previous slot in its chain */
static int
find_slot(IdSet *set, const char *id, size_t len, uint32_t h, int *prev)
{
	int			s = set->buckets[h % set->nbuckets];

	*prev = -1;
	while (s >= 0)
	{
		IdEntry    *e = &set->slots[s];

		if (e->hash == h && e->len == len && memcmp(e->id, id, len) == 0)
			return s;
		*prev = s;
		s = e->next;
	}
	return -1;
}

/* Unlink slot s from its chain and free it */
static void
drop_slot(IdSet *set, int s, int prev)
{
	IdEntry    *e = &set->slots[s];

	if (prev < 0)
		set->buckets[e->hash % set->nbuckets] = e->next;
	else
		set->slots[prev].next = e->next;
	free(e->id);
	e->id = NULL;
	e->value = NULL;
	set->count--;
}

/* Pointer to the value stored with id, or NULL if id is not in the set */
void	  **
idset_lookup(IdSet *set, const char *id, size_t len)
{
	int			prev;
	int			s = find_slot(set, id, len, hash_id(id, len), &prev);

	return s < 0 ? NULL : &set->slots[s].value;
}

/* Add id (or replace its value); forgets the oldest id of a full set */
void
idset_add(IdSet *set, const char *id, size_t len, void *value)
{
	uint32_t	h = hash_id(id, len);
	int			prev;
	int			s = find_slot(set, id, len, h, &prev);
	IdEntry    *e;

	if (s >= 0)
	{
		set->slots[s].value = value;
		return;
	}
	/* the ring's head is the oldest slot; free it if taken */
	e = &set->slots[set->head];
	if (e->id != NULL)
	{
		s = find_slot(set, e->id, e->len, e->hash, &prev);
		drop_slot(set, s, prev);
	}
	e->id = xmalloc(len + 1);
	memcpy(e->id, id, len);
	e->id[len] = '\0';
	e->len = len;
	e->hash = h;
	e->value = value;
	e->next = set->buckets[h % set->nbuckets];
	set->buckets[h % set->nbuckets] = set->head;
	set->head = (set->head + 1) % set->capacity;
	set->count++;
}

void
idset_remove(IdSet *set, const char *id, size_t len)
{
	int			prev;
	int			s = find_slot(set, id, len, hash_id(id, len), &prev);

	if (s >= 0)
		drop_slot(set, s, prev);
}

int
idset_count(const IdSet *set)
{
	return set->count;
}

void
idset_destroy(IdSet *set)
{
	int			i;

	if (set == NULL)
		return;
	for (i = 0; i < set->capacity; i++)
		free(set->slots[i].id);
	free(set->slots);
	free(set->buckets);
	free(set);
}
