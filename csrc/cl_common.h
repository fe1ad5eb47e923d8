/*
 * cl_common.h - shared macros for the cachelayer C core.
 *
 * The C core is plain C99 with no Python.h: callers pass opaque object
 * pointers, precomputed hashes and the current time in.  Nothing in csrc/
 * reads a clock, allocates Python objects or calls back into Python except
 * through the explicit callbacks documented where they are taken.
 *
 * Debug builds (-DCL_DEBUG) turn on CL_ASSERT and the structure-wide
 * consistency checks (cl_table_check and friends), which every mutating
 * operation runs on entry and exit.
 */
#ifndef CL_COMMON_H
#define CL_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define CL_LIKELY(x) __builtin_expect(!!(x), 1)
#define CL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CL_INLINE static inline __attribute__((always_inline))
#define CL_UNUSED __attribute__((unused))
#else
#define CL_LIKELY(x) (x)
#define CL_UNLIKELY(x) (x)
#define CL_INLINE static inline
#define CL_UNUSED
#endif

#ifdef CL_DEBUG
#include <stdio.h>
#include <stdlib.h>
#define CL_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "cachelayer: assertion failed: %s (%s:%d)\n",      \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)
#else
#define CL_ASSERT(cond) ((void)0)
#endif

/* Status codes shared by every csrc/ module. */
enum {
    CL_OK = 0,
    CL_NOMEM = -1,     /* allocation failed; the structure is unchanged */
    CL_RESTART = -2,   /* a callback mutated the structure: redo the call */
    CL_CALLBACK = -3,  /* a callback reported an error: propagate it */
    CL_TOO_BIG = -4    /* a size limit was exceeded; nothing changed */
};

#endif /* CL_COMMON_H */
