/*-------------------------------------------------------------------------
 *
 * stomp.c
 *	  STOMP 1.2 framing over one TCP socket.
 *
 * A frame is a command line, header lines "name:value", an empty line, a
 * body and a NUL octet.  A body is read by its content-length header when
 * there is one (Network Rail's frames have it), else up to the NUL.  Header
 * values of frames other than CONNECT/CONNECTED are escaped (\\ \n \r \c);
 * stomp_send escapes and stomp_read unescapes them.  Lone end-of-line
 * octets between frames are heart-beats.
 *
 * The socket is blocking with send/receive timeouts; stomp_read waits with
 * poll() so the caller's loop can do other work (Kafka's callbacks) between
 * frames.  Received octets accumulate in one buffer, and a frame is cut
 * out of it only once complete, so a frame split over TCP segments is
 * fine.
 *
 * Heart-beats (STOMP 1.1+): stomp_heartbeat sends an end-of-line when
 * nothing was sent for the agreed interval, and reports the connection
 * dead when nothing was received for twice the server's interval.
 *
 * This file knows nothing of Kafka, message ids or acknowledgements: live.c
 * speaks the protocol's conversation on top of it.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  docker/feeder/stomp.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "feeder.h"

#define STOMP_MAX_FRAME (64 * 1024 * 1024)	/* refuse larger frames */

struct StompConn
{
	int			fd;
	char	   *buf;			/* received, not yet parsed */
	size_t		len;
	size_t		cap;
	int			hb_send_ms;		/* 0 = no heart-beats */
	int			hb_recv_ms;
	int64_t		last_sent;
	int64_t		last_recv;
	char		error[256];		/* why the connection failed */
};

/* Set a socket timeout in milliseconds (SO_SNDTIMEO / SO_RCVTIMEO) */
static void
set_timeout(int fd, int opt, int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	(void) setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/* Connect with a timeout: non-blocking connect(), then poll() */
static int
connect_timeout(int fd, const struct sockaddr *addr, socklen_t addrlen,
				int timeout_ms)
{
	struct pollfd pfd;
	int			soerr = 0;
	socklen_t	soerrlen = sizeof(soerr);
	int			rc;

	set_timeout(fd, SO_SNDTIMEO, timeout_ms);
	rc = connect(fd, addr, addrlen);
	if (rc == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	/* Linux returns EINPROGRESS for a blocking socket with SO_SNDTIMEO */
	pfd.fd = fd;
	pfd.events = POLLOUT;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc == 0)
	{
		errno = ETIMEDOUT;
		return -1;
	}
	if (rc < 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerrlen) < 0)
		return -1;
	if (soerr != 0)
	{
		errno = soerr;
		return -1;
	}
	return 0;
}

/*
 * Open a TCP connection to host:port.  On failure returns NULL with a
 * message in err.
 */
StompConn *
stomp_open(const char *host, const char *port, int timeout_ms,
		   char *err, size_t errlen)
{
	struct addrinfo hints;
	struct addrinfo *res;
	struct addrinfo *ai;
	int			rc;
	int			fd = -1;
	int			saved_errno = 0;
	StompConn  *conn;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
	{
		snprintf(err, errlen, "could not resolve host \"%s\": %s",
				 host, gai_strerror(rc));
		return NULL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
	{
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
		{
			saved_errno = errno;
			continue;
		}
		if (connect_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms) == 0)
			break;
		saved_errno = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
	{
		snprintf(err, errlen, "could not connect to STOMP server at %s:%s: %s",
				 host, port, strerror(saved_errno));
		return NULL;
	}

	{
		int			one = 1;

		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		(void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	}
	set_timeout(fd, SO_SNDTIMEO, 30000);

	conn = xmalloc(sizeof(StompConn));
	memset(conn, 0, sizeof(StompConn));
	conn->fd = fd;
	conn->cap = 65536;
	conn->buf = xmalloc(conn->cap);
	conn->last_sent = conn->last_recv = now_ms();
	return conn;
}

int
stomp_fd(const StompConn *conn)
{
	return conn->fd;
}

const char *
stomp_error(const StompConn *conn)
{
	return conn->error;
}

void
stomp_set_heartbeat(StompConn *conn, int send_ms, int recv_ms)
{
	conn->hb_send_ms = send_ms;
	conn->hb_recv_ms = recv_ms;
}

/* Append s to a growing buffer, escaping as STOMP 1.2 header values are */
static void
append(char **out, size_t *len, size_t *cap, const char *s, size_t n,
	   bool escape)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		const char *rep = NULL;

		if (*len + 3 > *cap)
		{
			*cap = *cap * 2 + n;
			*out = xrealloc(*out, *cap);
		}
		if (escape)
		{
			switch (s[i])
			{
				case '\\':
					rep = "\\\\";
					break;
				case '\n':
					rep = "\\n";
					break;
				case '\r':
					rep = "\\r";
					break;
				case ':':
					rep = "\\c";
					break;
			}
		}
		if (rep)
		{
			(*out)[(*len)++] = rep[0];
			(*out)[(*len)++] = rep[1];
		}
		else
			(*out)[(*len)++] = s[i];
	}
}

