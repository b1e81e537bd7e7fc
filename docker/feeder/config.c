/*-------------------------------------------------------------------------
 *
 * config.c
 *	  The feeder's settings: environment variables, each also an option.
 *
 * Every setting has an environment variable (the names docker/compose.yaml
 * uses) and a --long-option spelled the same way in lower case with dashes
 * (NR_STOMP_HOST is --nr-stomp-host); an option wins over the variable.
 * The few that are not in the compose file's contract (prefetch, read-back
 * depth, heart-beat, connection attempts) work the same way.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/config.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeder.h"

#define DEFAULT_CIF_URL \
	"https://publicdatafeeds.networkrail.co.uk/ntrod/CifFileAuthenticate?type=CIF_ALL_FULL_DAILY&day=toc-full"

/* One setting: its variable, its default, where it goes */
typedef struct Setting
{
	const char *env;
	const char *def;
	const char *help;
	char	   *value;
} Setting;

enum
{
	S_KAFKA, S_USER, S_PASS, S_HOST, S_PORT, S_TOPICS, S_CLIENT, S_CIF_URL,
	S_CIF_TOPIC, S_CIF_AT, S_REPLAY_DIR, S_REPLAY_SPEED, S_PREFETCH,
	S_DEPTH, S_HEARTBEAT, S_ATTEMPTS, S_BACKOFF, S_COUNT
};

static Setting settings[S_COUNT] = {
	{"KAFKA_BOOTSTRAP_SERVERS", "localhost:9092", "Kafka bootstrap servers"},
	{"NR_USERNAME", NULL, "Network Rail open-data user; unset: replay sample data"},
	{"NR_PASSWORD", NULL, "its password"},
	{"NR_STOMP_HOST", "publicdatafeeds.networkrail.co.uk", "STOMP host"},
	{"NR_STOMP_PORT", "61618", "STOMP port"},
	{"NR_TOPICS", "TRAIN_MVT_ALL_TOC=networkrail_TRAIN_MVT",
	"STOMP_TOPIC=kafka_topic,... (e.g. add VSTP_ALL=VSTP_ALL)"},
	{"NR_CLIENT_ID", "rail_stream_feeder", "durable subscription's client-id"},
	{"CIF_URL", DEFAULT_CIF_URL, "the daily CIF extract (HTTP basic auth, gzip)"},
	{"CIF_TOPIC", "CIF_FULL_DAILY", "Kafka topic of the CIF lines"},
	{"CIF_DAILY_AT", "", "HH:MM UTC to fetch the CIF extract daily; empty: never"},
	{"REPLAY_DIR", "/usr/share/rail_stream/data", "sample data (trust/, cif/) and a generated day (day/)"},
	{"REPLAY_SPEED", "1.0", "frames a second of the samples (a generated day keeps its own times); 0: all at once, then exit"},
	{"NR_PREFETCH", "100", "unacknowledged frames the broker may send"},
	{"NR_DEDUPE_DEPTH", "", "messages read back per partition at start (default 4 x prefetch)"},
	{"NR_HEARTBEAT_MS", "15000", "STOMP heart-beat interval; 0: none"},
	{"NR_CONNECT_ATTEMPTS", "5", "connection attempts before the first success; 0: forever"},
	{"NR_BACKOFF_MAX_MS", "60000", "longest wait between reconnections"},
};

/* NR_STOMP_HOST -> nr-stomp-host */
static char *
option_name(const char *env)
{
	char	   *name = xstrdup(env);
	char	   *p;

	for (p = name; *p; p++)
		*p = (*p == '_') ? '-' : tolower((unsigned char) *p);
	return name;
}

static void
usage(FILE *out)
{
	int			i;

	fprintf(out,
			"rail_stream_feeder: Network Rail's STOMP feed and CIF extract into Kafka.\n\n"
			"Usage:\n  rail_stream_feeder [OPTION]...\n\n"
			"Options (each also an environment variable, in capitals with underscores):\n");
	for (i = 0; i < S_COUNT; i++)
	{
		char	   *name = option_name(settings[i].env);

		fprintf(out, "  --%-26s %s%s%s%s\n", name, settings[i].help,
				settings[i].def && settings[i].def[0] ? " (default " : "",
				settings[i].def && settings[i].def[0] ? settings[i].def : "",
				settings[i].def && settings[i].def[0] ? ")" : "");
		free(name);
	}
	fprintf(out,
			"  --fetch-cif                  fetch the CIF extract once, then exit\n"
			"  --verbose                    log more\n"
			"  --help                       show this help, then exit\n");
}

/* "A=B,C=D" into cfg->topics; a lone "A" maps to a Kafka topic A */
static bool
parse_topics(FeederConfig *cfg, const char *spec)
{
	char	   *copy = xstrdup(spec);
	char	   *save = NULL;
	char	   *item;

	cfg->ntopics = 0;
	for (item = strtok_r(copy, ",", &save); item;
		 item = strtok_r(NULL, ",", &save))
	{
		char	   *eq = strchr(item, '=');

		while (isspace((unsigned char) *item))
			item++;
		if (*item == '\0')
			continue;
		if (cfg->ntopics == FEEDER_MAX_TOPICS)
		{
			log_error("too many topics in NR_TOPICS (at most %d)",
					  FEEDER_MAX_TOPICS);
			free(copy);
			return false;
		}
		if (eq)
			*eq = '\0';
		cfg->topics[cfg->ntopics].stomp_topic = xstrdup(item);
		cfg->topics[cfg->ntopics].kafka_topic = xstrdup(eq ? eq + 1 : item);
		cfg->ntopics++;
	}
	free(copy);
	if (cfg->ntopics == 0)
	{
		log_error("NR_TOPICS names no topic");
		return false;
	}
	return true;
}

