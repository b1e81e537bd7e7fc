/*-------------------------------------------------------------------------
 *
 * replay.c
 *	  Without credentials: the repository's sample data, shifted to today.
 *
 * So that the dashboards move without a Network Rail account, replay mode
 * sends the sample data under REPLAY_DIR into the same Kafka topics the
 * live feed uses:
 *
 *	- cif/ *.ndjson files once at start, one message per line, to CIF_TOPIC (the
 *	  lines unchanged, as the daily extract would be);
 *	- trust/ *.json files, each a JSON array of TRUST messages as one STOMP frame
 *	  carries, cut into frames of at most REPLAY_FRAME_MESSAGES messages, to
 *	  the Kafka topic of the first NR_TOPICS entry, keyed and with headers
 *	  as live.c does (the message id is made up: "ID:replay-...").
 *
 * Each TRUST message's millisecond timestamps (every JSON string of
 * exactly 13 digits: msg_queue_timestamp, actual_timestamp, ...) are moved
 * by one delta, the one that puts its msg_queue_timestamp at the moment it
 * is sent; the gaps between one message's times (planned, actual, ...) are
 * kept, so lateness stays what the sample says.  Frames
 * go at REPLAY_SPEED frames a second (1.0: one a second, about the live
 * feed's rate for one region); at speed 0 every frame goes at once, one
 * pass, and the program exits, which the tests use.  At a positive speed
 * the passes repeat until SIGTERM, each at the then current time.
 *
 * The JSON arrays are cut by a small scanner that tracks strings and
 * nesting, not by a parser: the frames' text is sent unchanged but for the
 * timestamps.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/replay.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeder.h"

#define REPLAY_FRAME_MESSAGES 4

/* One TRUST message's text in a file */
typedef struct Span
{
	const char *start;
	size_t		len;
} Span;

typedef struct Replay
{
	const FeederConfig *cfg;
	Producer   *producer;
	const char *topic;
	int64_t		run_id;
	int64_t		sent;
	int64_t		failed;
} Replay;

static void
on_delivery(void *opaque, const DeliveryReport *dr, void *arg)
{
	Replay	   *r = arg;

	(void) opaque;
	if (!dr->ok && r->failed++ == 0)
		log_error("could not produce replayed frame to Kafka: %s", dr->errstr);
}

