/* A wrong wall clock for one process, for the lab's skewed agent (tests/test_agent_lab.py):
 * LD_PRELOAD=clockshift.so CLOCKSHIFT_SECONDS=300 shifts what CLOCK_REALTIME, gettimeofday() and
 * time() return, as a box whose clock drifted would; the monotonic and boot clocks are left alone,
 * so the process's timed waits and sleeps run as they should. libfaketime would do this, but its
 * clock_nanosleep() breaks Python 3.11's sleeps when monotonic is excluded (wolfcw/libfaketime#426). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long shift(void) {
    static long seconds = -1;
    if (seconds == -1) {
        const char *text = getenv("CLOCKSHIFT_SECONDS");
        seconds = text ? atol(text) : 0;
    }
    return seconds;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += shift();
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    (void)tz;
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
