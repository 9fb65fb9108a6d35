/* feeder: the stand-in `drbdsetup events2` of bench/all-plugins.sh. Prints $LAT_STREAM, then
 * follows commands, one a line, from the FIFO $LAT_CTL, appending to $LAT_LOG:
 *   send FILE TAG            "send TAG <t0>", then FILE to stdout
 *   probe KINDS SET N GAP_US RATE MAX
 *                            N rounds of one probe of each of KINDS (comma-separated), GAP_US
 *                            apart: umh (lat-umh's promotion score changes: tag = the new
 *                            score), promo (lat-pK may promote: tag = lat-pK; at most MAX) or
 *                            floor (see probe()), each logged "KIND-SET <tag> <t0>", t0 read
 *                            right before the line is written or the shell spawned; meanwhile
 *                            RATE filler lines per second ($LAT_FILLER, cycled) in batches
 *                            every millisecond. Interleaved, so the floor and the daemon are
 *                            measured under the same conditions.
 *   filler SECONDS RATE      filler lines only (load for the spawn floor)
 *   end                      exit (the stream ends)
 * and "done" after each command, in $LAT_LOG and (if set) in the FIFO $LAT_DONE, where the
 * bench waits for it without polling (a poll every 20 ms started a grep and a sleep, load that
 * delayed the daemon's threads during the probes). Never buffers a probe line behind filler. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slurp.h"

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void out(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0)
            exit(0); /* the daemon closed the pipe */
        p += w;
        n -= (size_t)w;
    }
}

/* Copies the file at `path` to stdout as it reads it, as drbdsetup prints a dump as the kernel
 * hands it over (reading all of a 16 MB dump first delayed its first line by 9 ms). */
static void stream_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    static char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        out(buf, got);
    fclose(f);
}

static char *filler;
static size_t filler_len, filler_pos;
static FILE *logf, *donef;

/* Says a command is finished. */
static void done(void) {
    fprintf(logf, "done\n");
    if (donef) {
        fputs("done\n", donef);
        fflush(donef);
    }
}

/* Writes `lines` whole lines of filler, cycling. */
static void fill(long lines) {
    if (!filler_len)
        return;
    size_t start = filler_pos;
    while (lines-- > 0) {
        char *nl = memchr(filler + filler_pos, '\n', filler_len - filler_pos);
        filler_pos = nl ? (size_t)(nl - filler) + 1 : filler_len;
        if (filler_pos >= filler_len) {
            out(filler + start, filler_pos - start);
            filler_pos = start = 0;
        }
    }
    out(filler + start, filler_pos - start);
}