/* Read a whole file; NULL (logged) on failure */
static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0;
	size_t		n;

	*len = 0;
	if (f == NULL)
	{
		log_error("could not open file \"%s\": %m", path);
		return NULL;
	}
	do
	{
		if (cap - *len < 65536)
		{
			cap = cap * 2 + 65536;
			buf = xrealloc(buf, cap + 1);
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

/*
 * The elements of the top-level JSON array in text; their count, or -1 if
 * text is not an array.
 */
static int
split_array(const char *text, size_t len, Span **spans)
{
	const char *p = text;
	const char *end = text + len;
	const char *elem = NULL;
	int			depth = 0;
	int			n = 0;

	*spans = NULL;
	while (p < end && isspace((unsigned char) *p))
		p++;
	if (p == end || *p != '[')
		return -1;
	for (; p < end; p++)
	{
		if (*p == '"')
		{
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			continue;
		}
		if (*p == '[' || *p == '{')
		{
			if (depth++ == 1 || (depth == 2 && elem == NULL))
				elem = p;
		}
		else if (*p == ']' || *p == '}')
		{
			if (--depth == 1 && elem != NULL)
			{
				*spans = xrealloc(*spans, sizeof(Span) * (n + 1));
				(*spans)[n].start = elem;
				(*spans)[n].len = p + 1 - elem;
				n++;
				elem = NULL;
			}
		}
	}
	return n;
}

/* The first msg_queue_timestamp's value in text, or -1 */
static int64_t
first_queue_timestamp(const char *text)
{
	const char *p = strstr(text, "\"msg_queue_timestamp\"");

	if (p == NULL)
		return -1;
	p += strlen("\"msg_queue_timestamp\"");
	while (*p && (isspace((unsigned char) *p) || *p == ':'))
		p++;
	if (*p != '"')
		return -1;
	return strtoll(p + 1, NULL, 10);
}

/*
 * A copy of text in which every JSON string of exactly 13 digits (epoch
 * milliseconds) is moved by delta_ms.
 */
char *
replay_shift_timestamps(const char *text, size_t len, int64_t delta_ms,
						size_t *outlen)
{
	char	   *out = xmalloc(len + 1);
	size_t		i = 0;
	size_t		o = 0;

	while (i < len)
	{
		size_t		j = i + 1;

		if (text[i] == '"')
		{
			while (j < len && j - i <= 14 && isdigit((unsigned char) text[j]))
				j++;
			if (j - i == 14 && j < len && text[j] == '"')
			{
				long long	v = strtoll(text + i + 1, NULL, 10) + delta_ms;

				o += snprintf(out + o, 16, "\"%013lld", v);
				i = j;
				continue;
			}
		}
		out[o++] = text[i++];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/*
 * One message's text with its timestamps moved so that its
 * msg_queue_timestamp is now; appended to frame at *len.
 */
static void
append_shifted(char **frame, size_t *len, size_t *cap, const Span *span,
			   int64_t now)
{
	char	   *text = xmalloc(span->len + 1);
	char	   *shifted;
	size_t		slen;
	int64_t		ts;

	memcpy(text, span->start, span->len);
	text[span->len] = '\0';
	ts = first_queue_timestamp(text);
	shifted = replay_shift_timestamps(text, span->len, ts > 0 ? now - ts : 0,
									  &slen);
	if (*len + slen + 2 > *cap)
	{
		*cap = (*len + slen + 2) * 2;
		*frame = xrealloc(*frame, *cap);
	}
	memcpy(*frame + *len, shifted, slen);
	*len += slen;
	free(shifted);
	free(text);
}

/* Send one frame of messages spans[0..n) */
static bool
send_frame(Replay *r, const Span *spans, int n)
{
	size_t		cap = 4096;
	size_t		slen = 0;
	char	   *shifted = xmalloc(cap);
	int64_t		now = wall_ms();
	char		msgid[64];
	char		err[512];
	int			i;
	ProducerHeader hdrs[2];

	shifted[slen++] = '[';
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			shifted[slen++] = ',';
		append_shifted(&shifted, &slen, &cap, &spans[i], now);
	}
	shifted[slen++] = ']';

	snprintf(msgid, sizeof(msgid), "ID:replay-%lld-%lld",
			 (long long) r->run_id, (long long) r->sent + 1);
	hdrs[0] = (ProducerHeader) {"stomp-message-id", msgid};
	hdrs[1] = (ProducerHeader) {"stomp-destination", "replay"};
	for (;;)
	{
		int			rc = producer_send(r->producer, r->topic, msgid,
									   strlen(msgid), shifted, slen, hdrs, 2,
									   NULL, err, sizeof(err));

		if (rc == 0)
			break;
		if (rc < 0)
		{
			log_error("%s", err);
			free(shifted);
			return false;
		}
		producer_poll(r->producer, 100);
	}
	free(shifted);
	r->sent++;
	producer_poll(r->producer, 0);
	return true;
}

/* One file's frames, paced by REPLAY_SPEED */
static bool
replay_file(Replay *r, const char *path)
{
	size_t		len;
	char	   *text = read_file(path, &len);
	Span	   *spans;
	int			n;
	int			i;
	bool		ok = true;

	if (text == NULL)
		return false;
	n = split_array(text, len, &spans);
	if (n < 0)
		log_info("skipping \"%s\": not a JSON array of TRUST messages", path);
	for (i = 0; ok && i < n && !feeder_stop; i += REPLAY_FRAME_MESSAGES)
	{
		int			k = n - i < REPLAY_FRAME_MESSAGES ? n - i : REPLAY_FRAME_MESSAGES;

		ok = send_frame(r, spans + i, k);
		cif_daily_tick(r->cfg);
		if (r->cfg->replay_speed > 0)
		{
			int64_t		until = now_ms() + (int64_t) (1000.0 / r->cfg->replay_speed);

			while (!feeder_stop && now_ms() < until)
				producer_poll(r->producer, 100);
		}
	}
	free(spans);
	free(text);
	return ok && r->failed == 0;
}

/* The sorted paths matching REPLAY_DIR/sub/pattern */
static bool
find_files(const FeederConfig *cfg, const char *pattern, glob_t *g)
{
	char		path[4096];

	snprintf(path, sizeof(path), "%s/%s", cfg->replay_dir, pattern);
	return glob(path, 0, NULL, g) == 0;
}

/* The Kafka topic of TRAIN_MVT frames: the first mapping naming TRAIN_MVT */
static const char *
trust_topic(const FeederConfig *cfg)
{
	int			i;

	for (i = 0; i < cfg->ntopics; i++)
		if (strncmp(cfg->topics[i].stomp_topic, "TRAIN_MVT", 9) == 0)
			return cfg->topics[i].kafka_topic;
	return cfg->topics[0].kafka_topic;
}

int
replay_run(const FeederConfig *cfg)
{
	Replay		r;
	glob_t		trust;
	glob_t		cif;
	char		err[512];
	size_t		i;
	bool		ok = true;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.topic = trust_topic(cfg);
	r.run_id = wall_ms();
	if (!find_files(cfg, "trust/*.json", &trust))
	{
		log_error("no TRUST sample frames in \"%s/trust\"", cfg->replay_dir);
		log_hint("Set REPLAY_DIR to the repository's data directory, or set NR_USERNAME and NR_PASSWORD for the live feed.");
		return FEEDER_EXIT_ERROR;
	}
	if (find_files(cfg, "cif/*.ndjson", &cif))
	{
		for (i = 0; ok && i < cif.gl_pathc; i++)
			ok = cif_fetch_file(cfg, cif.gl_pathv[i]) == FEEDER_EXIT_OK;
		globfree(&cif);
	}
	r.producer = producer_create(cfg->kafka_bootstrap, on_delivery, &r,
								 err, sizeof(err));
	if (r.producer == NULL)
	{
		log_error("%s", err);
		ok = false;
	}
	while (ok && !feeder_stop)
	{
		for (i = 0; ok && i < trust.gl_pathc && !feeder_stop; i++)
			ok = replay_file(&r, trust.gl_pathv[i]);
		if (!cfg->replay_loop)
			break;
	}
	globfree(&trust);
	if (r.producer != NULL)
	{
		if (!producer_flush(r.producer, 60000))
		{
			log_error("Kafka did not confirm %d replayed frames in time",
					  producer_in_flight(r.producer));
			ok = false;
		}
		producer_destroy(r.producer);
	}
	if (ok && r.failed == 0)
		log_info("replayed %lld frames into Kafka topic \"%s\"",
				 (long long) r.sent, r.topic);
	return ok && r.failed == 0 ? FEEDER_EXIT_OK : FEEDER_EXIT_ERROR;
}
