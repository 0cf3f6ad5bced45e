/* One SimulCrypt TCP connection: TS 103 197 messages cut out of the byte
 * stream with libcas's framer, whole messages written with one send. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "headend.h"
#include "log.h"

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (host[0] == '\0')
		return 0;	/* INADDR_ANY */
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return -1;
	sa->sin_addr = ((const struct sockaddr_in *)(const void *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

int link_init(struct link *l, int fd)
{
	l->fd = fd;
	l->fr = malloc(sizeof *l->fr);
	if (l->fr == NULL)
		return -1;
	cas_tlv_framer_init(l->fr);
	return 0;
}

void link_close(struct link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->fr);
	l->fr = NULL;
}

int link_pump(struct link *l, link_msg_fn *fn, void *ctx)
{
	ssize_t n = read(l->fd, l->rbuf, sizeof l->rbuf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	if (cas_tlv_framer_feed(l->fr, l->rbuf, (size_t)n) < 0)
		return -1;
	const uint8_t *msg;
	size_t len;
	int r, rc = 0;
	/* drain the chunk completely, even after a handler failed: the framer
	 * wants next() to reach 0 before the next feed */
	while ((r = cas_tlv_framer_next(l->fr, &msg, &len)) > 0)
		if (rc == 0 && fn(ctx, msg, len) < 0)
			rc = -1;
	return r < 0 ? -1 : rc;
}

int link_send(struct link *l, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(l->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int link_wait(const struct link *l, int ms)
{
	struct pollfd p = { l->fd, POLLIN, 0 };
	int r = poll(&p, 1, ms);
	if (r < 0 && errno == EINTR)
		return 0;
	return r < 0 ? -1 : r;
}
