/*-------------------------------------------------------------------------
 *
 * http_client.c
 *	  Many HTTP POSTs in flight at once, with libcurl's multi interface;
 *	  and single GETs that wait for their answer.
 *
 * The alert sender must wait for its latch (a commit queued alerts, a
 * signal) and for its requests' sockets at once, so this file drives
 * libcurl's "multi_socket" API: libcurl says which sockets to watch
 * (socket_changed) and when to call it back (timer_changed), and
 * rs_http_wait waits for all of those and the latch in one WaitEventSet,
 * and for one more descriptor of the caller's (the Kafka producers' pipe).
 * No request ever blocks the process: DNS lookups run in libcurl's resolver
 * thread, which calls nothing of PostgreSQL's.
 *
 * A schema registry's answer is needed before the message it describes can
 * be read, so rs_http_get waits for it with libcurl's easy interface: a
 * cancel or a shutdown signal ends the wait (a progress callback sees
 * InterruptPending, and the caller's CHECK_FOR_INTERRUPTS acts on it), and
 * the answer is bounded by the caller's max_len.
 *
 * Only http and https are spoken, redirects are not followed, and signals
 * are not used (CURLOPT_NOSIGNAL).  libcurl's callbacks run inside
 * curl_multi_socket_action, on this process's thread; they never raise a
 * PostgreSQL error (which would jump over libcurl's frames) and allocate
 * nothing: they fill buffers made ready beforehand.
 *
 * This is the only file that includes libcurl's headers.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/http_client.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "http_client.h"
#include "pg_compat.h"

#define RS_HTTP_SNIPPET_LEN 1024	/* of a failed response, for last_error */
#define RS_HTTP_USER_AGENT	"rail_stream/1.0"

/* One request in flight */
typedef struct Request
{
	int64		id;
	int			attempt;
	void	   *arg;
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *body;
	char	   *secret_path;	/* the URL's path and query, kept out of */
	char	   *secret_query;	/* errors: a bot token is there */
	char		curl_error[CURL_ERROR_SIZE];
	char		snippet[RS_HTTP_SNIPPET_LEN + 1];	/* start of the response */
	size_t		snippet_len;
} Request;

/* A socket that libcurl asked us to watch */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
} WatchedSocket;

struct RsHttpClient
{
	CURLM	   *multi;
	MemoryContext cxt;
	int			in_flight;
	TimestampTz timer_at;		/* libcurl wants a call then; 0: never */
	WatchedSocket *sockets;		/* grown by rs_http_post, not in callbacks */
	int			nsockets;
	int			maxsockets;
};

static bool curl_initialized = false;

static int	socket_changed(CURL *easy, curl_socket_t fd, int what,
						   void *clientp, void *socketp);
static int	timer_changed(CURLM *multi, long timeout_ms, void *clientp);
static size_t keep_snippet(char *data, size_t size, size_t nmemb, void *arg);
static void describe_failure(Request *req, CURLcode code, RsHttpResult *result);
static void redact(char *text, const char *secret);
static void keep_url_secrets(Request *req, const char *url, MemoryContext cxt);
static void reserve_sockets(RsHttpClient *client, int n);
static bool append_header(Request *req, const char *header);
static void socket_action(RsHttpClient *client, curl_socket_t fd, int events);
static void init_curl(void);
static void set_common_options(CURL *easy, const char *url, int connect_timeout_ms,
							   int timeout_ms, char *error_buffer);
static int	stop_if_interrupted(void *arg, curl_off_t dltotal, curl_off_t dlnow,
								curl_off_t ultotal, curl_off_t ulnow);
static size_t keep_body(char *data, size_t size, size_t nmemb, void *arg);

/* The answer of a GET, as its callbacks fill it */
typedef struct GetBody
{
	char	   *data;
	size_t		len;
	size_t		max_len;
	bool		too_long;
} GetBody;

/* Once per process, before any other thread exists */
static void
init_curl(void)
{
	if (!curl_initialized)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			elog(ERROR, "could not initialize libcurl");
		curl_initialized = true;
	}
}

/*
 * What every request of rail_stream's sets: http and https only, no
 * redirects, no signals, its timeouts, and where libcurl says what failed.
 */
static void
set_common_options(CURL *easy, const char *url, int connect_timeout_ms,
				   int timeout_ms, char *error_buffer)
{
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, RS_HTTP_USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
}

/*
 * rs_http_get
 *		GET spec->url and wait for the answer, which goes into body; result
 *		says how it went, as for a POST.  Returns early, with the interrupt
 *		pending, if one arrives meanwhile.
 */
