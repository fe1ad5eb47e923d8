# MessagePack encoder in C for the msgpack serializer's hot path (cx_mp_packb),
# which can also add up the packed value's L1 weight.  Included by _core.pyx
# after _sizeof.pxi (whose cost rules it applies) and before _codec.pxi (its
# only user, with msgpack_pack).
#
# Invariants: the output buffer is owned by the call (a stack buffer that
# moves to the heap when it grows) and freed on every path; Python code runs
# only in the default hook, and a list or dict changed by it raises
# RuntimeError instead of being read past its end; nesting is bounded by
# CX_PACK_LIMIT.

cdef extern from *:
    """
    /* MessagePack encoder for the msgpack serializer's hot path.
     *
     * Writes exactly the bytes msgpack.Packer(default=hook, strict_types=True,
     * use_bin_type=True, datetime=False) writes (the twin packs with that
     * Packer; the tests compare the two): exact types only (subclasses go to
     * the default hook, once per object), the smallest integer and length
     * encodings, float64, ExtType and Timestamp as extensions, at most
     * CX_PACK_LIMIT levels of nesting ("recursion limit exceeded.").  Python
     * code runs only in the default hook; containers changed by it raise
     * RuntimeError.  The output grows from a 1 KiB stack buffer.
     *
     * With a non-NULL `weight` the walk also adds up the decoded-size
     * estimate of o (_sizeof.pxi's rules, every object visited: equal to
     * cx_estimate_size(o, PY_SSIZE_T_MAX)), so a value written through to
     * the L1 is weighed without a second walk: exact builtin scalars, lists
     * and dicts are costed as they are packed; any other object (tuple, set,
     * subclass, an object the default hook turns into something else) by
     * cx_estimate_size of that object, and what the hook returns is not
     * counted. */
    #define CX_PACK_LIMIT 1024
    #define CX_WB_INLINE 1024

    typedef struct {
        char *p;
        Py_ssize_t len, cap;
        char *heap;
    } cx_wb;

    static int cx_wb_grow(cx_wb *w, Py_ssize_t need)
    {
        Py_ssize_t cap = w->cap;
        char *n;
        while (cap - w->len < need) {
            if (cap > PY_SSIZE_T_MAX / 2) {
                PyErr_NoMemory();
                return -1;
            }
            cap *= 2;
        }
        n = (char *)PyMem_Malloc((size_t)cap);
        if (n == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(n, w->p, (size_t)w->len);
        PyMem_Free(w->heap);
        w->heap = n;
        w->p = n;
        w->cap = cap;
        return 0;
    }

    static int cx_wb_put(cx_wb *w, const void *src, Py_ssize_t n)
    {
        if (w->cap - w->len < n && cx_wb_grow(w, n) < 0)
            return -1;
        if (n > 0)
            memcpy(w->p + w->len, src, (size_t)n);
        w->len += n;
        return 0;
    }

    /* Marker byte followed by the low `size` bytes of v, big endian. */
    static int cx_wb_head(cx_wb *w, unsigned marker, uint64_t v, int size)
    {
        unsigned char b[9];
        int i;
        b[0] = (unsigned char)marker;
        for (i = 0; i < size; i++)
            b[1 + i] = (unsigned char)(v >> (8 * (size - 1 - i)));
        return cx_wb_put(w, b, 1 + size);
    }

    static int cx_pack_len(cx_wb *w, Py_ssize_t n, unsigned fix, unsigned fix_max,
                           unsigned m8, unsigned m16, unsigned m32)
    {
        if ((size_t)n <= fix_max && fix != 0)
            return cx_wb_head(w, fix | (unsigned)n, 0, 0);
        if (n < 0x100 && m8 != 0)
            return cx_wb_head(w, m8, (uint64_t)n, 1);
        if (n < 0x10000)
            return cx_wb_head(w, m16, (uint64_t)n, 2);
        return cx_wb_head(w, m32, (uint64_t)n, 4);
    }

    static int cx_pack_ext(cx_wb *w, int code, PyObject *data)
    {
        Py_ssize_t n;
        unsigned char t = (unsigned char)(signed char)code;
        if (!PyBytes_Check(data)) {
            PyErr_SetString(PyExc_TypeError, "extension data must be bytes");
            return -1;
        }
        n = PyBytes_GET_SIZE(data);
        if (n > (Py_ssize_t)0xFFFFFFFFu) {
            PyErr_SetString(PyExc_ValueError, "EXT data is too large");
            return -1;
        }
        if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16) {
            unsigned m = n == 1 ? 0xD4 : n == 2 ? 0xD5 : n == 4 ? 0xD6 : n == 8 ? 0xD7 : 0xD8;
            if (cx_wb_head(w, m, 0, 0) < 0)
                return -1;
        } else if (cx_pack_len(w, n, 0, 0, 0xC7, 0xC8, 0xC9) < 0) {
            return -1;
        }
        if (cx_wb_put(w, &t, 1) < 0)
            return -1;
        return cx_wb_put(w, PyBytes_AS_STRING(data), n);
    }

    /* Adds `cost` to *weight, saturating (nothing when weight is NULL). */
    #define CX_WEIGH(cost)                                                                  \
        do {                                                                                \
            if (weight != NULL) {                                                           \
                Py_ssize_t cx_cost_ = (cost);                                               \
                *weight = *weight <= PY_SSIZE_T_MAX - cx_cost_ ? *weight + cx_cost_          \
                                                               : PY_SSIZE_T_MAX;            \
            }                                                                               \
        } while (0)

    static int cx_mp_pack(cx_wb *w, PyObject *o, int nest, PyObject *deflt, PyObject *ext_type,
                          PyObject *ts_type, Py_ssize_t *weight)
    {
        PyObject *owned = NULL; /* the default hook's result */
        int default_used = 0, r = -1;
        Py_INCREF(o);
        owned = o;
        for (;;) {
            PyTypeObject *t = Py_TYPE(o);
            if (nest < 0) {
                PyErr_SetString(PyExc_ValueError, "recursion limit exceeded.");
                goto done;
            }
            if (o == Py_None) {
                CX_WEIGH(CX_SZ_SINGLETON);
                r = cx_wb_head(w, 0xC0, 0, 0);
                goto done;
            }
            if (o == Py_True || o == Py_False) {
                CX_WEIGH(CX_SZ_SINGLETON);
                r = cx_wb_head(w, o == Py_True ? 0xC3 : 0xC2, 0, 0);
                goto done;
            }
            if (t == &PyLong_Type) {
                int overflow = 0;
                long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
                if (v == -1 && PyErr_Occurred())
                    goto done;
                if (overflow == 0) {
                    if (weight != NULL) { /* basicsize + one digit per 30 bits, at least one */
                        uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
                        Py_ssize_t digits = 0;
                        while (a != 0) {
                            digits++;
                            a >>= PyLong_SHIFT;
                        }
                        CX_WEIGH(t->tp_basicsize + t->tp_itemsize * (digits > 0 ? digits : 1));
                    }
                    if (v >= 0) {
                        uint64_t u = (uint64_t)v;
                        if (u < 0x80) r = cx_wb_head(w, (unsigned)u, 0, 0);
                        else if (u < 0x100) r = cx_wb_head(w, 0xCC, u, 1);
                        else if (u < 0x10000) r = cx_wb_head(w, 0xCD, u, 2);
                        else if (u < 0x100000000ull) r = cx_wb_head(w, 0xCE, u, 4);
                        else r = cx_wb_head(w, 0xCF, u, 8);
                    } else if (v >= -32) {
                        r = cx_wb_head(w, (unsigned)(uint8_t)(int8_t)v, 0, 0);
                    } else if (v >= -128) {
                        r = cx_wb_head(w, 0xD0, (uint64_t)v, 1);
                    } else if (v >= -32768) {
                        r = cx_wb_head(w, 0xD1, (uint64_t)v, 2);
                    } else if (v >= -2147483648ll) {
                        r = cx_wb_head(w, 0xD2, (uint64_t)v, 4);
                    } else {
                        r = cx_wb_head(w, 0xD3, (uint64_t)v, 8);
                    }
                    goto done;
                }
                if (weight != NULL) {
                    int kind = -1;
                    Py_ssize_t items;
                    CX_WEIGH(cx_sz_node(o, &kind, &items));
                    weight = NULL;
                }
                if (overflow > 0) {
                    unsigned long long u = PyLong_AsUnsignedLongLong(o);
                    if (!(u == (unsigned long long)-1 && PyErr_Occurred())) {
                        r = cx_wb_head(w, 0xCF, (uint64_t)u, 8);
                        goto done;
                    }
                    if (!PyErr_ExceptionMatches(PyExc_OverflowError))
                        goto done;
                    PyErr_Clear();
                }
                if (!default_used && deflt != NULL)
                    goto use_default;
                PyErr_SetString(PyExc_OverflowError, "Integer value out of range");
                goto done;
            }
            if (t == &PyBytes_Type || t == &PyByteArray_Type) {
                Py_ssize_t n = t == &PyBytes_Type ? PyBytes_GET_SIZE(o) : PyByteArray_GET_SIZE(o);
                const char *src = t == &PyBytes_Type ? PyBytes_AS_STRING(o) : PyByteArray_AS_STRING(o);
                CX_WEIGH(t->tp_basicsize +
                         (t == &PyBytes_Type ? n : ((PyByteArrayObject *)o)->ob_alloc));
                if (cx_pack_len(w, n, 0, 0, 0xC4, 0xC5, 0xC6) < 0)
                    goto done;
                r = cx_wb_put(w, src, n);
                goto done;
            }
            if (t == &PyUnicode_Type) {
                Py_ssize_t n;
                const char *utf8;
                CX_WEIGH((PyUnicode_IS_ASCII(o) ? (Py_ssize_t)sizeof(PyASCIIObject)
                                                : (Py_ssize_t)sizeof(PyCompactUnicodeObject)) +
                         (PyUnicode_GET_LENGTH(o) + 1) * (Py_ssize_t)PyUnicode_KIND(o));
                utf8 = PyUnicode_AsUTF8AndSize(o, &n);
                if (utf8 == NULL)
                    goto done;
                if (cx_pack_len(w, n, 0xA0, 31, 0xD9, 0xDA, 0xDB) < 0)
                    goto done;
                r = cx_wb_put(w, utf8, n);
                goto done;
            }
            if (weight != NULL && t != &PyFloat_Type && t != &PyList_Type && t != &PyDict_Type) {
                /* any other object, as it came: its estimate; nothing below it again */
                Py_ssize_t own = cx_estimate_size(o, PY_SSIZE_T_MAX);
                if (own < 0)
                    goto done;
                CX_WEIGH(own);
                weight = NULL;
            }
            if (t == &PyMemoryView_Type) {
                Py_buffer view;
                if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) < 0)
                    goto done;
                if (cx_pack_len(w, view.len, 0, 0, 0xC4, 0xC5, 0xC6) == 0)
                    r = cx_wb_put(w, view.buf, view.len);
                PyBuffer_Release(&view);
                goto done;
            }
            if (t == &PyFloat_Type) {
                double d = PyFloat_AS_DOUBLE(o);
                CX_WEIGH(t->tp_basicsize);
                uint64_t bits;
                memcpy(&bits, &d, 8);
                r = cx_wb_head(w, 0xCB, bits, 8);
                goto done;
            }
            if ((PyObject *)t == ext_type) {
                PyObject *code = PyTuple_GET_ITEM(o, 0);
                long c = PyLong_AsLong(code);
                if (c == -1 && PyErr_Occurred())
                    goto done;
                r = cx_pack_ext(w, (int)c, PyTuple_GET_ITEM(o, 1));
                goto done;
            }
            if ((PyObject *)t == ts_type) {
                PyObject *data = PyObject_CallMethod(o, "to_bytes", NULL);
                if (data == NULL)
                    goto done;
                r = cx_pack_ext(w, -1, data);
                Py_DECREF(data);
                goto done;
            }
            if (t == &PyList_Type) {
                Py_ssize_t i, n = PyList_GET_SIZE(o);
                CX_WEIGH(CX_SZ_GC + t->tp_basicsize +
                         ((PyListObject *)o)->allocated * (Py_ssize_t)sizeof(PyObject *));
                if (cx_pack_len(w, n, 0x90, 15, 0, 0xDC, 0xDD) < 0)
                    goto done;
                for (i = 0; i < n; i++) {
                    PyObject *item;
                    int rr;
                    if (PyList_GET_SIZE(o) != n) {
                        PyErr_SetString(PyExc_RuntimeError, "list changed size during packing");
                        goto done;
                    }
                    item = PyList_GET_ITEM(o, i);
                    Py_INCREF(item);
                    rr = cx_mp_pack(w, item, nest - 1, deflt, ext_type, ts_type, weight);
                    Py_DECREF(item);
                    if (rr < 0)
                        goto done;
                }
                r = 0;
                goto done;
            }
            if (t == &PyDict_Type) {
                Py_ssize_t pos = 0, n = PyDict_GET_SIZE(o);
                PyObject *k, *v;
                CX_WEIGH(CX_SZ_GC + t->tp_basicsize + cx_sz_dict_table(n));
                if (cx_pack_len(w, n, 0x80, 15, 0, 0xDE, 0xDF) < 0)
                    goto done;
                while (PyDict_Next(o, &pos, &k, &v)) {
                    int rr;
                    Py_INCREF(k);
                    Py_INCREF(v);
                    rr = cx_mp_pack(w, k, nest - 1, deflt, ext_type, ts_type, weight);
                    if (rr == 0)
                        rr = cx_mp_pack(w, v, nest - 1, deflt, ext_type, ts_type, weight);
                    Py_DECREF(k);
                    Py_DECREF(v);
                    if (rr < 0)
                        goto done;
                    if (PyDict_GET_SIZE(o) != n) {
                        PyErr_SetString(PyExc_RuntimeError, "dict changed size during packing");
                        goto done;
                    }
                }
                r = 0;
                goto done;
            }
            if (!default_used && deflt != NULL)
                goto use_default;
            PyErr_Format(PyExc_TypeError, "can not serialize %R object", (PyObject *)t);
            goto done;
        use_default: {
                PyObject *next = PyObject_CallOneArg(deflt, o);
                if (next == NULL)
                    goto done;
                Py_DECREF(owned);
                owned = next;
                o = next;
                default_used = 1;
                weight = NULL; /* o was costed as it came; what the hook made of it is not */
            }
        }
    done:
        Py_XDECREF(owned);
        return r;
    }

    /* Packs o into a new bytes object (NULL with an exception on failure). */
    static PyObject *cx_mp_packb(PyObject *o, PyObject *deflt, PyObject *ext_type,
                                 PyObject *ts_type, Py_ssize_t *weight)
    {
        char inline_buf[CX_WB_INLINE];
        cx_wb w;
        PyObject *out = NULL;
        w.p = inline_buf;
        w.len = 0;
        w.cap = CX_WB_INLINE;
        w.heap = NULL;
        if (cx_mp_pack(&w, o, CX_PACK_LIMIT, deflt, ext_type, ts_type, weight) == 0)
            out = PyBytes_FromStringAndSize(w.p, w.len);
        PyMem_Free(w.heap);
        return out;
    }
    """
    bytes cx_mp_packb(object o, object deflt, object ext_type, object ts_type, Py_ssize_t *weight)
