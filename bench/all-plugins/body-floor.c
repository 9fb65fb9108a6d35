/* body-floor PORT PLAIN GZIP: the transfer floor of a scrape. A minimal HTTP/1.1 server on
 * 127.0.0.1:PORT that answers every request with the bytes of file PLAIN (or of GZIP, with
 * Content-Encoding: gzip, when the request accepts gzip), read into memory once, with a
 * Content-Length, in one write loop, then closes the connection. bench/all-plugins.sh scrapes
 * it with the same curl, next to the daemon's scrapes of the same body: what is left of a
 * daemon's scrape over this is the daemon's own work (rendering, assembling, framing). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "slurp.h"

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: body-floor PORT PLAIN GZIP\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a client that went away ends its connection, not the server */
    size_t len[2];
    char *body[2] = {slurp(argv[2], &len[0]), slurp(argv[3], &len[1])};
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 128)) {
        perror("bind");
        return 1;
    }
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        char req[8192];
        size_t got = 0;
        while (got < sizeof req - 1) {
            ssize_t r = read(c, req + got, sizeof req - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[got] = 0;
        int gz = strstr(req, "gzip") != NULL;
        char head[256];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n%s"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         gz ? "Content-Encoding: gzip\r\n" : "", len[gz]);
        if (write_all(c, head, (size_t)n) == 0)
            write_all(c, body[gz], len[gz]);
        close(c);
    }
}
