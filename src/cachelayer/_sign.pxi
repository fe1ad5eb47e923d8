# HMAC-SHA256 of signed frames: the binding of csrc/hmac256.c.  Included by _core.pyx.
#
# The C kernel hashes with the x86-64 SHA extensions when the CPU has them;
# without them the codec signs through cachelayer.codec.signing (hashlib,
# which uses whatever the platform's OpenSSL accelerates), also the twin's
# implementation.  Keys are prepared once per codec (_SignKeys) and wiped
# when it is freed.

from libc.stdint cimport uint8_t, uint32_t
from cpython.mem cimport PyMem_Malloc, PyMem_Free

cdef extern from "hmac256.h":
    enum:
        CL_SHA256_SIZE
    ctypedef struct cl_hmac256_key:
        uint32_t inner[8]
        uint32_t outer[8]
    int cl_hmac256_select(int allow_accelerated)
    void cl_hmac256_init(cl_hmac256_key *k, const uint8_t *key, size_t len)
    void cl_hmac256_clear(cl_hmac256_key *k)
    void cl_hmac256(const cl_hmac256_key *k, const uint8_t *a, size_t alen, const uint8_t *b,
                    size_t blen, uint8_t *out) nogil
    int cl_hmac256_equal(const uint8_t *x, const uint8_t *y, size_t n)

cdef bint _cx_SHA_ACCEL = cl_hmac256_select(1) == 1

cdef enum:
    _CX_SIGN_NOGIL = 65536   # payloads above this many bytes are hashed without the GIL


cdef class _SignKeys:
    """The signing keys of one codec, prepared for the C kernel (the first signs)."""

    cdef cl_hmac256_key *keys
    cdef Py_ssize_t n

    def __cinit__(self, tuple keys):
        cdef Py_ssize_t i
        cdef bytes k
        self.keys = <cl_hmac256_key *>PyMem_Malloc(sizeof(cl_hmac256_key) * max(1, len(keys)))
        if self.keys == NULL:
            raise MemoryError()
        self.n = 0
        for i in range(len(keys)):
            k = <bytes>keys[i]
            cl_hmac256_init(&self.keys[i], <const uint8_t *>PyBytes_AS_STRING(k),
                            <size_t>PyBytes_GET_SIZE(k))
            self.n = i + 1

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.keys != NULL:
            for i in range(self.n):
                cl_hmac256_clear(&self.keys[i])
            PyMem_Free(self.keys)
            self.keys = NULL

    def __reduce__(self):
        raise TypeError("signing keys cannot be pickled")

    cdef void sign(self, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                   uint8_t *out) noexcept:
        if blen > _CX_SIGN_NOGIL:
            with nogil:
                cl_hmac256(&self.keys[0], a, alen, b, blen, out)
        else:
            cl_hmac256(&self.keys[0], a, alen, b, blen, out)

    cdef bint verify(self, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     const uint8_t *tag) noexcept:
        cdef uint8_t mine[CL_SHA256_SIZE]
        cdef Py_ssize_t i
        for i in range(self.n):
            if blen > _CX_SIGN_NOGIL:
                with nogil:
                    cl_hmac256(&self.keys[i], a, alen, b, blen, mine)
            else:
                cl_hmac256(&self.keys[i], a, alen, b, blen, mine)
            if cl_hmac256_equal(mine, tag, CL_SHA256_SIZE):
                return True
        return False


cdef _SignKeys _cx_sign_keys(tuple keys):
    """The C kernel's keys, or None where it is not the faster way (no SHA extensions)."""
    if not keys or not _cx_SHA_ACCEL:
        return None
    return _SignKeys(keys)


def sha256_accelerated():
    """Whether the C kernel signs frames with the CPU's SHA extensions."""
    return bool(_cx_SHA_ACCEL)


def hmac_sha256(key, head, payload, accelerated=True):
    """HMAC-SHA256(*key*, *head* || *payload*) computed by the C kernel (for tests).

    *accelerated* False runs the portable C block function instead of the
    SHA extensions, so that tests can compare both with hashlib.
    """
    cdef bytes k = bytes(key), a = bytes(head), b = bytes(payload)
    cdef cl_hmac256_key ck
    cdef uint8_t out[CL_SHA256_SIZE]
    if not accelerated:  # CPUID is slow (a trap under virtualisation): only to switch
        cl_hmac256_select(0)
    try:
        cl_hmac256_init(&ck, <const uint8_t *>PyBytes_AS_STRING(k), <size_t>PyBytes_GET_SIZE(k))
        cl_hmac256(&ck, <const uint8_t *>PyBytes_AS_STRING(a), <size_t>PyBytes_GET_SIZE(a),
                   <const uint8_t *>PyBytes_AS_STRING(b), <size_t>PyBytes_GET_SIZE(b), out)
        cl_hmac256_clear(&ck)
    finally:
        if not accelerated:
            cl_hmac256_select(1)
    return PyBytes_FromStringAndSize(<char *>out, CL_SHA256_SIZE)
