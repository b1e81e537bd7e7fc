/*-------------------------------------------------------------------------
 *
 * feeder.h
 *	  Declarations shared by the files of rail_stream_feeder.
 *
 * The feeder is the talk's source side: Network Rail's STOMP feed (and
 * its daily CIF extract) into Kafka.  Each file has one job and is the only
 * one to include its external library:
 *
 *	feeder.c	main(): configuration, logging, signals, the mode chosen
 *	config.c	environment variables and --long-options
 *	live.c		the STOMP -> Kafka bridge: subscribe, produce, ack, reconnect
 *	stomp.c		STOMP 1.2 framing over one TCP socket
 *	producer.c	librdkafka: the idempotent producer and the tail read-back
 *	idset.c		a bounded set of recently produced message ids
 *	cif_fetch.c libcurl and zlib: the CIF extract, one message per line
 *	replay.c	the repository's sample data, shifted to today
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/feeder.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEEDER_H
#define FEEDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>

#define FEEDER_MAX_TOPICS 16

/* exit codes */
#define FEEDER_EXIT_OK		0
#define FEEDER_EXIT_ERROR	1	/* bad credentials, unreachable host, ... */
#define FEEDER_EXIT_USAGE	2

/* One STOMP topic and the Kafka topic its frames go to */
typedef struct TopicMap
{
	char	   *stomp_topic;	/* e.g. TRAIN_MVT_ALL_TOC */
	char	   *kafka_topic;	/* e.g. networkrail_TRAIN_MVT */
} TopicMap;

typedef struct FeederConfig
{
	char	   *kafka_bootstrap;
	char	   *username;		/* NULL: replay mode */
	char	   *password;
	char	   *stomp_host;
	char	   *stomp_port;
	TopicMap	topics[FEEDER_MAX_TOPICS];
	int			ntopics;
	char	   *client_id;		/* durable subscription's client-id */
	int			prefetch;		/* unacked frames the broker may send */
	int			dedupe_depth;	/* messages read back per partition */
	int			heartbeat_ms;	/* STOMP heart-beat we offer and ask for */
	int			connect_attempts;	/* before the first success; 0 = forever */
	int			backoff_max_ms;
	char	   *cif_url;
	char	   *cif_topic;
	int			cif_daily_minute;	/* minute of the day (UTC), -1 = never */
	bool		fetch_cif_once;
	char	   *replay_dir;
	double		replay_speed;
	bool		replay_loop;	/* replay forever (default when speed > 0) */
	bool		verbose;
} FeederConfig;

/* feeder.c: logging in PostgreSQL's style ("feeder: error: could not ...") */
extern void feeder_log(const char *level, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
#define log_error(...)	feeder_log("error", __VA_ARGS__)
#define log_info(...)	feeder_log("info", __VA_ARGS__)
#define log_detail(...) feeder_log("detail", __VA_ARGS__)
#define log_hint(...)	feeder_log("hint", __VA_ARGS__)
extern bool feeder_verbose;
#define log_debug(...) \
	do { if (feeder_verbose) feeder_log("debug", __VA_ARGS__); } while (0)

extern volatile sig_atomic_t feeder_stop;	/* SIGTERM or SIGINT seen */
extern int64_t now_ms(void);	/* monotonic clock */
extern int64_t wall_ms(void);	/* Unix time in milliseconds */
extern void sleep_ms(int ms);	/* returns early on feeder_stop */
extern int	backoff_delay_ms(int attempt, int cap_ms);
extern void *xmalloc(size_t size);
extern void *xrealloc(void *p, size_t size);
extern char *xstrdup(const char *s);
extern void cif_daily_tick(const FeederConfig *cfg);

/* config.c */
extern int	config_load(FeederConfig *cfg, int argc, char **argv);

/* live.c */
extern int	live_run(const FeederConfig *cfg);

/* cif_fetch.c */
extern int	cif_fetch_run(const FeederConfig *cfg);
extern int	cif_fetch_file(const FeederConfig *cfg, const char *path);

/* replay.c */
extern int	replay_run(const FeederConfig *cfg);
extern char *replay_shift_timestamps(const char *text, size_t len,
									 int64_t delta_ms, size_t *outlen);

/* stomp.c */
typedef struct StompHeader
{
	char	   *name;
	char	   *value;
} StompHeader;

typedef struct StompFrame
{
	char	   *command;
	StompHeader *headers;
	int			nheaders;
	char	   *body;			/* NUL-terminated for convenience */
	size_t		body_len;
} StompFrame;

typedef struct StompConn StompConn;

extern StompConn *stomp_open(const char *host, const char *port,
							 int timeout_ms, char *err, size_t errlen);
extern int	stomp_fd(const StompConn *conn);
extern bool stomp_send(StompConn *conn, const char *command,
					   const char *const *headers, const char *body,
					   size_t body_len);
extern int	stomp_read(StompConn *conn, int timeout_ms, StompFrame **frame);
extern void stomp_set_heartbeat(StompConn *conn, int send_ms, int recv_ms);
extern bool stomp_heartbeat(StompConn *conn);
extern const char *stomp_error(const StompConn *conn);
extern void stomp_close(StompConn *conn);
extern const char *stomp_header(const StompFrame *frame, const char *name);
extern void stomp_frame_free(StompFrame *frame);

/* producer.c */
typedef struct Producer Producer;

/* What Kafka said about one message */
typedef struct DeliveryReport
{
	bool		ok;
	const char *errstr;			/* why not, if not ok */
	int32_t		partition;			/* where it went, if ok */
	int64_t		offset;
} DeliveryReport;

/* called from producer_poll() once per message */
typedef void (*DeliveryFn) (void *msg_opaque, const DeliveryReport *dr,
							void *arg);

/* called by producer_read_tail() for each message's header value */
typedef void (*TailFn) (const char *value, size_t len, void *arg);

typedef struct ProducerHeader
{
	const char *name;
	const char *value;
} ProducerHeader;

extern Producer *producer_create(const char *bootstrap, DeliveryFn fn,
								 void *arg, char *err, size_t errlen);
extern int	producer_send(Producer *p, const char *topic,
						  const char *key, size_t keylen,
						  const char *value, size_t len,
						  const ProducerHeader *headers, int nheaders,
						  void *msg_opaque, char *err, size_t errlen);
extern void producer_poll(Producer *p, int timeout_ms);
extern int	producer_in_flight(Producer *p);
extern bool producer_flush(Producer *p, int timeout_ms);
extern bool producer_fatal(Producer *p, char *err, size_t errlen);
extern int	producer_read_tail(const char *bootstrap, const char *topic,
							   const char *header, int depth, int timeout_ms,
							   TailFn fn, void *arg, char *err, size_t errlen);
extern void producer_destroy(Producer *p);

/* idset.c */
typedef struct IdSet IdSet;

extern IdSet *idset_create(int capacity);
extern void **idset_lookup(IdSet *set, const char *id, size_t len);
extern void idset_add(IdSet *set, const char *id, size_t len, void *value);
extern void idset_remove(IdSet *set, const char *id, size_t len);
extern int	idset_count(const IdSet *set);
extern void idset_destroy(IdSet *set);
extern void idset_frame_id(const char *dest, const char *timestamp,
						   const char *body, size_t body_len, char *out);

#endif							/* FEEDER_H */
