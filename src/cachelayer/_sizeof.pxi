# Decoded-size estimate for L1 weighing.  Included by _core.pyx; the twin is
# cachelayer.local._sizeof_py (same rules, same results on CPython 3.9-3.13).
#
# Invariants:
# - No Python code runs and no Python object is allocated during a walk
#   (sets are read through their public table, dicts with PyDict_Next), so
#   nothing can change the objects being measured while their items are
#   held as borrowed references on the walk's stack.
# - Iterative (an explicit stack, no C recursion); at most `limit` objects
#   are visited, so a call costs O(limit) whatever the value holds.
# - Costs, in bytes (docs/architecture.md, "How the L1 weighs values"):
#   None/True/False 16; bytes basicsize + len; bytearray basicsize +
#   allocated; str the compact header + (len + 1) x kind; int basicsize +
#   4 per 30-bit digit (at least one); float basicsize; list GC head +
#   basicsize + 8 x allocated; tuple GC head + basicsize + 8 x len; dict GC
#   head + basicsize + a CPython table for len entries; set/frozenset GC head
#   + basicsize + the table when it outgrew the small one; anything else 64.
#   Containers add what their items cost (an object referenced twice counts
#   twice).  Past `limit` objects, each item not visited of an open
#   container costs the mean of that container's fully visited items, or
#   (none done yet) the estimate of its item in progress, or 64; the sum
#   saturates at PY_SSIZE_T_MAX (the twin's at the same bound).

from cachelayer.errors import InvalidArgument as _cx_InvalidArgument