/* write() all of buf; false on error */
static bool
write_all(StompConn *conn, const char *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = send(conn->fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			snprintf(conn->error, sizeof(conn->error),
					 "could not send to STOMP server: %s",
					 n < 0 ? strerror(errno) : "connection closed");
			return false;
		}
		buf += n;
		len -= n;
	}
	conn->last_sent = now_ms();
	return true;
}

/*
 * Send one frame.  headers is a NULL-terminated list of name, value pairs.
 * A body gets a content-length header.
 */
bool
stomp_send(StompConn *conn, const char *command, const char *const *headers,
		   const char *body, size_t body_len)
{
	size_t		cap = 512 + body_len;
	size_t		len = 0;
	char	   *out = xmalloc(cap);
	bool		escape = strcmp(command, "CONNECT") != 0;
	bool		ok;
	int			i;

	append(&out, &len, &cap, command, strlen(command), false);
	append(&out, &len, &cap, "\n", 1, false);
	for (i = 0; headers != NULL && headers[i] != NULL; i += 2)
	{
		append(&out, &len, &cap, headers[i], strlen(headers[i]), escape);
		append(&out, &len, &cap, ":", 1, false);
		append(&out, &len, &cap, headers[i + 1], strlen(headers[i + 1]), escape);
		append(&out, &len, &cap, "\n", 1, false);
	}
	if (body_len > 0)
	{
		char		cl[64];

		snprintf(cl, sizeof(cl), "content-length:%zu\n", body_len);
		append(&out, &len, &cap, cl, strlen(cl), false);
	}
	append(&out, &len, &cap, "\n", 1, false);
	append(&out, &len, &cap, body, body_len, false);
	append(&out, &len, &cap, "\0", 1, false);
	ok = write_all(conn, out, len);
	free(out);
	return ok;
}

/* Undo STOMP 1.2 header escaping in place */
static void
unescape(char *s)
{
	char	   *r = s;
	char	   *w = s;

	while (*r)
	{
		if (r[0] == '\\' && r[1] != '\0')
		{
			switch (r[1])
			{
				case 'n':
					*w++ = '\n';
					break;
				case 'r':
					*w++ = '\r';
					break;
				case 'c':
					*w++ = ':';
					break;
				default:
					*w++ = r[1];
					break;
			}
			r += 2;
		}
		else
			*w++ = *r++;
	}
	*w = '\0';
}

