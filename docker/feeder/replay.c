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
 * A generated day (day/ *.json under REPLAY_DIR, written by
 * bench/gen_trust.py --array; the feeder's image holds one) replaces the
 * samples: a whole day of a region's movements, on today's clock.  Its
 * messages are moved by whole days, to today's date, keeping their time of
 * day in UK wall-clock time, the time the TRUST body's times are written
 * in; each is sent when the UK clock reaches it (its msg_queue_timestamp
 * in UK time), so a feeder started at noon sends the morning at once and
 * then the afternoon as it happens, and the next day's copy after
 * midnight.  REPLAY_SPEED 0 sends the whole day at once and exits.  The
 * headers' msg_queue_timestamp keeps the generated day's offset from UTC
 * (an hour in summer).
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
#define _GNU_SOURCE			/* memmem */
#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feeder.h"

#define REPLAY_FRAME_MESSAGES 4
#define REPLAY_TO_NOW	INT64_MIN	/* a delta: each message's own, to now */
#define DAY_MS			INT64_C(86400000)
#define HOUR_MS			INT64_C(3600000)

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

/* The first msg_queue_timestamp's value in the message span, or -1 */
static int64_t
first_queue_timestamp(const Span *span)
{
	static const char key[] = "\"msg_queue_timestamp\"";
	const char *end = span->start + span->len;
	const char *p = memmem(span->start, span->len, key, sizeof(key) - 1);

	if (p == NULL)
		return -1;
	p += sizeof(key) - 1;
	while (p < end && (isspace((unsigned char) *p) || *p == ':'))
		p++;
	if (p == end || *p != '"')
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
 * One message's text with its timestamps moved by delta, or, if delta is
 * REPLAY_TO_NOW, so that its msg_queue_timestamp is now; appended to frame
 * at *len.
 */
static void
append_shifted(char **frame, size_t *len, size_t *cap, const Span *span,
			   int64_t delta)
{
	char	   *shifted;
	size_t		slen;

	if (delta == REPLAY_TO_NOW)
	{
		int64_t		ts = first_queue_timestamp(span);

		delta = ts > 0 ? wall_ms() - ts : 0;
	}
	shifted = replay_shift_timestamps(span->start, span->len, delta, &slen);
	if (*len + slen + 2 > *cap)
	{
		*cap = (*len + slen + 2) * 2;
		*frame = xrealloc(*frame, *cap);
	}
	memcpy(*frame + *len, shifted, slen);
	*len += slen;
	free(shifted);
}

/*
 * Send one frame of messages spans[0..n), their timestamps moved by delta
 * (see append_shifted)
 */
static bool
send_frame(Replay *r, const Span *spans, int n, int64_t delta)
{
	size_t		cap = 4096;
	size_t		slen = 0;
	char	   *shifted = xmalloc(cap);
	char		msgid[64];
	char		err[512];
	int			i;
	ProducerHeader hdrs[2];

	shifted[slen++] = '[';
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			shifted[slen++] = ',';
		append_shifted(&shifted, &slen, &cap, &spans[i], delta);
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

		ok = send_frame(r, spans + i, k, REPLAY_TO_NOW);
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

/*
 * 01:00 UTC on the last Sunday of a month of 31 days (March, October): when
 * the UK's summer time starts and ends.
 */
static int64_t
last_sunday_1am(int year, int month)
{
	struct tm	tm = {0};
	time_t		t;

	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = 31;
	tm.tm_hour = 1;
	t = timegm(&tm);
	gmtime_r(&t, &tm);
	return ((int64_t) t - (int64_t) tm.tm_wday * 86400) * 1000;
}

/* UK time minus UTC at the instant utc (ms): an hour in summer time */
static int64_t
uk_offset_ms(int64_t utc)
{
	time_t		t = (time_t) (utc / 1000);
	struct tm	tm;
	int			year;

	gmtime_r(&t, &tm);
	year = tm.tm_year + 1900;
	return utc >= last_sunday_1am(year, 3) && utc < last_sunday_1am(year, 10) ?
		HOUR_MS : 0;
}

/* The UK clock now, in ms since the epoch as if UK time were UTC */
static int64_t
uk_now_ms(void)
{
	int64_t		now = wall_ms();

	return now + uk_offset_ms(now);
}

/* When a day's message is due: its msg_queue_timestamp in UK time, or -1 */
static int64_t
uk_due_time(const Span *span)
{
	int64_t		ts = first_queue_timestamp(span);

	return ts > 0 ? ts + uk_offset_ms(ts) : -1;
}

/* Wait until the UK clock reads at least due; false if told to stop */
static bool
wait_until_uk(Replay *r, int64_t due)
{
	for (;;)
	{
		int64_t		left = due - uk_now_ms();

		if (feeder_stop)
			return false;
		if (left <= 0)
			return true;
		cif_daily_tick(r->cfg);
		producer_poll(r->producer, left < 1000 ? (int) left : 1000);
	}
}

/*
 * One pass over a generated day's messages spans[0..n), due at due[], moved
 * by shift (whole days): each frame goes when its first message is due,
 * with the messages due by then, at most REPLAY_FRAME_MESSAGES.
 */
static bool
replay_day_pass(Replay *r, const Span *spans, const int64_t *due, int n,
				int64_t shift)
{
	bool		ok = true;
	int			i = 0;

	while (ok && i < n && !feeder_stop)
	{
		int64_t		now;
		int			k = 1;

		if (r->cfg->replay_speed > 0 && !wait_until_uk(r, due[i] + shift))
			break;
		now = uk_now_ms();
		while (i + k < n && k < REPLAY_FRAME_MESSAGES &&
			   (r->cfg->replay_speed == 0 || due[i + k] + shift <= now))
			k++;
		ok = send_frame(r, spans + i, k, shift);
		cif_daily_tick(r->cfg);
		i += k;
	}
	return ok && r->failed == 0;
}

/*
 * A generated day, on today's clock (see the header); one pass at speed 0,
 * otherwise a pass a day until told to stop.
 */
static bool
replay_day(Replay *r, const char *path)
{
	size_t		len;
	char	   *text = read_file(path, &len);
	Span	   *spans = NULL;
	int64_t    *due;
	int			n;
	int64_t		shift = 0;
	bool		ok = true;

	if (text == NULL)
		return false;
	n = split_array(text, len, &spans);
	due = xmalloc(sizeof(int64_t) * (n > 0 ? n : 1));
	for (int i = 0; i < n && ok; i++)
		ok = (due[i] = uk_due_time(&spans[i])) > 0;
	if (n <= 0 || !ok)
	{
		log_error("file \"%s\" is not a JSON array of TRUST messages, each with a msg_queue_timestamp",
				  path);
		ok = false;
	}
	else
	{
		shift = (uk_now_ms() / DAY_MS - due[0] / DAY_MS) * DAY_MS;
		log_info("replaying the generated day \"%s\" (%d messages) on today's clock",
				 path, n);
	}
	while (ok && !feeder_stop)
	{
		ok = replay_day_pass(r, spans, due, n, shift);
		if (r->cfg->replay_speed == 0)
			break;
		shift += DAY_MS;
	}
	free(due);
	free(spans);
	free(text);
	return ok;
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
	glob_t		day;
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
	if (ok && find_files(cfg, "day/*.json", &day))
	{
		if (day.gl_pathc > 1)
			log_info("replaying only the first generated day of %zu in \"%s/day\"",
					 day.gl_pathc, cfg->replay_dir);
		ok = replay_day(&r, day.gl_pathv[0]);
		globfree(&day);
	}
	else
	{
		while (ok && !feeder_stop)
		{
			for (i = 0; ok && i < trust.gl_pathc && !feeder_stop; i++)
				ok = replay_file(&r, trust.gl_pathv[i]);
			if (!cfg->replay_loop)
				break;
		}
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