void
rs_http_get(const RsHttpGetSpec *spec, StringInfo body, RsHttpResult *result)
{
	GetBody		answer = {palloc(spec->max_len + 1), 0, spec->max_len, false};
	Request		req = {0};
	CURL	   *easy;
	CURLcode	code;
	long		status = 0;

	init_curl();
	memset(result, 0, sizeof(*result));
	result->retry_after_s = -1;
	easy = curl_easy_init();
	if (easy == NULL)
		elog(ERROR, "out of memory for a libcurl request");
	set_common_options(easy, spec->url, spec->connect_timeout_ms,
					   spec->timeout_ms, req.curl_error);
	if (spec->username != NULL)
	{
		curl_easy_setopt(easy, CURLOPT_USERNAME, spec->username);
		curl_easy_setopt(easy, CURLOPT_PASSWORD,
						 spec->password ? spec->password : "");
	}
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, stop_if_interrupted);
	code = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(easy);

	result->status = (int) status;
	if (answer.too_long)
	{
		result->transport_error = true;
		snprintf(result->error, RS_HTTP_ERROR_LEN,
				 "the answer is longer than %zu bytes", spec->max_len);
	}
	else
	{
		memcpy(req.snippet, answer.data, Min(answer.len, RS_HTTP_SNIPPET_LEN));
		req.snippet_len = Min(answer.len, RS_HTTP_SNIPPET_LEN);
		describe_failure(&req, code, result);
	}
	appendBinaryStringInfo(body, answer.data, answer.len);
	pfree(answer.data);
}

/* libcurl's progress callback: stop waiting when an interrupt is pending */
static int
stop_if_interrupted(void *arg, curl_off_t dltotal, curl_off_t dlnow,
					curl_off_t ultotal, curl_off_t ulnow)
{
	return InterruptPending ? 1 : 0;
}

/* libcurl's write callback of a GET: into the buffer made ready for it */
static size_t
keep_body(char *data, size_t size, size_t nmemb, void *arg)
{
	GetBody    *answer = arg;
	size_t		n = size * nmemb;

	if (n > answer->max_len - answer->len)
	{
		answer->too_long = true;
		return 0;				/* libcurl stops the transfer */
	}
	memcpy(answer->data + answer->len, data, n);
	answer->len += n;
	return n;
}

/*
 * rs_http_create
 *		A client whose requests live in a child context of parent.
 */
RsHttpClient *
rs_http_create(MemoryContext parent)
{
	RsHttpClient *client;

	init_curl();
	client = MemoryContextAllocZero(parent, sizeof(RsHttpClient));
	client->cxt = AllocSetContextCreate(parent, "rail_stream http",
										ALLOCSET_DEFAULT_SIZES);
	client->multi = curl_multi_init();
	if (client->multi == NULL)
		elog(ERROR, "could not create a libcurl multi handle");
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, socket_changed);
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, timer_changed);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
	return client;
}

/*
 * rs_http_post
 *		Start POSTing spec->body to spec->url; the outcome comes back from
 *		rs_http_next_result with spec->id.
 */
void
rs_http_post(RsHttpClient *client, const RsHttpRequestSpec *spec)
{
	Request    *req = MemoryContextAllocZero(client->cxt, sizeof(Request));
	char	   *key_header;
	CURL	   *easy;

	/*
	 * Up to two sockets per request (happy eyeballs), and cached connections:
	 * made room for here, as the callback cannot.
	 */
	reserve_sockets(client, 4 * (client->in_flight + 1) + 16);
	req->id = spec->id;
	req->attempt = spec->attempt;
	req->arg = spec->arg;
	req->body = MemoryContextStrdup(client->cxt, spec->body);
	keep_url_secrets(req, spec->url, client->cxt);
	key_header = psprintf("Idempotency-Key: %s", spec->idempotency_key);
	easy = req->easy = curl_easy_init();
	if (easy == NULL ||
		!append_header(req, "Content-Type: application/json") ||
		!append_header(req, key_header) ||
		!append_header(req, "Expect:"))
	{
		curl_slist_free_all(req->headers);
		curl_easy_cleanup(easy);
		elog(ERROR, "out of memory for a libcurl request");
	}
	pfree(key_header);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
	set_common_options(easy, spec->url, spec->connect_timeout_ms,
					   spec->timeout_ms, req->curl_error);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(req->body));
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_snippet);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	if (curl_multi_add_handle(client->multi, easy) != CURLM_OK)
		elog(ERROR, "could not start a libcurl request");
	client->in_flight++;
}

int
rs_http_in_flight(RsHttpClient *client)
{
	return client->in_flight;
}

