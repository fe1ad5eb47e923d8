/* clock.h - the L1's coarse monotonic clock (header only, pure C99).
 *
 * ~5 ns per read on Linux (CLOCK_MONOTONIC_COARSE through the vDSO), one
 * scheduler tick of resolution; never enters Python, so the table's deadline
 * checks may run anywhere.  Used by the LocalCache binding (_local.pxi).
 */
#ifndef CL_CLOCK_H
#define CL_CLOCK_H

#include <math.h>
#include <stdint.h>
#include <time.h>
#ifdef _WIN32
#include <windows.h>
#endif

/* Coarse monotonic clock in seconds: ~5 ns per read on Linux (vDSO),
 * resolution one scheduler tick.  Reading it never enters Python. */
static inline double cl_clock_resolution(void)
{
#if defined(CLOCK_MONOTONIC_COARSE)
    struct timespec ts;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) == 0)
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    return 0.01;
#elif defined(_WIN32)
    return 0.016;
#else
    return 0.001;
#endif
}

static inline double cl_clock_now(void)
{
#if defined(CLOCK_MONOTONIC_COARSE)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#elif defined(_WIN32)
    return (double)GetTickCount64() * 1e-3;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#endif
}

/* The same clock as cl_clock_now() + resolution, as whole milliseconds
 * (floor), without floating point: what read paths compare deadlines to. */
static inline int64_t cl_clock_upper_ms(int64_t resolution_ms)
{
#if defined(CLOCK_MONOTONIC_COARSE)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + resolution_ms;
#else
    return (int64_t)floor((cl_clock_now() * 1000.0)) + resolution_ms;
#endif
}

#endif /* CL_CLOCK_H */
