/* Delivery: HTTP/1.1 PUT of a sealed bundle and then its .minisig, plain or over TLS (OpenSSL,
 * peer verified against --ca-file or the system store, host name checked), with retries and
 * exponential backoff. URL ending in '/': NAME and NAME.minisig are appended. Otherwise the
 * bundle goes to the URL as given (a presigned URL works unchanged: the request line carries its
 * path and query byte for byte, the Host header is the URL's authority as a SigV4 signer
 * computes it, and no header is added that it would have to sign). The signature goes to
 * --upload-sig (a presigned URL of its own: one signs exactly one key), else to the bundle's
 * directory, else to the bundle's path plus ".minisig" with the same query (which an object
 * store that checks signatures refuses). */
#include "capture/sidecar.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct url {
	bool tls;
	char host[256]; /* as connected to: no brackets */
	char port[8];
	char authority[300]; /* the Host header: lowercase, [v6], :port unless the scheme's */
	char path[2048];     /* path + query */
};

/* RFC 7230 5.4: Host is the URI's host and port, the port left out when it is the scheme's
 * default; an IPv6 literal keeps its brackets. Lowercase, as a SigV4 signer canonicalises it. */
static void url_authority(struct url *u)
{
	const char *def = u->tls ? "443" : "80";
	bool v6 = strchr(u->host, ':') != NULL;
	snprintf(u->authority, sizeof(u->authority), "%s%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "",
		 strcmp(u->port, def) ? ":" : "", strcmp(u->port, def) ? u->port : "");
	for (char *c = u->authority; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
}

static int url_parse(const char *u, struct url *out, ai_err_t *err)
{
	memset(out, 0, sizeof(*out));
	const char *p;
	if (!strncmp(u, "http://", 7)) {
		p = u + 7;
		strcpy(out->port, "80");
	} else if (!strncmp(u, "https://", 8)) {
		p = u + 8;
		out->tls = true;
		strcpy(out->port, "443");
	} else {
		return ai_err_set(err, 0, "upload URL must start with http:// or https://");
	}
	size_t hl = strcspn(p, "/?");
	const char *hp = p, *he = p + hl;
	if (hl && *hp == '[') { /* [v6]:port */
		const char *rb = memchr(hp, ']', hl);
		if (!rb)
			return ai_err_set(err, 0, "upload URL: bad IPv6 host");
		if ((size_t)(rb - hp - 1) >= sizeof(out->host))
			return ai_err_set(err, 0, "upload URL: host too long");
		memcpy(out->host, hp + 1, (size_t)(rb - hp - 1));
		if (rb + 1 < he && rb[1] == ':')
			snprintf(out->port, sizeof(out->port), "%.*s", (int)(he - rb - 2), rb + 2);
	} else {
		const char *colon = memchr(hp, ':', hl);
		const char *hend = colon ? colon : he;
		if (hend == hp || (size_t)(hend - hp) >= sizeof(out->host))
			return ai_err_set(err, 0, "upload URL: bad host");
		memcpy(out->host, hp, (size_t)(hend - hp));
		if (colon)
			snprintf(out->port, sizeof(out->port), "%.*s", (int)(he - colon - 1), colon + 1);
	}
	if (!out->port[0]) /* "host:" means the default port */
		strcpy(out->port, out->tls ? "443" : "80");
	for (const char *c = out->port; *c; c++)
		if (*c < '0' || *c > '9')
			return ai_err_set(err, 0, "upload URL: bad port");
	long pn = strtol(out->port, NULL, 10);
	if (pn < 1 || pn > 65535 || strlen(out->port) > 5)
		return ai_err_set(err, 0, "upload URL: bad port");
	snprintf(out->port, sizeof(out->port), "%ld", pn); /* "08080" is 8080, in Host too */
	url_authority(out);
	const char *rest = *he ? he : "/";
	if (*rest == '?')
		snprintf(out->path, sizeof(out->path), "/%s", rest);
	else if (snprintf(out->path, sizeof(out->path), "%s", rest) >= (int)sizeof(out->path))
		return ai_err_set(err, 0, "upload URL too long");
	for (const char *c = out->path; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return ai_err_set(err, 0, "upload URL: control character or space in path");
	return 0;
}

static void ssl_ctx_freep(SSL_CTX **c)
{
	if (*c)
		SSL_CTX_free(*c);
}
static void ssl_freep(SSL **s)
{
	if (*s) {
		SSL_shutdown(*s);
		SSL_free(*s);
	}
}
#define cleanup_ssl_ctx __attribute__((cleanup(ssl_ctx_freep)))
#define cleanup_ssl	__attribute__((cleanup(ssl_freep)))

struct conn {
	int fd;
	SSL *ssl;
	unsigned timeout_ms;
};

static int wait_fd(int fd, short ev, unsigned ms)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int r;
	do
		r = poll(&p, 1, (int)ms);
	while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

static int tcp_connect(const struct url *u, unsigned ms, ai_err_t *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int rc = getaddrinfo(u->host, u->port, &hints, &ai);
	if (rc != 0)
		return ai_err_set(err, 0, "resolve %s: %s", u->host, gai_strerror(rc));
	int fd = -1, e = 0;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			e = errno;
			close(fd);
			fd = -1;
			continue;
		}
		int so = 0;
		socklen_t sl = sizeof(so);
		if (wait_fd(fd, POLLOUT, ms) < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0 ||
		    so) {
			e = so ? so : ETIMEDOUT;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return ai_err_set(err, e, "connect %s:%s", u->host, u->port);
	return fd;
}

/* I/O with a timeout on a non-blocking socket, through TLS when there is a session. */
static int io(struct conn *c, void *buf, size_t len, bool wr, size_t *done, ai_err_t *err)
{
	for (;;) {
		ssize_t n;
		short want = wr ? POLLOUT : POLLIN;
		if (c->ssl) {
			size_t got = 0;
			int r =
			    wr ? SSL_write_ex(c->ssl, buf, len, &got) : SSL_read_ex(c->ssl, buf, len, &got);
			if (r == 1) {
				*done = got;
				return 0;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_ZERO_RETURN) {
				*done = 0;
				return 0;
			}
			if (e == SSL_ERROR_WANT_READ)
				want = POLLIN;
			else if (e == SSL_ERROR_WANT_WRITE)
				want = POLLOUT;
			else
				return ai_err_set(err, 0, "TLS %s: %s", wr ? "write" : "read",
						  ERR_reason_error_string(ERR_get_error())
						      ?: "connection closed");
		} else {
			n = wr ? send(c->fd, buf, len, MSG_NOSIGNAL) : recv(c->fd, buf, len, 0);
			if (n >= 0) {
				*done = (size_t)n;
				return 0;
			}
			if (errno != EAGAIN && errno != EINTR)
				return ai_err_set(err, errno, wr ? "send" : "recv");
		}
		if (wait_fd(c->fd, want, c->timeout_ms) < 0)
			return ai_err_set(err, ETIMEDOUT, wr ? "send" : "recv");
	}
}

static int write_all(struct conn *c, const void *buf, size_t len, ai_err_t *err)
{
	const char *p = buf;
	while (len) {
		size_t n;
		if (io(c, (void *)p, len, true, &n, err) < 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* A path for messages: never its query, which for a presigned URL is a credential. */
#define SHOWN(u) (int)strcspn((u)->path, "?"), (u)->path, strchr((u)->path, '?') ? "?..." : ""

static int put_once(const struct ai_upload_opts *o, const struct url *u, SSL_CTX *ctx, int fd_file,
		    off_t size, ai_err_t *err)
{
	unsigned tmo = o->timeout_ms ? o->timeout_ms : 10000;
	cleanup_close int fd = tcp_connect(u, tmo, err);
	if (fd < 0)
		return -1;
	cleanup_ssl SSL *ssl = NULL;
	struct conn c = {.fd = fd, .timeout_ms = tmo};
	if (u->tls) {
		ssl = SSL_new(ctx);
		struct in6_addr ip;
		bool is_ip = inet_pton(AF_INET, u->host, &ip) == 1 || inet_pton(AF_INET6, u->host, &ip) == 1;
		if (!ssl || SSL_set_fd(ssl, fd) != 1)
			return ai_err_set(err, 0, "TLS setup");
		/* the peer must be who the URL names: its IP SAN for an address, else the host name */
		if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host) != 1
			  : (SSL_set_tlsext_host_name(ssl, u->host) != 1 || SSL_set1_host(ssl, u->host) != 1))
			return ai_err_set(err, 0, "TLS peer name setup");
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		for (;;) {
			int r = SSL_connect(ssl);
			if (r == 1)
				break;
			int e = SSL_get_error(ssl, r);
			short want = e == SSL_ERROR_WANT_READ	 ? POLLIN
				     : e == SSL_ERROR_WANT_WRITE ? POLLOUT
								 : 0;
			if (!want) {
				long vr = SSL_get_verify_result(ssl);
				return ai_err_set(
				    err, 0, "TLS handshake with %s: %s", u->host,
				    vr != X509_V_OK ? X509_verify_cert_error_string(vr)
						    : (ERR_reason_error_string(ERR_get_error()) ?: "failed"));
			}
			if (wait_fd(fd, want, tmo) < 0)
				return ai_err_set(err, ETIMEDOUT, "TLS handshake");
		}
		c.ssl = ssl;
	}
	char head[4096];
	int hl = snprintf(head, sizeof(head),
			  "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %lld\r\nContent-Type: "
			  "application/octet-stream\r\n"
			  "Connection: close\r\nUser-Agent: afterimage-capture/" AI_VERSION "\r\n\r\n",
			  u->path, u->authority, (long long)size);
	if (hl >= (int)sizeof(head))
		return ai_err_set(err, 0, "request too long");
	if (write_all(&c, head, (size_t)hl, err) < 0)
		return ai_err_wrap(err, "PUT %.*s%s", SHOWN(u));
	char buf[65536];
	off_t off = 0;
	while (off < size) {
		ssize_t n = pread(fd_file, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ai_err_set(err, n < 0 ? errno : EIO, "read bundle");
		if (write_all(&c, buf, (size_t)n, err) < 0)
			return ai_err_wrap(err, "PUT %.*s%s", SHOWN(u));
		off += n;
	}
	/* the status line is all we need */
	char resp[1024];
	size_t got = 0;
	while (got < sizeof(resp) - 1 && !memchr(resp, '\n', got)) {
		size_t n;
		if (io(&c, resp + got, sizeof(resp) - 1 - got, false, &n, err) < 0)
			return ai_err_wrap(err, "PUT %.*s%s: response", SHOWN(u));
		if (n == 0)
			break;
		got += n;
	}
	resp[got] = '\0';
	int status = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return ai_err_set(err, 0, "PUT %.*s%s: no HTTP status in the response", SHOWN(u));
	if (status < 200 || status > 299)
		return ai_err_set(err, 0, "PUT %.*s%s: HTTP %d", SHOWN(u), status);
	return 0;
}

static int put_file(const struct ai_upload_opts *o, const struct url *u, SSL_CTX *ctx, int dirfd,
		    const char *name, ai_err_t *err)
{
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return ai_err_set(err, errno, "open %s", name);
	unsigned delay = o->backoff_ms ? o->backoff_ms : 500;
	for (unsigned attempt = 0;; attempt++) {
		if (put_once(o, u, ctx, fd, st.st_size, err) == 0)
			return 0;
		if (attempt >= o->retries)
			return ai_err_wrap(err, "after %u attempts", attempt + 1);
		struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		delay = delay > 30000 ? 60000 : delay * 2;
	}
}

/* u's path with name put in front of the query: "/dir/?q" + "n" = "/dir/n?q". */
static int url_append(struct url *u, const char *name, ai_err_t *err)
{
	char path[sizeof(u->path)];
	const char *q = strchr(u->path, '?');
	size_t plen = q ? (size_t)(q - u->path) : strlen(u->path);
	if (snprintf(path, sizeof(path), "%.*s%s%s", (int)plen, u->path, name, q ? q : "") >=
	    (int)sizeof(path))
		return ai_err_set(err, 0, "upload URL too long");
	memcpy(u->path, path, sizeof(path));
	return 0;
}

static bool url_is_dir(const struct url *u)
{
	const char *q = strchr(u->path, '?');
	size_t plen = q ? (size_t)(q - u->path) : strlen(u->path);
	return plen && u->path[plen - 1] == '/';
}

static int tls_ctx(const struct ai_upload_opts *o, SSL_CTX **out, ai_err_t *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return ai_err_set(err, 0, "SSL_CTX_new");
	*out = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	int ok = o->ca_file ? SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL)
			    : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1)
		return ai_err_set(err, 0, "loading CA %s", o->ca_file ? o->ca_file : "(system store)");
	return 0;
}

int ai_upload_file(const struct ai_upload_opts *o, int dirfd, const char *name, ai_err_t *err)
{
	struct url ub, us;
	char sig[300];
	snprintf(sig, sizeof(sig), "%s.minisig", name);
	if (url_parse(o->url, &ub, err) < 0)
		return -1;
	if (o->sig_url) {
		if (url_parse(o->sig_url, &us, err) < 0)
			return ai_err_wrap(err, "--upload-sig");
		if (url_is_dir(&us) && url_append(&us, sig, err) < 0)
			return -1;
	} else {
		us = ub;
		if (url_append(&us, url_is_dir(&ub) ? sig : ".minisig", err) < 0)
			return -1;
	}
	if (url_is_dir(&ub) && url_append(&ub, name, err) < 0)
		return -1;
	cleanup_ssl_ctx SSL_CTX *ctx = NULL;
	if ((ub.tls || us.tls) && tls_ctx(o, &ctx, err) < 0)
		return -1;
	if (put_file(o, &ub, ctx, dirfd, name, err) < 0)
		return ai_err_wrap(err, "upload to %s", ub.authority);
	if (put_file(o, &us, ctx, dirfd, sig, err) < 0)
		return ai_err_wrap(err, "upload of the signature to %s", us.authority);
	return 0;
}
