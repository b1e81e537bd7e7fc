/*-------------------------------------------------------------------------
 *
 * cif_fetch.c
 *	  The daily CIF extract into Kafka: one message per NDJSON line.
 *
 * As the talk's 00_ingest_schedule.sh did with curl | gunzip | kafkacat:
 * an HTTP GET of CIF_URL with basic authentication (NR_USERNAME and
 * NR_PASSWORD), following redirects (Network Rail answers with a redirect
 * to a signed storage URL; the credentials are not sent there, libcurl's
 * default), then every line of the body, gunzipped, as one Kafka message
 * without a key to CIF_TOPIC.  The body is streamed: libcurl hands it over
 * in chunks, zlib inflates them (the file is a .gz, whatever the
 * Content-Encoding; a body without gzip's magic passes through, and
 * libcurl undoes a Content-Encoding: gzip itself), and complete lines go
 * to the producer as they appear, so memory does not grow with the file.
 *
 * An HTTP status other than 200 ends the fetch with an error (401 and 403
 * with a hint about the credentials); so does a transfer error such as an
 * unreachable host.  Kafka's delivery reports are awaited before success is
 * reported.  A fetch that fails half way leaves the lines produced so far:
 * the extract is a full snapshot that consumers upsert, so running it again
 * is the remedy.
 *
 * cif_fetch_file() sends a local NDJSON file (or .gz) the same way; replay
 * mode uses it for the repository's samples.
 *
 * This is the only file that includes libcurl's and zlib's headers.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/cif_fetch.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <zlib.h>

#include "feeder.h"

/* Where the bytes of an extract go: gunzip, cut lines, produce */
typedef struct LineSink
{
	Producer   *producer;
	const char *topic;
	bool		started;		/* first bytes seen: gzip or not decided */
	bool		gzip;
	z_stream	zs;
	char	   *line;			/* the incomplete last line */
	size_t		len;
	size_t		cap;
	int64_t		lines;
	int64_t		failed;			/* delivery reports that said no */
	char		error[512];		/* first error */
} LineSink;

static void
on_delivery(void *opaque, const DeliveryReport *dr, void *arg)
{
	LineSink   *sink = arg;

	(void) opaque;
	if (!dr->ok && sink->failed++ == 0)
		snprintf(sink->error, sizeof(sink->error),
				 "could not produce CIF line to Kafka: %s", dr->errstr);
}

/* Produce one line (without its end-of-line); skips empty lines */
static bool
sink_line(LineSink *sink, const char *line, size_t len)
{
	char		err[512];

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return true;
	for (;;)
	{
		int			rc = producer_send(sink->producer, sink->topic, NULL, 0,
									   line, len, NULL, 0, NULL,
									   err, sizeof(err));

		if (rc == 0)
			break;
		if (rc < 0)
		{
			snprintf(sink->error, sizeof(sink->error), "%s", err);
			return false;
		}
		producer_poll(sink->producer, 100);
	}
	sink->lines++;
	producer_poll(sink->producer, 0);
	return true;
}

/* Plain bytes: complete lines are produced, the rest waits */
static bool
sink_text(LineSink *sink, const char *data, size_t len)
{
	const char *p = data;
	const char *end = data + len;

	while (p < end)
	{
		const char *nl = memchr(p, '\n', end - p);
		size_t		n = nl ? (size_t) (nl - p) : (size_t) (end - p);

		if (nl && sink->len == 0)
		{
			if (!sink_line(sink, p, n))
				return false;
		}
		else
		{
			if (sink->len + n > sink->cap)
			{
				sink->cap = (sink->len + n) * 2;
				sink->line = xrealloc(sink->line, sink->cap);
			}
			memcpy(sink->line + sink->len, p, n);
			sink->len += n;
			if (nl)
			{
				if (!sink_line(sink, sink->line, sink->len))
					return false;
				sink->len = 0;
			}
		}
		p += n + (nl ? 1 : 0);
	}
	return true;
}

