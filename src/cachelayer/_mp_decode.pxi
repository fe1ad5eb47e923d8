# MessagePack decoder of the msgpack serializer.  Included by _core.pyx
# (before _codec.pxi, which calls cx_mp_unpack).
#
# Invariants:
# - Bounded: a container pays the object budget (max_decoded_objects) for
#   all the elements it announces (two per map entry) when its header is
#   read, before it is allocated; the root of each document pays for itself.
#   Every element announced and not read yet needs at least one byte, so a
#   header announcing more than the bytes left can hold, together with what
#   the open containers still expect, is malformed; one announcing more than
#   the objects left is over the bound.  Either is refused before anything
#   is allocated: the slots preallocated for all the containers open at once
#   never outnumber the bytes left nor the budget, however deep they nest.
# - Iterative within a document (an explicit stack, at most CX_MP_MAX_DEPTH
#   open containers); the documents inside nested extensions (tuple, set,
#   frozenset, timedelta, complex) recurse, at most CX_MP_MAX_NEST deep.
# - Python code runs only in the extension hooks, in dict insertion (key
#   __hash__/__eq__) and in exception constructors.  While it runs, every
#   object reachable from Python is consistent: a list is allocated for its
#   declared length but its size counts only the items placed so far (no
#   NULL slot is ever visible, e.g. through gc.get_objects() in another
#   thread), and before each item is placed the list is checked to be as
#   the decoder left it (RuntimeError otherwise).
# - One walk, two modes: build (objects) and dry (structure and counts
#   only, no Python objects).  A value's outcome is what the dry walk says
#   first: a content error of the build (bad UTF-8, a hook that raised)
#   yields to a structural fault or the object bound anywhere in the value.
#   The pure-Python twin (cachelayer.codec._decode_limits) defines the same.
# - The key cache and every walk run under the GIL only.

from libc.stdint cimport uint32_t