/*
 * rs_http_wait
 *		Wait up to timeout_ms for the latch, the requests or other_fd (-1:
 *		none) to be readable, and move the requests on.  Returns
 *		WL_LATCH_SET when the latch was set, WL_SOCKET_READABLE when other_fd
 *		was readable; exits if the postmaster dies.
 */
int
rs_http_wait(RsHttpClient *client, long timeout_ms, int other_fd,
			 uint32 wait_event_info)
{
	WaitEventSet *set;
	WaitEvent  *events;
	int			nevents = client->nsockets + 3;
	int			other_pos = -1;
	int			fired;
	int			result = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (client->timer_at != 0)
		timeout_ms = Min(timeout_ms,
						 Max(0, TimestampDifferenceMilliseconds(now, client->timer_at)));

	set = rs_CreateWaitEventSet(nevents);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	if (other_fd >= 0)
		other_pos = AddWaitEventToSet(set, WL_SOCKET_READABLE, other_fd, NULL, NULL);
	for (int i = 0; i < client->nsockets; i++)
	{
		int			what = client->sockets[i].what;
		uint32		wl = 0;

		if (what & CURL_POLL_IN)
			wl |= WL_SOCKET_READABLE;
		if (what & CURL_POLL_OUT)
			wl |= WL_SOCKET_WRITEABLE;
		AddWaitEventToSet(set, wl, client->sockets[i].fd, NULL, NULL);
	}
	events = palloc(nevents * sizeof(WaitEvent));
	fired = WaitEventSetWait(set, timeout_ms, events, nevents, wait_event_info);
	FreeWaitEventSet(set);

	for (int i = 0; i < fired; i++)
	{
		int			curl_events = 0;

		if (events[i].events & WL_LATCH_SET)
		{
			result |= WL_LATCH_SET;
			continue;
		}
		if (events[i].pos == other_pos)
		{
			result |= WL_SOCKET_READABLE;
			continue;
		}
		if (events[i].events & WL_SOCKET_READABLE)
			curl_events |= CURL_CSELECT_IN;
		if (events[i].events & WL_SOCKET_WRITEABLE)
			curl_events |= CURL_CSELECT_OUT;
		if (curl_events != 0)
			socket_action(client, events[i].fd, curl_events);
	}
	pfree(events);

	if (client->timer_at != 0 && GetCurrentTimestamp() >= client->timer_at)
	{
		client->timer_at = 0;
		socket_action(client, CURL_SOCKET_TIMEOUT, 0);
	}
	return result;
}

/*
 * rs_http_next_result
 *		The outcome of one finished request, if any; false when none is left.
 */
bool
rs_http_next_result(RsHttpClient *client, RsHttpResult *result)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(client->multi, &left)) != NULL)
	{
		Request    *req;
		long		status = 0;
		curl_off_t	retry_after = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after);

		memset(result, 0, sizeof(RsHttpResult));
		result->id = req->id;
		result->attempt = req->attempt;
		result->arg = req->arg;
		result->status = (int) status;
		result->retry_after_s = retry_after > 0 ? (int64) retry_after : -1;
		describe_failure(req, msg->data.result, result);

		curl_multi_remove_handle(client->multi, req->easy);
		curl_easy_cleanup(req->easy);
		curl_slist_free_all(req->headers);
		pfree(req->body);
		if (req->secret_path)
			pfree(req->secret_path);
		if (req->secret_query)
			pfree(req->secret_query);
		pfree(req);
		client->in_flight--;
		return true;
	}
	return false;
}

/*
 * rs_http_url_host
 *		The host of an http or https URL, lower-cased, into host, and its
 *		port (the scheme's default if the URL names none) into *port; false
 *		if the URL is not one.
 */
bool
rs_http_url_host(const char *url, char *host, size_t len, int *port)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *h = NULL;
	char	   *p = NULL;
	bool		ok;

	ok = u != NULL &&
		curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		(strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
	if (ok)
	{
		strlcpy(host, h, len);
		for (char *c = host; *c; c++)
			*c = pg_tolower((unsigned char) *c);
		*port = atoi(p);
	}
	curl_free(scheme);
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
	return ok;
}

