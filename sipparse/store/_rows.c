/* Checks over a batch's row tuples, in C.
 *
 * Before a batch is written, sipparse.store.rows looks at every clipped text column and every
 * bounded integer column of every row for a value past its limit, so that only a batch that
 * holds one is rewritten. In Python that look is a pass over the rows per column, 16 text
 * and 6 integer columns: about 1.7 microseconds a message, as much as building its row.
 * Here it is one pass over the rows, a few nanoseconds a value.
 *
 * Each function answers True or False exactly as the Python check would, or None when a row
 * or a value is of a shape it does not decide (the Python check then runs).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>

/* The (index, limit) pairs of ``limits``; -1 with an exception set when they are not that. */
static Py_ssize_t read_limits(PyObject *limits, Py_ssize_t **indexes, long long **bounds) {
    if (!PyTuple_Check(limits)) {
        PyErr_SetString(PyExc_TypeError, "limits: a tuple of (index, limit) pairs expected");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(limits);
    *indexes = PyMem_New(Py_ssize_t, n ? n : 1);
    *bounds = PyMem_New(long long, n ? n : 1);
    if (*indexes == NULL || *bounds == NULL) {
        PyMem_Free(*indexes);
        PyMem_Free(*bounds);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(limits, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "limits: a tuple of (index, limit) pairs expected");
            goto fail;
        }
        (*indexes)[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
        (*bounds)[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(pair, 1));
        if (PyErr_Occurred())
            goto fail;
        if ((*indexes)[i] < 0 || (*bounds)[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "limits: indexes and limits are not negative");
            goto fail;
        }
    }
    return n;
fail:
    PyMem_Free(*indexes);
    PyMem_Free(*bounds);
    return -1;
}

/* 1 when the value is past its limit, 0 when not, 2 when this cannot tell. */
typedef int (*Check)(PyObject *value, long long limit);

static int text_past(PyObject *value, long long limit) {
    if (value == Py_None)
        return 0;
    if (!PyUnicode_CheckExact(value))
        return 2;
    return PyUnicode_GET_LENGTH(value) > limit;
}

static int integer_past(PyObject *value, long long limit) {
    if (value == Py_None)
        return 0;
    if (!PyLong_CheckExact(value))
        return 2;
    int overflow;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow)
        return 1;  /* beyond 64 bits, and so beyond any limit a long long holds */
    if (number == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 2;
    }
    if (number == LLONG_MIN)
        return 1;  /* its absolute value is LLONG_MAX + 1 */
    return (number < 0 ? -number : number) > limit;
}

static PyObject *exceeds(PyObject *args, Check check) {
    PyObject *rows, *limits;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &rows, &limits))
        return NULL;
    Py_ssize_t *indexes;
    long long *bounds;
    Py_ssize_t count = read_limits(limits, &indexes, &bounds);
    if (count < 0)
        return NULL;
    int answer = 0;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    for (Py_ssize_t r = 0; r < n && answer != 2; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyTuple_CheckExact(row)) {
            answer = 2;
            break;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            if (indexes[i] >= PyTuple_GET_SIZE(row)) {
                answer = 2;
                break;
            }
            int past = check(PyTuple_GET_ITEM(row, indexes[i]), bounds[i]);
            if (past == 2) {
                answer = 2;
                break;
            }
            answer |= past;
        }
    }
    PyMem_Free(indexes);
    PyMem_Free(bounds);
    if (answer == 2)
        Py_RETURN_NONE;
    return PyBool_FromLong(answer);
}

static PyObject *longer_than(PyObject *self, PyObject *args) {
    return exceeds(args, text_past);
}

static PyObject *larger_than(PyObject *self, PyObject *args) {
    return exceeds(args, integer_past);
}

static PyMethodDef methods[] = {
    {"longer_than", longer_than, METH_VARARGS,
     "longer_than(rows, limits) -> whether a str at an index of limits is longer than its limit; "
     "None when a value is neither str nor None."},
    {"larger_than", larger_than, METH_VARARGS,
     "larger_than(rows, limits) -> whether an int at an index of limits is larger in absolute value "
     "than its limit; None when a value is neither int nor None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rows", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rows(void) { return PyModule_Create(&module); }
