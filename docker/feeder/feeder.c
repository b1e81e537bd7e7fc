/*-------------------------------------------------------------------------
 *
 * feeder.c
 *	  rail_stream_feeder: main(), logging, signals, and the daily CIF run.
 *
 * The feeder runs in one of three modes:
 *
 *	--fetch-cif		fetch the CIF extract once into Kafka, then exit;
 *	live			NR_USERNAME is set: the STOMP feed into Kafka (live.c);
 *	replay			NR_USERNAME is unset: the repository's sample data,
 *					shifted to now, or a generated day on today's clock, so
 *					that dashboards move (replay.c).
 *
 * With CIF_DAILY_AT set, the live and replay loops call cif_daily_tick(),
 * which starts this same program with --fetch-cif once a day at that time
 * (UTC) as a child process: a download of hundreds of megabytes then never
 * holds up the STOMP connection's heart-beats, and a failed fetch is only
 * logged.
 *
 * Messages follow PostgreSQL's style: "rail_stream_feeder: error: could
 * not ..." on standard error, lower case, no trailing period; detail and
 * hint lines are full sentences.  Exit status 0 after SIGTERM/SIGINT, 1
 * after an error (bad credentials, unreachable host), 2 on bad usage.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/feeder.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "feeder.h"

extern char **environ;

volatile sig_atomic_t feeder_stop = 0;
bool		feeder_verbose = false;

static pid_t cif_child = 0;
static long cif_last_day = -1;	/* day number of the last daily run */

void
feeder_log(const char *level, const char *fmt,...)
{
	va_list		ap;
	char		stamp[32];
	time_t		t = time(NULL);
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(stderr, "%s rail_stream_feeder[%d]: %s: ", stamp, (int) getpid(),
			level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_ms(int ms)
{
	int64_t		end = now_ms() + ms;

	while (!feeder_stop && now_ms() < end)
	{
		int64_t		left = end - now_ms();
		struct timespec ts;

		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000;
		nanosleep(&ts, NULL);
	}
}

/*
 * Exponential backoff with jitter: 500 ms doubled per attempt, capped, then
 * a random point in [half, all] of it, so that many feeders that lost the
 * same broker do not come back in step.
 */
int
backoff_delay_ms(int attempt, int cap_ms)
{
	int64_t		d = 500;

	while (attempt-- > 0 && d < cap_ms)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	return (int) (d / 2 + random() % (d / 2 + 1));
}

void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
	{
		log_error("out of memory");
		exit(FEEDER_EXIT_ERROR);
	}
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (p == NULL)
	{
		log_error("out of memory");
		exit(FEEDER_EXIT_ERROR);
	}
	return p;
}

char *
xstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

static void
on_signal(int signo)
{
	(void) signo;
	feeder_stop = 1;
}

static void
set_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Reap a finished CIF child, and log how it ended */
static void
reap_cif_child(void)
{
	int			status;

	if (cif_child <= 0 || waitpid(cif_child, &status, WNOHANG) != cif_child)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("daily CIF fetch finished");
	else
		log_error("daily CIF fetch failed (see its messages above)");
	cif_child = 0;
}

/* Start "<this program> --fetch-cif" with the settings it needs */
static void
spawn_cif_fetch(const FeederConfig *cfg)
{
	char	   *argv[] = {
		"rail_stream_feeder", "--fetch-cif",
		"--kafka-bootstrap-servers", cfg->kafka_bootstrap,
		"--cif-url", cfg->cif_url,
		"--cif-topic", cfg->cif_topic,
		NULL
	};
	int			rc;

	rc = posix_spawn(&cif_child, "/proc/self/exe", NULL, NULL, argv, environ);
	if (rc != 0)
	{
		log_error("could not start the daily CIF fetch: %s", strerror(rc));
		cif_child = 0;
	}
	else
		log_info("daily CIF fetch started (pid %d)", (int) cif_child);
}

/*
 * Called often by the live and replay loops: start the daily CIF fetch
 * once its minute of the day (UTC) has come, once a day.
 */
void
cif_daily_tick(const FeederConfig *cfg)
{
	time_t		t;
	long		day;
	int			minute;

	reap_cif_child();
	if (cfg->cif_daily_minute < 0 || cif_child > 0)
		return;
	t = time(NULL);
	day = (long) (t / 86400);
	minute = (int) ((t % 86400) / 60);
	if (cif_last_day < 0)
		cif_last_day = minute >= cfg->cif_daily_minute ? day : day - 1;
	if (day > cif_last_day && minute >= cfg->cif_daily_minute)
	{
		cif_last_day = day;
		spawn_cif_fetch(cfg);
	}
}

int
main(int argc, char **argv)
{
	FeederConfig cfg;
	int			rc;

	setvbuf(stderr, NULL, _IOLBF, 0);
	srandom((unsigned) (wall_ms() ^ getpid()));
	rc = config_load(&cfg, argc, argv);
	if (rc >= 0)
		return rc;
	feeder_verbose = cfg.verbose;
	set_signals();

	if (cfg.fetch_cif_once)
		rc = cif_fetch_run(&cfg);
	else if (cfg.username != NULL)
		rc = live_run(&cfg);
	else
	{
		log_info("NR_USERNAME is not set: replaying the data in \"%s\"",
				 cfg.replay_dir);
		rc = replay_run(&cfg);
	}
	if (cif_child > 0)
		kill(cif_child, SIGTERM);
	return rc;
}
