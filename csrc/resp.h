/*
 * resp.h - RESP2 request encoding into a growable byte buffer.
 *
 * A request is an array of bulk strings; a batch is requests written back to
 * back into one buffer, sent in one write:
 *
 *   array header   "*" <n> "\r\n"
 *   bulk string    "$" <len> "\r\n" <len bytes> "\r\n"
 *   integer        as a bulk string of its decimal digits ("$2\r\n42\r\n"),
 *                  which is how clients send numeric arguments
 *
 * so `SET k v PX 5000` is
 *   "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nPX\r\n$4\r\n5000\r\n".
 *
 * Buffer contract
 *   The caller owns the cl_buf; the encoder never keeps pointers to caller
 *   data (every argument is copied).  `limit` caps the buffer's length (the
 *   binding passes the largest size a Python bytes object can have).
 *
 * Invariants (cl_buf_check verifies them in CL_DEBUG builds)
 *   B1 data == NULL iff cap == 0.
 *   B2 len <= cap and len <= limit.
 *   B3 an append either writes everything it was asked to write or returns
 *      an error status with len unchanged: a failed call never leaves half an
 *      argument in the buffer.  cl_resp_command and cl_resp_set reserve the
 *      whole command at once, so they are atomic too; a caller that builds a
 *      command from several appends rolls back with cl_buf_truncate(b,
 *      len_before) on failure.
 *   B4 every size computation is checked for size_t overflow before it is
 *      used; an overflow or a length past `limit` is CL_TOO_BIG, an
 *      allocation failure CL_NOMEM (the buffer keeps its previous contents).
 */
#ifndef CL_RESP_H
#define CL_RESP_H

#include "cl_common.h"

typedef struct cl_buf {
    char *data;   /* NULL until the first allocation */
    size_t len;   /* bytes written */
    size_t cap;   /* bytes allocated */
    size_t limit; /* len never exceeds this */
} cl_buf;

/* Longest decimal rendering of a size_t or an int64_t, sign included. */
#define CL_RESP_MAX_DIGITS 20u

/* Start an empty buffer with room for `initial` bytes (0 allocates lazily).
 * Returns CL_OK, CL_NOMEM (buffer left empty and valid) or CL_TOO_BIG when
 * initial > limit. */
int cl_buf_init(cl_buf *b, size_t initial, size_t limit);
/* Release the storage; the buffer is empty and valid afterwards. */
void cl_buf_free(cl_buf *b);
/* Make room for `extra` more bytes (growing geometrically). */
int cl_buf_reserve(cl_buf *b, size_t extra);
/* Append n raw bytes. */
int cl_buf_append(cl_buf *b, const void *p, size_t n);
/* Drop everything after the first `len` bytes (len <= b->len). */
void cl_buf_truncate(cl_buf *b, size_t len);

/* Bytes a bulk string of n bytes occupies once encoded; SIZE_MAX on
 * overflow. */
size_t cl_resp_bulk_size(size_t n);

/* "*<n>\r\n" */
int cl_resp_array(cl_buf *b, size_t n);
/* "$<n>\r\n<p[0..n)>\r\n"; p may be NULL when n == 0. */
int cl_resp_bulk(cl_buf *b, const void *p, size_t n);
/* An integer as a bulk string of its decimal digits. */
int cl_resp_bulk_i64(cl_buf *b, int64_t v);

/* A whole command of argc >= 1 bulk strings. */
int cl_resp_command(cl_buf *b, size_t argc, const char *const *argv, const size_t *argvlen);
/* "SET key value [PX px_ms] [NX]": px_ms > 0 adds PX, 0 means none. */
int cl_resp_set(cl_buf *b, const void *key, size_t klen, const void *val, size_t vlen,
                int64_t px_ms, int nx);

/* Debug: abort if an invariant B1-B2 does not hold (no-op without CL_DEBUG). */
void cl_buf_check(const cl_buf *b);

#endif /* CL_RESP_H */
