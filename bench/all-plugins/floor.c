/* floor SET N GAP_US T0LOG CMD: the spawn floor of bench/all-plugins.sh. N times: read
 * CLOCK_MONOTONIC, posix_spawn `sh -c CMD` in its own process group with the environment a umh
 * command gets (PATH, HOME, TERM, DRBD_NEW_PROMOTION_SCORE=<tag>), append "SET <tag> <t0>" to
 * T0LOG, reap it, pause GAP_US. What a minimal program takes to start the same command. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: floor SET N GAP_US T0LOG CMD\n");
        return 2;
    }
    const char *set = argv[1];
    int n = atoi(argv[2]);
    long gap_us = atol(argv[3]);
    int log = open(argv[4], O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (log < 0)
        return 1;
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    for (int i = 0; i < n; i++) {
        char tag[64], score[96];
        snprintf(tag, sizeof tag, "%s-%d", set, i);
        snprintf(score, sizeof score, "DRBD_NEW_PROMOTION_SCORE=%s", tag);
        char *env[] = {score, "HOME=/", "TERM=Linux", "PATH=/sbin:/usr/sbin:/bin:/usr/bin", NULL};
        char *args[] = {"sh", "-c", argv[5], NULL};
        pid_t pid;
        long long t0 = now_ns();
        if (posix_spawn(&pid, "/bin/sh", NULL, &attr, args, env) != 0)
            return 1;
        dprintf(log, "%s %s %lld\n", set, tag, t0);
        waitpid(pid, NULL, 0);
        struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
        nanosleep(&gap, NULL);
    }
    return 0;
}
