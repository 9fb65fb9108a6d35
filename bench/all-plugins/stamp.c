/* stamp LOG [TAG]: appends "TAG <CLOCK_MONOTONIC ns>" to LOG, reading the clock first thing.
 * TAG defaults to $DRBD_NEW_PROMOTION_SCORE (the umh probes vary the score to tell events apart).
 * The measured command of bench/all-plugins.sh: `sh -c 'STAMP LOG [TAG]'`, the same for the
 * daemon's umh rule, the promoter's start entry and the spawn floor. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (argc < 2)
        return 2;
    const char *tag = argc > 2 ? argv[2] : getenv("DRBD_NEW_PROMOTION_SCORE");
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s %lld\n", tag ? tag : "-",
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0 || write(fd, buf, (size_t)n) != n)
        return 1;
    return 0;
}
