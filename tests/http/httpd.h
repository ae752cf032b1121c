/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP/1.1 server for the download tests: 127.0.0.1, an ephemeral
 * port, a thread per connection, canned responses chosen by the path.
 *
 *   /body/N          200, N bytes of it_fill(seed N); "Range: bytes=K-"
 *                    gives 206 with Content-Range, K >= N a 416 that
 *                    tells the length; with ETag "bN" and Last-Modified
 *                    TH_BODY_DATE, and an If-Range that is neither makes
 *                    the range ignored (200)
 *   /norange/N       200 and the whole body, whatever the Range
 *   /nolen/N         200 without Content-Length; the body ends at close
 *   /slow/N/MS       200, N bytes in 4 KiB pieces MS ms apart
 *   /short/N         Content-Length N, N/2 bytes, then close
 *   /stall           Content-Length 1000, 100 bytes, then nothing
 *   /status/CODE     that status with a small body
 *   /retry           503 with "Retry-After: 7"
 *   /redir/K         302 to /redir/K-1; /redir/0 to /body/1000
 *   /loop            302 to itself
 *
 * A request for "http://HOST:PORT/path" (the absolute form a client sends
 * to a proxy) is answered as one for /path, whatever HOST and PORT: the
 * server is also a proxy that always finds itself.
 *
 * Connections are kept alive after complete responses.
 */
#ifndef RINGPOOL_TEST_HTTPD_H
#define RINGPOOL_TEST_HTTPD_H

#include <stdint.h>

/* The Last-Modified of every /body/N. */
#define TH_BODY_DATE "Sun, 06 Nov 1994 08:49:37 GMT"

struct th_server;

/* Starts a server; its port goes to `*port`.  Returns 0 or -errno. */
int th_start(struct th_server **out, uint16_t *port);
/* Stops it: every connection is closed and every thread joined. */
void th_stop(struct th_server *s);
/* Requests answered so far. */
unsigned th_requests(struct th_server *s);
/* Those of them made in the absolute form, as to a proxy. */
unsigned th_proxied(struct th_server *s);

#endif /* RINGPOOL_TEST_HTTPD_H */