cdef extern from *:
    """
    /* Accepts exactly what msgpack.unpackb(data, raw=False,
     * strict_map_key=False, ext_hook=...) accepts and builds equal objects:
     * the twin decodes with that call and the test suite compares the two on
     * valid and random input.  Map keys that are short ASCII strings come
     * from a small cache of str objects (their hash computed once), which is
     * most of the speed-up on dict-shaped values.  Errors: ValueError for a
     * malformed document, the budget's exception class past the object
     * bound, else what Python raised; NULL is returned. */
    #define CX_MP_MAX_DEPTH 1024
    #define CX_MP_MAX_NEST 32
    #define CX_MP_INLINE 32
    #define CX_KEY_SLOTS 1024
    #define CX_KEY_MAXLEN 64

    enum { CX_MP_OK = 0, CX_MP_MALFORMED = 1, CX_MP_LIMIT = 2, CX_MP_CONTENT = 3,
           CX_MP_NOMEM = 4 };

    typedef struct {
        PyObject *obj;      /* build: the container (a list: untracked until full) */
        PyObject *key;      /* build: a map key waiting for its value */
        Py_ssize_t n, i;    /* items in the container (two per map entry), items read */
        int map;
    } cx_mp_frame;

    typedef struct {
        PyObject *ext_hook;   /* (code, bytes) -> value, codes not in nest_mask */
        PyObject *finish;     /* (code, list) -> value, codes in nest_mask */
        PyObject *timestamp;  /* Timestamp.from_bytes, code -1 */
        PyObject *too_many;   /* exception class raised past the object bound */
        uint32_t nest_mask;   /* bit c: the payload of extension code c is a document */
        Py_ssize_t left;      /* objects that may still be decoded */
        Py_ssize_t limit;     /* the bound (for messages) */
        Py_ssize_t *weight;   /* NULL, or where each built object's _sizeof.pxi cost is
                                 added (cx_sz_node: the value's L1 weight, no second walk) */
    } cx_mp_ctx;

    /* Adds what object o costs (cx_sz_node, its own size) to the weight being summed;
     * the exact types the decoder builds first, without cx_sz_node's subclass checks. */
    static void cx_mp_weigh(cx_mp_ctx *c, PyObject *o)
    {
        int kind = -1;
        Py_ssize_t n, own;
        PyTypeObject *t = Py_TYPE(o);
        if (c->weight == NULL)
            return;
        if (t == &PyUnicode_Type)
            own = (PyUnicode_IS_ASCII(o) ? (Py_ssize_t)sizeof(PyASCIIObject)
                                         : (Py_ssize_t)sizeof(PyCompactUnicodeObject)) +
                  (PyUnicode_GET_LENGTH(o) + 1) * (Py_ssize_t)PyUnicode_KIND(o);
        else if (t == &PyFloat_Type)
            own = t->tp_basicsize;
        else if (t == &PyList_Type)
            own = CX_SZ_GC + t->tp_basicsize +
                  ((PyListObject *)o)->allocated * (Py_ssize_t)sizeof(PyObject *);
        else if (t == &PyDict_Type)
            own = CX_SZ_GC + t->tp_basicsize + cx_sz_dict_table(PyDict_GET_SIZE(o));
        else
            own = cx_sz_node(o, &kind, &n);
        *c->weight = *c->weight <= PY_SSIZE_T_MAX - own ? *c->weight + own : PY_SSIZE_T_MAX;
    }

    static PyObject *cx_key_cache[CX_KEY_SLOTS];

    static PyObject *cx_mp_str(const unsigned char *p, Py_ssize_t n)
    {
        Py_ssize_t i;
        unsigned char acc = 0;
        PyObject *s;
        for (i = 0; i < n; i++)
            acc |= p[i];
        if (acc < 0x80) {
            s = PyUnicode_New(n, 127);
            if (s != NULL && n > 0)
                memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
            return s;
        }
        return PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    }

    static PyObject *cx_mp_key(const unsigned char *p, Py_ssize_t n)
    {
        uint32_t h = 2166136261u;
        Py_ssize_t i;
        PyObject *s, **slot;
        if (n > CX_KEY_MAXLEN)
            return cx_mp_str(p, n);
        for (i = 0; i < n; i++)
            h = (h ^ p[i]) * 16777619u;
        slot = &cx_key_cache[h & (CX_KEY_SLOTS - 1)];
        s = *slot;
        if (s != NULL && PyUnicode_GET_LENGTH(s) == n &&
            (n == 0 || memcmp(PyUnicode_1BYTE_DATA(s), p, (size_t)n) == 0)) {
            Py_INCREF(s);
            return s;
        }
        s = cx_mp_str(p, n);
        if (s == NULL || !PyUnicode_IS_ASCII(s))
            return s;
        if (PyObject_Hash(s) == -1) {
            Py_DECREF(s);
            return NULL;
        }
        Py_INCREF(s);
        Py_XSETREF(*slot, s);
        return s;
    }

    static uint64_t cx_be(const unsigned char *p, int n)
    {
        uint64_t v = 0;
        int i;
        for (i = 0; i < n; i++)
            v = (v << 8) | p[i];
        return v;
    }

    /* Walks one document p[0:len].  build: *out receives the value (a new
     * reference) on CX_MP_OK; dry (build == 0): out is unused and no Python
     * object is made.  Any other result has an exception set. */
    static int cx_mp_walk(cx_mp_ctx *c, const unsigned char *p, Py_ssize_t len, int level,
                          int build, PyObject **out)
    {
        cx_mp_frame inline_stack[CX_MP_INLINE];
        cx_mp_frame *stack = inline_stack, *f;
        Py_ssize_t cap = CX_MP_INLINE, top = 0, cnt = 0, k;
        Py_ssize_t need = 0; /* items announced and not read yet: each needs a byte */
        const unsigned char *end = p + len;
        PyObject *v = NULL;
        const char *why = "msgpack: incomplete input";
        unsigned int b;
        int kind = 0; /* 0 array, 1 map */
        int st = CX_MP_OK;
        int8_t ext_type;

        for (;;) {
            if (p >= end)
                goto incomplete;
            b = *p++;
            if (top == 0) { /* the root: every other item was paid for by its container */
                if (c->left <= 0)
                    goto too_many;
                c->left--;
            } else {
                need--;
            }
            if (b <= 0x7F) {
                if (build)
                    v = PyLong_FromLong((long)b);
            } else if (b >= 0xE0) {
                if (build)
                    v = PyLong_FromLong((long)(int8_t)b);
            } else if (b <= 0x8F) {
                cnt = b & 0x0F;
                kind = 1;
                goto container;
            } else if (b <= 0x9F) {
                cnt = b & 0x0F;
                kind = 0;
                goto container;
            } else if (b <= 0xBF) {
                cnt = b & 0x1F;
                goto str;
            } else {
                switch (b) {
                case 0xC0: case 0xC2: case 0xC3:
                    if (build) {
                        v = b == 0xC0 ? Py_None : b == 0xC2 ? Py_False : Py_True;
                        Py_INCREF(v);
                    }
                    break;
                case 0xC4: case 0xC5: case 0xC6:
                    k = b == 0xC4 ? 1 : b == 0xC5 ? 2 : 4;
                    if (end - p < k)
                        goto incomplete;
                    cnt = (Py_ssize_t)cx_be(p, (int)k);
                    p += k;
                    if (cnt < 0 || cnt > end - p)
                        goto incomplete;
                    if (build)
                        v = PyBytes_FromStringAndSize((const char *)p, cnt);
                    p += cnt;
                    break;
                case 0xC7: case 0xC8: case 0xC9:
                    k = b == 0xC7 ? 1 : b == 0xC8 ? 2 : 4;
                    if (end - p < k)
                        goto incomplete;
                    cnt = (Py_ssize_t)cx_be(p, (int)k);
                    p += k;
                    goto ext;
                case 0xCA: {
                    uint32_t bits;
                    float fl;
                    if (end - p < 4)
                        goto incomplete;
                    bits = (uint32_t)cx_be(p, 4);
                    memcpy(&fl, &bits, 4);
                    p += 4;
                    if (build)
                        v = PyFloat_FromDouble((double)fl);
                    break;
                }
                case 0xCB: {
                    uint64_t bits;
                    double d;
                    if (end - p < 8)
                        goto incomplete;
                    bits = cx_be(p, 8);
                    memcpy(&d, &bits, 8);
                    p += 8;
                    if (build)
                        v = PyFloat_FromDouble(d);
                    break;
                }
                case 0xCC: case 0xCD: case 0xCE: case 0xCF:
                    k = (Py_ssize_t)1 << (b - 0xCC);
                    if (end - p < k)
                        goto incomplete;
                    if (build)
                        v = PyLong_FromUnsignedLongLong((unsigned long long)cx_be(p, (int)k));
                    p += k;
                    break;
                case 0xD0: case 0xD1: case 0xD2: case 0xD3: {
                    uint64_t u;
                    long long s;
                    k = (Py_ssize_t)1 << (b - 0xD0);
                    if (end - p < k)
                        goto incomplete;
                    u = cx_be(p, (int)k);
                    p += k;
                    if (k == 1) s = (int8_t)u;
                    else if (k == 2) s = (int16_t)u;
                    else if (k == 4) s = (int32_t)u;
                    else s = (int64_t)u;
                    if (build)
                        v = PyLong_FromLongLong(s);
                    break;
                }
                case 0xD4: case 0xD5: case 0xD6: case 0xD7: case 0xD8:
                    cnt = (Py_ssize_t)1 << (b - 0xD4);
                    goto ext;
                case 0xD9: case 0xDA: case 0xDB:
                    k = b == 0xD9 ? 1 : b == 0xDA ? 2 : 4;
                    if (end - p < k)
                        goto incomplete;
                    cnt = (Py_ssize_t)cx_be(p, (int)k);
                    p += k;
                    goto str;
                case 0xDC: case 0xDD:
                    k = b == 0xDC ? 2 : 4;
                    if (end - p < k)
                        goto incomplete;
                    cnt = (Py_ssize_t)cx_be(p, (int)k);
                    p += k;
                    kind = 0;
                    goto container;
                case 0xDE: case 0xDF:
                    k = b == 0xDE ? 2 : 4;
                    if (end - p < k)
                        goto incomplete;
                    cnt = (Py_ssize_t)cx_be(p, (int)k);
                    p += k;
                    kind = 1;
                    goto container;
                default: /* 0xC1 */
                    why = "msgpack: reserved byte 0xc1";
                    goto malformed;
                }
            }
            goto place;

        str:
            if (cnt < 0 || cnt > end - p)
                goto incomplete;
            if (build) {
                if (top > 0 && stack[top - 1].map && (stack[top - 1].i & 1) == 0)
                    v = cx_mp_key(p, cnt);
                else
                    v = cx_mp_str(p, cnt);
            }
            p += cnt;
            goto place;

        ext:
            if (end - p < 1)
                goto incomplete;
            ext_type = (int8_t)*p++;
            if (cnt < 0 || cnt > end - p)
                goto incomplete;
            if (ext_type >= 0 && ext_type < 32 && ((c->nest_mask >> ext_type) & 1u)) {
                PyObject *inner = NULL;
                if (level >= CX_MP_MAX_NEST) {
                    why = "msgpack: extension values nested deeper than 32";
                    goto malformed;
                }
                if (need > (end - p) - cnt)
                    goto incomplete; /* the items after it cannot fit */
                st = cx_mp_walk(c, p, cnt, level + 1, build, &inner);
                p += cnt;
                if (st != CX_MP_OK)
                    goto failed;
                if (build) {
                    if (!PyList_CheckExact(inner)) {
                        Py_DECREF(inner);
                        PyErr_SetString(PyExc_ValueError, "extension payload is not an array");
                        goto content;
                    }
                    v = PyObject_CallFunction(c->finish, "iO", (int)ext_type, inner);
                    Py_DECREF(inner);
                }
                goto place;
            }
            if (build) {
                PyObject *data = PyBytes_FromStringAndSize((const char *)p, cnt);
                if (data == NULL)
                    goto content;
                if (ext_type == -1)
                    v = PyObject_CallOneArg(c->timestamp, data);
                else
                    v = PyObject_CallFunction(c->ext_hook, "iO", (int)ext_type, data);
                Py_DECREF(data);
            }
            p += cnt;
            goto place;

        container:
            if (top >= CX_MP_MAX_DEPTH) {
                why = "msgpack: nesting deeper than 1024";
                goto malformed;
            }
            /* every item announced needs a byte: nothing is allocated for more */
            if (cnt < 0 || cnt > end - p || (kind ? 2 * cnt : cnt) > (end - p) - need)
                goto incomplete;
            need += kind ? 2 * cnt : cnt;
            if (cnt > (kind ? c->left / 2 : c->left))
                goto too_many;
            c->left -= kind ? 2 * cnt : cnt; /* paid before anything is allocated */
            if (build) {
                v = kind ? PyDict_New() : PyList_New(cnt);
                if (v == NULL)
                    goto content;
                if (!kind)
                    Py_SET_SIZE(v, 0); /* grows as it fills: never a NULL slot */
            }
            if (cnt == 0)
                goto place;
            if (top == cap) {
                cx_mp_frame *grown;
                Py_ssize_t ncap = cap * 4 > CX_MP_MAX_DEPTH ? CX_MP_MAX_DEPTH : cap * 4;
                grown = (cx_mp_frame *)PyMem_Malloc((size_t)ncap * sizeof(cx_mp_frame));
                if (grown == NULL)
                    goto nomem;
                memcpy(grown, stack, (size_t)top * sizeof(cx_mp_frame));
                if (stack != inline_stack)
                    PyMem_Free(stack);
                stack = grown;
                cap = ncap;
            }
            f = &stack[top++];
            f->obj = v;
            f->key = NULL;
            f->n = kind ? 2 * cnt : cnt;
            f->i = 0;
            f->map = kind;
            v = NULL;
            continue;

        place:
            if (build && v == NULL)
                goto content;
            if (build && c->weight != NULL)
                cx_mp_weigh(c, v); /* a leaf, an empty container, an extension's value */
            for (;;) {
                if (top == 0) {
                    if (p != end) {
                        why = "msgpack: extra data after the value";
                        goto malformed;
                    }
                    if (stack != inline_stack)
                        PyMem_Free(stack);
                    if (build)
                        *out = v;
                    return CX_MP_OK;
                }
                f = &stack[top - 1];
                if (build) {
                    if (!f->map) {
                        if (Py_SIZE(f->obj) != f->i ||
                            ((PyListObject *)f->obj)->allocated < f->n) {
                            /* changed by Python code through gc.get_objects() */
                            Py_DECREF(v);
                            v = NULL;
                            PyErr_SetString(PyExc_RuntimeError, "list changed while decoding");
                            goto content;
                        }
                        PyList_SET_ITEM(f->obj, f->i, v);
                        Py_SET_SIZE(f->obj, f->i + 1);
                    } else if ((f->i & 1) == 0) {
                        f->key = v;
                    } else {
                        int r = PyDict_SetItem(f->obj, f->key, v);
                        Py_DECREF(v);
                        Py_CLEAR(f->key);
                        if (r < 0) {
                            v = NULL;
                            goto content;
                        }
                    }
                    v = NULL;
                }
                if (++f->i < f->n)
                    break;
                v = f->obj;
                f->obj = NULL;
                top--;
                if (build && c->weight != NULL)
                    cx_mp_weigh(c, v); /* a container, now complete */
            }
        }

    too_many:
        st = CX_MP_LIMIT;
        PyErr_Format(c->too_many, "msgpack: more than %zd objects", c->limit);
        goto failed;
    incomplete:
        why = "msgpack: incomplete input";
    malformed:
        st = CX_MP_MALFORMED;
        PyErr_SetString(PyExc_ValueError, why);
        goto failed;
    nomem:
        st = CX_MP_NOMEM;
        PyErr_NoMemory();
        goto failed;
    content:
        st = CX_MP_CONTENT;
    failed:
        if (build) {
            Py_XDECREF(v);
            while (top > 0) {
                f = &stack[--top];
                Py_XDECREF(f->key);
                Py_XDECREF(f->obj);
            }
        }
        if (stack != inline_stack)
            PyMem_Free(stack);
        return st;
    }

    /* Decodes one document building at most `limit` objects. */
    static PyObject *cx_mp_unpack(const unsigned char *p, Py_ssize_t len, PyObject *ext_hook,
                                  PyObject *finish, PyObject *timestamp, PyObject *too_many,
                                  uint32_t nest_mask, Py_ssize_t limit, Py_ssize_t *weight)
    {
        cx_mp_ctx c;
        PyObject *v = NULL, *et, *ev, *tb;
        int st, dry;
        c.ext_hook = ext_hook;
        c.finish = finish;
        c.timestamp = timestamp;
        c.too_many = too_many;
        c.nest_mask = nest_mask;
        c.left = limit;
        c.limit = limit;
        c.weight = weight;
        st = cx_mp_walk(&c, p, len, 0, 1, &v);
        if (st == CX_MP_OK)
            return v;
        if (st != CX_MP_CONTENT)
            return NULL;
        /* a content error yields to a fault or the bound anywhere in the value */
        PyErr_Fetch(&et, &ev, &tb);
        c.left = limit;
        c.weight = NULL;
        dry = cx_mp_walk(&c, p, len, 0, 0, NULL);
        if (dry == CX_MP_OK) {
            PyErr_Restore(et, ev, tb);
        } else {
            Py_XDECREF(et);
            Py_XDECREF(ev);
            Py_XDECREF(tb);
        }
        return NULL;
    }
    """
    object cx_mp_unpack(const unsigned char *p, Py_ssize_t len, object ext_hook, object finish,
                        object timestamp, object too_many, uint32_t nest_mask, Py_ssize_t limit,
                        Py_ssize_t *weight)