/* Compressed bytes: inflate (several gzip members too), then sink_text */
static bool
sink_gzip(LineSink *sink, const char *data, size_t len)
{
	char		out[65536];

	sink->zs.next_in = (Bytef *) data;
	sink->zs.avail_in = len;
	while (sink->zs.avail_in > 0)
	{
		int			rc;

		sink->zs.next_out = (Bytef *) out;
		sink->zs.avail_out = sizeof(out);
		rc = inflate(&sink->zs, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
		{
			snprintf(sink->error, sizeof(sink->error),
					 "could not decompress CIF extract: %s",
					 sink->zs.msg ? sink->zs.msg : "invalid gzip data");
			return false;
		}
		if (!sink_text(sink, out, sizeof(out) - sink->zs.avail_out))
			return false;
		if (rc == Z_STREAM_END)
			inflateReset(&sink->zs);
		else if (rc == Z_BUF_ERROR)
			break;
	}
	return true;
}

static bool
sink_bytes(LineSink *sink, const char *data, size_t len)
{
	if (len == 0)
		return true;
	if (!sink->started)
	{
		sink->started = true;
		sink->gzip = len >= 2 && (unsigned char) data[0] == 0x1f &&
			(unsigned char) data[1] == 0x8b;
		if (sink->gzip && inflateInit2(&sink->zs, 16 + MAX_WBITS) != Z_OK)
		{
			snprintf(sink->error, sizeof(sink->error),
					 "could not initialise zlib");
			return false;
		}
	}
	return sink->gzip ? sink_gzip(sink, data, len) : sink_text(sink, data, len);
}

static bool
sink_open(LineSink *sink, const FeederConfig *cfg)
{
	memset(sink, 0, sizeof(LineSink));
	sink->topic = cfg->cif_topic;
	sink->producer = producer_create(cfg->kafka_bootstrap, on_delivery, sink,
									 sink->error, sizeof(sink->error));
	return sink->producer != NULL;
}

/* Produce the last line, wait for Kafka; true if every line made it */
static bool
sink_close(LineSink *sink, bool ok)
{
	if (ok && sink->len > 0)
		ok = sink_line(sink, sink->line, sink->len);
	if (sink->producer != NULL && !producer_flush(sink->producer, 120000))
	{
		if (ok)
			snprintf(sink->error, sizeof(sink->error),
					 "Kafka did not confirm %d CIF lines in time",
					 producer_in_flight(sink->producer));
		ok = false;
	}
	if (sink->failed > 0)
		ok = false;
	if (sink->gzip)
		inflateEnd(&sink->zs);
	producer_destroy(sink->producer);
	free(sink->line);
	return ok;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	LineSink   *sink = arg;

	if (!sink_bytes(sink, data, size * nmemb))
		return 0;				/* makes libcurl fail the transfer */
	return size * nmemb;
}

/* The URL without its query string (which may hold a signature) */
static const char *
url_for_log(const char *url, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int) strcspn(url, "?"), url);
	return buf;
}

/* Run the transfer into sink; false with a message logged */
static bool
http_get(const FeederConfig *cfg, LineSink *sink)
{
	CURL	   *curl = curl_easy_init();
	CURLcode	rc;
	long		status = 0;
	char		curlerr[CURL_ERROR_SIZE] = "";
	char		where[512];
	bool		ok = false;

	url_for_log(cfg->cif_url, where, sizeof(where));
	curl_easy_setopt(curl, CURLOPT_URL, cfg->cif_url);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
	curl_easy_setopt(curl, CURLOPT_USERNAME, cfg->username ? cfg->username : "");
	curl_easy_setopt(curl, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "rail_stream_feeder/1.0");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curlerr);
	/* an error status must not reach the sink as lines */
	curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);

	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK)
		ok = true;
	else if (rc == CURLE_HTTP_RETURNED_ERROR && (status == 401 || status == 403))
	{
		log_error("could not fetch CIF extract from \"%s\": server answered %ld %s",
				  where, status, status == 401 ? "Unauthorized" : "Forbidden");
		log_hint("Check NR_USERNAME and NR_PASSWORD, and that the account is subscribed to the SCHEDULE feed.");
	}
	else if (rc == CURLE_HTTP_RETURNED_ERROR)
		log_error("could not fetch CIF extract from \"%s\": server answered status %ld",
				  where, status);
	else if (rc == CURLE_WRITE_ERROR && sink->error[0])
		log_error("%s", sink->error);
	else
		log_error("could not fetch CIF extract from \"%s\": %s", where,
				  curlerr[0] ? curlerr : curl_easy_strerror(rc));
	curl_easy_cleanup(curl);
	return ok;
}

int
cif_fetch_run(const FeederConfig *cfg)
{
	LineSink	sink;
	bool		ok;
	int64_t		t0 = now_ms();

	if (!sink_open(&sink, cfg))
	{
		log_error("%s", sink.error);
		return FEEDER_EXIT_ERROR;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ok = http_get(cfg, &sink);
	curl_global_cleanup();
	if (!sink_close(&sink, ok))
	{
		if (ok)
			log_error("%s", sink.error);
		return FEEDER_EXIT_ERROR;
	}
	log_info("fetched CIF extract: %lld lines into Kafka topic \"%s\" in %.1f s",
			 (long long) sink.lines, cfg->cif_topic, (now_ms() - t0) / 1000.0);
	return FEEDER_EXIT_OK;
}

/* Send the lines of a local file (NDJSON, or gzipped) to CIF_TOPIC */
int
cif_fetch_file(const FeederConfig *cfg, const char *path)
{
	LineSink	sink;
	FILE	   *f;
	char		buf[65536];
	size_t		n;
	bool		ok = true;

	f = fopen(path, "rb");
	if (f == NULL)
	{
		log_error("could not open file \"%s\": %m", path);
		return FEEDER_EXIT_ERROR;
	}
	if (!sink_open(&sink, cfg))
	{
		log_error("%s", sink.error);
		fclose(f);
		return FEEDER_EXIT_ERROR;
	}
	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		ok = sink_bytes(&sink, buf, n);
	fclose(f);
	if (!sink_close(&sink, ok))
	{
		log_error("%s", sink.error);
		return FEEDER_EXIT_ERROR;
	}
	log_info("sent %lld lines of \"%s\" to Kafka topic \"%s\"",
			 (long long) sink.lines, path, cfg->cif_topic);
	return FEEDER_EXIT_OK;
}