/* Fill in result->transport_error and result->error for a finished request */
static void
describe_failure(Request *req, CURLcode code, RsHttpResult *result)
{
	char	   *text;

	if (code != CURLE_OK)
	{
		result->transport_error = true;
		result->status = 0;
		text = pstrdup(req->curl_error[0] ? req->curl_error : curl_easy_strerror(code));
	}
	else if (result->status < 200 || result->status >= 300)
	{
		/*
		 * The start of the response says why, on one line, in ASCII: it may
		 * be cut inside a character, or not be UTF-8 at all.
		 */
		for (size_t i = 0; i < req->snippet_len; i++)
		{
			unsigned char c = (unsigned char) req->snippet[i];

			if (c < ' ' || c > '~')
				req->snippet[i] = c < ' ' ? ' ' : '?';
		}
		req->snippet[req->snippet_len] = '\0';
		text = psprintf("HTTP %d%s%s", result->status,
						req->snippet_len > 0 ? ": " : "", req->snippet);
	}
	else
		return;
	/* a receiver may echo the URL: out with the token before the cut */
	redact(text, req->secret_path);
	redact(text, req->secret_query);
	strlcpy(result->error, text, RS_HTTP_ERROR_LEN);
	pfree(text);
}

/*
 * Replace every occurrence of secret in text by "...", and a start of it
 * that ends the text (the response was cut there).
 */
static void
redact(char *text, const char *secret)
{
	size_t		len = secret ? strlen(secret) : 0;
	size_t		tlen;
	char	   *hit;

	if (len < 2)
		return;
	while ((hit = strstr(text, secret)) != NULL)
	{
		memcpy(hit, "...", 3);
		memmove(hit + 3, hit + len, strlen(hit + len) + 1);
	}
	tlen = strlen(text);
	for (size_t n = Min(len - 1, tlen); n >= 4; n--)
	{
		if (memcmp(text + tlen - n, secret, n) == 0)
		{
			strcpy(text + tlen - n, "...");
			break;
		}
	}
}

/*
 * Keep the URL's path and query (where a token may be), each NULL if it has
 * none worth hiding, from one parse of the URL.
 */
static void
keep_url_secrets(Request *req, const char *url, MemoryContext cxt)
{
	CURLU	   *u = curl_url();
	char	   *path = NULL;
	char	   *query = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
	{
		if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strlen(path) > 1)
			req->secret_path = MemoryContextStrdup(cxt, path);
		if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && strlen(query) > 1)
			req->secret_query = MemoryContextStrdup(cxt, query);
	}
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
}

static bool
append_header(Request *req, const char *header)
{
	struct curl_slist *list = curl_slist_append(req->headers, header);

	if (list == NULL)
		return false;
	req->headers = list;
	return true;
}

/* Room for n watched sockets, so that socket_changed need not grow it */
static void
reserve_sockets(RsHttpClient *client, int n)
{
	if (client->maxsockets >= n)
		return;
	n = Max(n, 2 * client->maxsockets);
	client->sockets = client->sockets == NULL ?
		MemoryContextAlloc(client->cxt, n * sizeof(WatchedSocket)) :
		repalloc(client->sockets, n * sizeof(WatchedSocket));
	client->maxsockets = n;
}

static void
socket_action(RsHttpClient *client, curl_socket_t fd, int events)
{
	int			running;
	CURLMcode	rc = curl_multi_socket_action(client->multi, fd, events, &running);

	if (rc != CURLM_OK)
		elog(ERROR, "libcurl failed: %s", curl_multi_strerror(rc));
}

/* CURLMOPT_SOCKETFUNCTION: watch, change or forget a socket */
static int
socket_changed(CURL *easy, curl_socket_t fd, int what, void *clientp,
			   void *socketp)
{
	RsHttpClient *client = clientp;
	int			i;

	for (i = 0; i < client->nsockets; i++)
	{
		if (client->sockets[i].fd == fd)
			break;
	}
	if (what == CURL_POLL_REMOVE)
	{
		if (i < client->nsockets)
			client->sockets[i] = client->sockets[--client->nsockets];
		return 0;
	}
	if (i == client->nsockets)
	{
		/* reserve_sockets made room; if not, -1 fails every request */
		if (client->nsockets == client->maxsockets)
			return -1;
		client->sockets[client->nsockets++].fd = fd;
	}
	client->sockets[i].what = what;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants a call in timeout_ms (-1: never) */
static int
timer_changed(CURLM *multi, long timeout_ms, void *clientp)
{
	RsHttpClient *client = clientp;

	if (timeout_ms < 0)
		client->timer_at = 0;
	else
		client->timer_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   timeout_ms);
	return 0;
}

/* CURLOPT_WRITEFUNCTION: keep the start of the response, drop the rest */
static size_t
keep_snippet(char *data, size_t size, size_t nmemb, void *arg)
{
	Request    *req = arg;
	size_t		n = size * nmemb;
	size_t		room = RS_HTTP_SNIPPET_LEN - req->snippet_len;

	memcpy(req->snippet + req->snippet_len, data, Min(n, room));
	req->snippet_len += Min(n, room);
	return n;
}