cdef extern from *:
    """
    #define CX_SZ_INLINE 64
    #define CX_SZ_UNKNOWN 64
    #define CX_SZ_SINGLETON 16
    #define CX_SZ_GC (2 * (Py_ssize_t)sizeof(void *))

    enum { CX_SZ_SEQ = 0, CX_SZ_DICT = 1, CX_SZ_SET = 2 };

    typedef struct {
        PyObject *obj;      /* borrowed: nothing runs that could free it */
        PyObject *value;    /* dict: the value after the key just visited */
        Py_ssize_t n, i;    /* items (two per dict entry), items started */
        Py_ssize_t pos;     /* dict / set iteration position */
        Py_ssize_t start;   /* total before the item in progress */
        Py_ssize_t done, done_bytes; /* items fully visited and what they cost */
        int kind;
    } cx_sz_frame;

    static Py_ssize_t cx_sz_dict_table(Py_ssize_t n)
    {
        /* a combined table as CPython sizes it for n entries (no deleted slots) */
        int log2 = 3;
        Py_ssize_t size, usable, ix;
        if (n == 0)
            return 0;
        while (((Py_ssize_t)2 << log2) / 3 < n)
            log2++;
        size = (Py_ssize_t)1 << log2;
        usable = ((Py_ssize_t)2 << log2) / 3;
        ix = log2 < 8 ? 1 : log2 < 16 ? 2 : log2 < 32 ? 4 : 8;
        return 32 + size * ix + usable * 24;
    }

    /* Own cost of o; *kind / *n say whether and how many items to visit. */
    static Py_ssize_t cx_sz_node(PyObject *o, int *kind, Py_ssize_t *n)
    {
        PyTypeObject *t = Py_TYPE(o);
        *n = 0;
        if (o == Py_None || o == Py_True || o == Py_False)
            return CX_SZ_SINGLETON;
        if (PyBytes_Check(o))
            return t->tp_basicsize + PyBytes_GET_SIZE(o);
        if (PyUnicode_Check(o)) {
            Py_ssize_t head = PyUnicode_IS_ASCII(o) ? (Py_ssize_t)sizeof(PyASCIIObject)
                                                    : (Py_ssize_t)sizeof(PyCompactUnicodeObject);
            return head + (PyUnicode_GET_LENGTH(o) + 1) * (Py_ssize_t)PyUnicode_KIND(o);
        }
        if (PyLong_Check(o)) {
            size_t bits = _PyLong_NumBits(o);
            Py_ssize_t digits;
            if (bits == (size_t)-1) {
                PyErr_Clear();
                bits = 0;
            }
            digits = (Py_ssize_t)((bits + PyLong_SHIFT - 1) / PyLong_SHIFT);
            return t->tp_basicsize + t->tp_itemsize * (digits > 0 ? digits : 1);
        }
        if (PyFloat_Check(o))
            return t->tp_basicsize;
        if (PyByteArray_Check(o))
            return t->tp_basicsize + ((PyByteArrayObject *)o)->ob_alloc;
        if (PyList_Check(o)) {
            *kind = CX_SZ_SEQ;
            *n = PyList_GET_SIZE(o);
            return CX_SZ_GC + t->tp_basicsize +
                   ((PyListObject *)o)->allocated * (Py_ssize_t)sizeof(PyObject *);
        }
        if (PyTuple_Check(o)) {
            *kind = CX_SZ_SEQ;
            *n = PyTuple_GET_SIZE(o);
            return CX_SZ_GC + t->tp_basicsize + *n * (Py_ssize_t)sizeof(PyObject *);
        }
        if (PyDict_Check(o)) {
            *kind = CX_SZ_DICT;
            *n = 2 * PyDict_GET_SIZE(o);
            return CX_SZ_GC + t->tp_basicsize + cx_sz_dict_table(PyDict_GET_SIZE(o));
        }
        if (PyAnySet_Check(o)) {
            PySetObject *s = (PySetObject *)o;
            *kind = CX_SZ_SET;
            *n = PySet_GET_SIZE(o);
            return CX_SZ_GC + t->tp_basicsize +
                   (s->table != s->smalltable ? (s->mask + 1) * (Py_ssize_t)sizeof(setentry) : 0);
        }
        return CX_SZ_UNKNOWN;
    }

    /* The next item of f (borrowed), or NULL when there is none left. */
    static PyObject *cx_sz_next(cx_sz_frame *f)
    {
        if (f->kind == CX_SZ_SEQ) {
            if (PyList_Check(f->obj))
                return f->i < PyList_GET_SIZE(f->obj) ? PyList_GET_ITEM(f->obj, f->i) : NULL;
            return PyTuple_GET_ITEM(f->obj, f->i);
        }
        if (f->kind == CX_SZ_DICT) {
            PyObject *k, *v;
            if (f->i & 1)
                return f->value;
            if (!PyDict_Next(f->obj, &f->pos, &k, &v))
                return NULL;
            f->value = v;
            return k;
        } else {
            PySetObject *s = (PySetObject *)f->obj;
            while (f->pos <= s->mask) {
                setentry *e = &s->table[f->pos++];
                if (e->key != NULL && e->hash != -1)
                    return e->key;
            }
            return NULL;
        }
    }

    static Py_ssize_t cx_estimate_size(PyObject *root, Py_ssize_t limit)
    {
        cx_sz_frame inline_stack[CX_SZ_INLINE];
        cx_sz_frame *stack = inline_stack, *f;
        Py_ssize_t cap = CX_SZ_INLINE, top = 0, visited = 0, total = 0, n, own, j;
        PyObject *o = root;
        int kind = 0;

        for (;;) {
            /* visit o */
            visited++;
            kind = -1;
            own = cx_sz_node(o, &kind, &n);
            total = total <= PY_SSIZE_T_MAX - own ? total + own : PY_SSIZE_T_MAX;
            if (kind >= 0 && n > 0) {
                if (top == cap) {
                    cx_sz_frame *grown;
                    Py_ssize_t ncap = cap * 4;
                    grown = (cx_sz_frame *)PyMem_Malloc((size_t)ncap * sizeof(cx_sz_frame));
                    if (grown == NULL) {
                        if (stack != inline_stack)
                            PyMem_Free(stack);
                        PyErr_NoMemory();
                        return -1;
                    }
                    memcpy(grown, stack, (size_t)top * sizeof(cx_sz_frame));
                    if (stack != inline_stack)
                        PyMem_Free(stack);
                    stack = grown;
                    cap = ncap;
                }
                f = &stack[top++];
                f->obj = o;
                f->value = NULL;
                f->n = n;
                f->i = 0;
                f->pos = 0;
                f->done = f->done_bytes = 0;
                f->kind = kind;
                f->start = total;
            }
            /* find the next item to visit, closing finished containers */
            o = NULL;
            while (top > 0) {
                f = &stack[top - 1];
                if (f->i > 0) { /* the item started last is done, subtree included */
                    f->done++;
                    f->done_bytes += total - f->start;
                }
                if (f->i < f->n)
                    o = cx_sz_next(f);
                if (o != NULL) {
                    f->i++;
                    f->start = total;
                    break;
                }
                top--; /* finished: the frame below accounts for it as its item */
            }
            if (o == NULL)
                break;
            if (visited >= limit) {
                /* o and everything after it is not visited: extrapolate, from the
                   innermost container out; a container none of whose items is
                   done takes the estimate of the item in progress as its mean */
                Py_ssize_t extra = 0, visited_total = total;
                for (j = top - 1; j >= 0; j--) {
                    Py_ssize_t rest, mean;
                    f = &stack[j];
                    rest = f->n - f->i + (j == top - 1 ? 1 : 0);
                    if (f->done > 0)
                        mean = f->done_bytes / f->done;
                    else if (j < top - 1)
                        mean = visited_total - f->start + extra;
                    else
                        mean = CX_SZ_UNKNOWN;
                    if (rest > 0 && mean > 0) {
                        if (rest > (PY_SSIZE_T_MAX - total) / mean) {
                            total = PY_SSIZE_T_MAX;
                            break;
                        }
                        total += rest * mean;
                        extra += rest * mean;
                    }
                }
                break;
            }
        }
        if (stack != inline_stack)
            PyMem_Free(stack);
        return total;
    }
    """
    Py_ssize_t cx_estimate_size(object root, Py_ssize_t limit) except -1


def estimate_size(obj, limit):
    """Estimate the memory *obj* holds, in bytes, visiting at most *limit* objects.

    Exact-ish for bytes, bytearray, str, int, float, bool and None, recursive
    for list, tuple, dict, set and frozenset; any other object counts 64.
    Past *limit* objects the items left of each open container count the
    mean of that container's visited items (docs/architecture.md).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise _cx_InvalidArgument(f"limit must be an int >= 1, got {limit!r}")
    return cx_estimate_size(obj, limit if limit < 2**62 else 2**62)