static void sleep_until(long long t) {
    struct timespec ts = {t / 1000000000LL, t % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

/* Until `until` (ns): filler at `rate` lines/s, in 1 ms batches. */
static void load_until(long long until, long rate) {
    if (rate <= 0) {
        sleep_until(until);
        return;
    }
    static long long next_batch;
    static double owed;
    long long now = now_ns();
    if (next_batch < now - 5000000LL)
        next_batch = now;
    while (next_batch < until) {
        sleep_until(next_batch);
        owed += rate / 1000.0;
        long n = (long)owed;
        owed -= n;
        fill(n);
        next_batch += 1000000LL;
    }
    sleep_until(until);
}

static long score = 20000, promo = 0, floors = 0;
static const char *floor_cmd;

/* One probe of `kind`, logged "<kind>-<set> <tag> <t0>": umh and promo write an event line;
 * floor posix_spawns `sh -c $LAT_FLOOR_CMD` itself, as a minimal program does (stdio on
 * /dev/null, own process group, the environment a umh command gets), and does not wait. */
static void probe(const char *kind, const char *set) {
    char line[512], tag[64];
    int len = 0;
    long long t0;
    if (strcmp(kind, "floor") == 0) {
        snprintf(tag, sizeof tag, "floor-%ld", floors++);
        char score_env[96];
        snprintf(score_env, sizeof score_env, "DRBD_NEW_PROMOTION_SCORE=%s", tag);
        char *env[] = {score_env, "HOME=/", "TERM=Linux", "PATH=/sbin:/usr/sbin:/bin:/usr/bin",
                       NULL};
        char *args[] = {"sh", "-c", (char *)floor_cmd, NULL};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
        pid_t pid;
        t0 = now_ns();
        if (posix_spawn(&pid, "/bin/sh", &fa, &attr, args, env) != 0)
            perror("feeder: posix_spawn");
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
    } else {
        if (strcmp(kind, "umh") == 0) {
            score++;
            snprintf(tag, sizeof tag, "%ld", score);
            len = snprintf(line, sizeof line,
                           "change resource name:lat-umh role:Secondary suspended:no "
                           "force-io-failures:no write-ordering:flush may_promote:no "
                           "promotion_score:%ld\n", score);
        } else {
            snprintf(tag, sizeof tag, "lat-p%ld", promo++);
            len = snprintf(line, sizeof line,
                           "change resource name:%s role:Secondary suspended:no "
                           "force-io-failures:no write-ordering:flush may_promote:yes "
                           "promotion_score:10103\n", tag);
        }
        t0 = now_ns();
        out(line, (size_t)len);
    }
    fprintf(logf, "%s-%s %s %lld\n", kind, set, tag, t0);
}

int main(void) {
    const char *stream = getenv("LAT_STREAM"), *ctl = getenv("LAT_CTL");
    const char *logpath = getenv("LAT_LOG"), *fillpath = getenv("LAT_FILLER");
    if (!stream || !ctl || !logpath) {
        fprintf(stderr, "feeder: LAT_STREAM, LAT_CTL and LAT_LOG must be set\n");
        return 2;
    }
    logf = fopen(logpath, "a");
    setvbuf(logf, NULL, _IOLBF, 0);
    size_t n;
    stream_file(stream);
    if (!*ctl)
        return 0; /* no commands: the stream ends after the file */
    if (fillpath && *fillpath)
        filler = slurp(fillpath, &filler_len);
    FILE *c = fopen(ctl, "r");
    if (!c) {
        perror(ctl);
        return 1;
    }
    const char *donepath = getenv("LAT_DONE");
    if (donepath && *donepath && !(donef = fopen(donepath, "w"))) {
        perror(donepath);
        return 1;
    }
    floor_cmd = getenv("LAT_FLOOR_CMD");
    if (!floor_cmd)
        floor_cmd = "true";
    char cmd[4096];
    while (fgets(cmd, sizeof cmd, c)) {
        char a[1024], b[1024];
        long n1, n2, n3, n4;
        double secs;
        char set[64];
        if (sscanf(cmd, "send %1023s %1023s", a, b) == 2) {
            char *body = slurp(a, &n);
            fprintf(logf, "send %s %lld\n", b, now_ns());
            out(body, n);
            free(body);
        } else if (sscanf(cmd, "probe %1023s %63s %ld %ld %ld %ld", a, set, &n1, &n2, &n3,
                          &n4) == 6) {
            long long next = now_ns();
            long promos = 0;
            for (long i = 0; i < n1; i++) {
                char kinds[1024], *save = NULL;
                snprintf(kinds, sizeof kinds, "%s", a);
                for (char *k = strtok_r(kinds, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
                    if (strcmp(k, "promo") == 0 && promos++ >= n4)
                        continue;
                    probe(k, set);
                    next += n2 * 1000LL;
                    load_until(next, n3);
                    while (waitpid(-1, NULL, WNOHANG) > 0) {
                    }
                }
            }
        } else if (sscanf(cmd, "filler %lf %ld", &secs, &n1) == 2) {
            load_until(now_ns() + (long long)(secs * 1e9), n1);
        } else if (strncmp(cmd, "end", 3) == 0) {
            done();
            return 0;
        } else {
            fprintf(stderr, "feeder: unknown command: %s", cmd);
        }
        done();
    }
    return 0;
}