/* Copy one line [p, eol) into a new string, without a trailing CR */
static char *
copy_line(const char *p, const char *eol)
{
	size_t		n = eol - p;
	char	   *s;

	if (n > 0 && p[n - 1] == '\r')
		n--;
	s = xmalloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/*
 * Try to cut one frame from the buffer.  Returns 1 and the frame, 0 if the
 * buffer holds no complete frame yet, -1 on a malformed frame.
 */
static int
parse_frame(StompConn *conn, StompFrame **out)
{
	char	   *p = conn->buf;
	char	   *end = conn->buf + conn->len;
	char	   *eol;
	char	   *hdr_end;
	char	   *body;
	StompFrame *f;
	const char *cl;
	size_t		body_len;
	size_t		used;

	/* heart-beats and stray line ends between frames */
	while (p < end && (*p == '\n' || *p == '\r'))
		p++;
	if (p > conn->buf)
	{
		memmove(conn->buf, p, end - p);
		conn->len = end - p;
		p = conn->buf;
		end = p + conn->len;
	}
	/* the headers end at the first empty line */
	hdr_end = NULL;
	for (eol = p; eol < end; eol++)
	{
		if (*eol == '\n' &&
			((eol + 1 < end && eol[1] == '\n') ||
			 (eol + 2 < end && eol[1] == '\r' && eol[2] == '\n')))
		{
			hdr_end = eol;
			break;
		}
	}
	if (hdr_end == NULL)
		return conn->len > STOMP_MAX_FRAME ? -1 : 0;
	body = hdr_end + (hdr_end[1] == '\n' ? 2 : 3);

	f = xmalloc(sizeof(StompFrame));
	memset(f, 0, sizeof(StompFrame));
	eol = memchr(p, '\n', end - p);
	f->command = copy_line(p, eol);
	p = eol + 1;
	while (p <= hdr_end)
	{
		char	   *line;
		char	   *colon;

		eol = memchr(p, '\n', hdr_end - p + 1);
		line = copy_line(p, eol);
		p = eol + 1;
		colon = strchr(line, ':');
		if (colon == NULL)
		{
			free(line);
			continue;
		}
		*colon = '\0';
		f->headers = xrealloc(f->headers,
							  sizeof(StompHeader) * (f->nheaders + 1));
		f->headers[f->nheaders].name = line;
		f->headers[f->nheaders].value = colon + 1;
		if (strcmp(f->command, "CONNECTED") != 0)
		{
			unescape(line);
			unescape(colon + 1);
		}
		f->nheaders++;
	}

	cl = stomp_header(f, "content-length");
	if (cl != NULL)
	{
		body_len = strtoul(cl, NULL, 10);
		if (body_len > STOMP_MAX_FRAME)
		{
			stomp_frame_free(f);
			return -1;
		}
		if ((size_t) (end - body) < body_len + 1)
		{
			stomp_frame_free(f);
			return 0;
		}
	}
	else
	{
		char	   *nul = memchr(body, '\0', end - body);

		if (nul == NULL)
		{
			stomp_frame_free(f);
			return conn->len > STOMP_MAX_FRAME ? -1 : 0;
		}
		body_len = nul - body;
	}
	f->body = xmalloc(body_len + 1);
	memcpy(f->body, body, body_len);
	f->body[body_len] = '\0';
	f->body_len = body_len;

	used = (body + body_len + 1) - conn->buf;
	memmove(conn->buf, conn->buf + used, conn->len - used);
	conn->len -= used;
	*out = f;
	return 1;
}

/*
 * Read one frame, waiting up to timeout_ms.  Returns 1 with a frame, 0 on
 * timeout, -1 when the connection is closed or broken (see stomp_error).
 */
int
stomp_read(StompConn *conn, int timeout_ms, StompFrame **frame)
{
	int64_t		deadline = now_ms() + timeout_ms;

	*frame = NULL;
	for (;;)
	{
		struct pollfd pfd;
		int			rc;
		ssize_t		n;
		int64_t		left;

		rc = parse_frame(conn, frame);
		if (rc != 0)
		{
			if (rc < 0)
				snprintf(conn->error, sizeof(conn->error),
						 "invalid frame from STOMP server");
			return rc;
		}
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		pfd.fd = conn->fd;
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, (int) left);
		if (rc < 0 && errno == EINTR)
			return 0;
		if (rc == 0)
			return 0;
		if (conn->cap - conn->len < 16384)
		{
			conn->cap *= 2;
			conn->buf = xrealloc(conn->buf, conn->cap);
		}
		n = recv(conn->fd, conn->buf + conn->len, conn->cap - conn->len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
		{
			snprintf(conn->error, sizeof(conn->error),
					 "connection to STOMP server lost: %s",
					 n < 0 ? strerror(errno) : "server closed the connection");
			return -1;
		}
		conn->len += n;
		conn->last_recv = now_ms();
	}
}

/*
 * Keep the connection's heart-beats: send one if due.  Returns false if the
 * server has been silent for too long or the send failed.
 */
bool
stomp_heartbeat(StompConn *conn)
{
	int64_t		now = now_ms();

	if (conn->hb_recv_ms > 0 && now - conn->last_recv > 2 * conn->hb_recv_ms)
	{
		snprintf(conn->error, sizeof(conn->error),
				 "connection to STOMP server lost: no heart-beat for %d ms",
				 2 * conn->hb_recv_ms);
		return false;
	}
	if (conn->hb_send_ms > 0 && now - conn->last_sent >= conn->hb_send_ms)
		return write_all(conn, "\n", 1);
	return true;
}

void
stomp_close(StompConn *conn)
{
	if (conn == NULL)
		return;
	close(conn->fd);
	free(conn->buf);
	free(conn);
}

const char *
stomp_header(const StompFrame *frame, const char *name)
{
	int			i;

	/* the first occurrence of a repeated header wins (STOMP 1.2) */
	for (i = 0; i < frame->nheaders; i++)
		if (strcmp(frame->headers[i].name, name) == 0)
			return frame->headers[i].value;
	return NULL;
}

void
stomp_frame_free(StompFrame *frame)
{
	int			i;

	if (frame == NULL)
		return;
	for (i = 0; i < frame->nheaders; i++)
		free(frame->headers[i].name);	/* value shares the allocation */
	free(frame->headers);
	free(frame->command);
	free(frame->body);
	free(frame);
}