/* A non-negative integer setting */
static bool
parse_int(const char *env, const char *value, int *out)
{
	char	   *end;
	long		v = strtol(value, &end, 10);

	if (*value == '\0' || *end != '\0' || v < 0 || v > 1000000000)
	{
		log_error("invalid value for %s: \"%s\"", env, value);
		return false;
	}
	*out = (int) v;
	return true;
}

/* "HH:MM" into a minute of the day; empty: -1 */
static bool
parse_daily_at(const char *value, int *minute)
{
	int			h;
	int			m;
	char		extra;

	*minute = -1;
	if (value == NULL || value[0] == '\0')
		return true;
	if (sscanf(value, "%d:%d%c", &h, &m, &extra) != 2 ||
		h < 0 || h > 23 || m < 0 || m > 59)
	{
		log_error("invalid value for CIF_DAILY_AT: \"%s\"", value);
		log_hint("Use HH:MM in UTC, e.g. 06:30, or leave it empty.");
		return false;
	}
	*minute = h * 60 + m;
	return true;
}

/* Turn the settings' strings into cfg */
static bool
fill_config(FeederConfig *cfg)
{
	char	   *end;

	cfg->kafka_bootstrap = settings[S_KAFKA].value;
	cfg->username = settings[S_USER].value;
	if (cfg->username && cfg->username[0] == '\0')
		cfg->username = NULL;
	cfg->password = settings[S_PASS].value;
	cfg->stomp_host = settings[S_HOST].value;
	cfg->stomp_port = settings[S_PORT].value;
	cfg->client_id = settings[S_CLIENT].value;
	cfg->cif_url = settings[S_CIF_URL].value;
	cfg->cif_topic = settings[S_CIF_TOPIC].value;
	cfg->replay_dir = settings[S_REPLAY_DIR].value;
	if (!parse_topics(cfg, settings[S_TOPICS].value) ||
		!parse_daily_at(settings[S_CIF_AT].value, &cfg->cif_daily_minute) ||
		!parse_int("NR_PREFETCH", settings[S_PREFETCH].value, &cfg->prefetch) ||
		!parse_int("NR_HEARTBEAT_MS", settings[S_HEARTBEAT].value,
				   &cfg->heartbeat_ms) ||
		!parse_int("NR_CONNECT_ATTEMPTS", settings[S_ATTEMPTS].value,
				   &cfg->connect_attempts) ||
		!parse_int("NR_BACKOFF_MAX_MS", settings[S_BACKOFF].value,
				   &cfg->backoff_max_ms))
		return false;
	if (cfg->prefetch < 1)
		cfg->prefetch = 1;
	cfg->dedupe_depth = 4 * cfg->prefetch;
	if (settings[S_DEPTH].value[0] != '\0' &&
		!parse_int("NR_DEDUPE_DEPTH", settings[S_DEPTH].value,
				   &cfg->dedupe_depth))
		return false;
	cfg->replay_speed = strtod(settings[S_REPLAY_SPEED].value, &end);
	if (*end != '\0' || cfg->replay_speed < 0)
	{
		log_error("invalid value for REPLAY_SPEED: \"%s\"",
				  settings[S_REPLAY_SPEED].value);
		return false;
	}
	cfg->replay_loop = cfg->replay_speed > 0;
	return true;
}

/*
 * Load the configuration.  Returns -1 when it is complete, else the exit
 * status to end with (after --help, or on an error).
 */
int
config_load(FeederConfig *cfg, int argc, char **argv)
{
	struct option longopts[S_COUNT + 4];
	int			i;
	int			c;

	memset(cfg, 0, sizeof(FeederConfig));
	for (i = 0; i < S_COUNT; i++)
	{
		const char *env = getenv(settings[i].env);

		/* an empty variable is an unset one (compose passes "" for unset) */
		if (env != NULL && env[0] == '\0')
			env = NULL;
		settings[i].value = xstrdup(env ? env : settings[i].def ? settings[i].def : "");
		longopts[i].name = option_name(settings[i].env);
		longopts[i].has_arg = required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 1000 + i;
	}
	longopts[S_COUNT] = (struct option) {"fetch-cif", no_argument, NULL, 'f'};
	longopts[S_COUNT + 1] = (struct option) {"verbose", no_argument, NULL, 'v'};
	longopts[S_COUNT + 2] = (struct option) {"help", no_argument, NULL, 'h'};
	longopts[S_COUNT + 3] = (struct option) {NULL, 0, NULL, 0};

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		if (c >= 1000 && c < 1000 + S_COUNT)
		{
			free(settings[c - 1000].value);
			settings[c - 1000].value = xstrdup(optarg);
		}
		else if (c == 'f')
			cfg->fetch_cif_once = true;
		else if (c == 'v')
			cfg->verbose = true;
		else if (c == 'h')
		{
			usage(stdout);
			return FEEDER_EXIT_OK;
		}
		else
		{
			fprintf(stderr, "Try \"rail_stream_feeder --help\" for more information.\n");
			return FEEDER_EXIT_USAGE;
		}
	}
	if (optind < argc)
	{
		log_error("too many command-line arguments (first is \"%s\")",
				  argv[optind]);
		return FEEDER_EXIT_USAGE;
	}
	if (getenv("FEEDER_VERBOSE") != NULL)
		cfg->verbose = true;
	return fill_config(cfg) ? -1 : FEEDER_EXIT_USAGE;
}
