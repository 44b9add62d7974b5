/* Multi-row INSERTs into SQLite with the values bound in C.
 *
 * The sqlite3 module binds each value through Python-level machinery (adapter lookups,
 * a copy of every text), 3 to 4 microseconds a row of 42 values: a fifth of what storing a
 * message costs. This binds the same values, the same way (None as NULL, int as a 64-bit
 * integer, float, str as UTF-8 text, bytes as a blob), on the sqlite3 connection's own
 * database handle, inside the transaction it has open.
 *
 * The handle is the first field of CPython's sqlite3.Connection object (Modules/_sqlite/
 * connection.h, unchanged from 3.8 to 3.13); init() takes the path of the _sqlite3 module
 * to find the very SQLite library it uses, and rows() checks the handle before each use:
 * its database file must be the one the caller names. sipparse.store.sqlite uses this only
 * after that check passed once, and falls back to executemany otherwise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <string.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef long long sqlite3_int64;
#define SQLITE_OK 0
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQLITE_CONSTRAINT 19
#define SQLITE_STATIC ((void (*)(void *))0)

static struct {
    int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    int (*bind_null)(sqlite3_stmt *, int);
    int (*bind_int64)(sqlite3_stmt *, int, sqlite3_int64);
    int (*bind_double)(sqlite3_stmt *, int, double);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
    int (*bind_blob)(sqlite3_stmt *, int, const void *, int, void (*)(void *));
    int (*step)(sqlite3_stmt *);
    int (*reset)(sqlite3_stmt *);
    int (*clear_bindings)(sqlite3_stmt *);
    int (*finalize)(sqlite3_stmt *);
    int (*changes)(sqlite3 *);
    const char *(*errmsg)(sqlite3 *);
    int (*errcode)(sqlite3 *);
    const char *(*db_filename)(sqlite3 *, const char *);
    int (*get_autocommit)(sqlite3 *);
} api;

static int ready = 0;
static PyObject *operational_error = NULL;
static PyObject *integrity_error = NULL;

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} ConnectionHead;

#define RESOLVE(field, name)                                        \
    do {                                                            \
        *(void **)(&api.field) = dlsym(handle, name);               \
        if (api.field == NULL) {                                    \
            PyErr_Format(PyExc_ImportError, "no %s in %s", name, path); \
            return NULL;                                            \
        }                                                           \
    } while (0)

static PyObject *init(PyObject *self, PyObject *args) {
    const char *path;
    PyObject *operational, *integrity;
    if (!PyArg_ParseTuple(args, "sOO", &path, &operational, &integrity))
        return NULL;
    void *handle = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == NULL) {
        PyErr_Format(PyExc_ImportError, "%s is not loaded", path);
        return NULL;
    }
    RESOLVE(prepare_v2, "sqlite3_prepare_v2");
    RESOLVE(bind_null, "sqlite3_bind_null");
    RESOLVE(bind_int64, "sqlite3_bind_int64");
    RESOLVE(bind_double, "sqlite3_bind_double");
    RESOLVE(bind_text, "sqlite3_bind_text");
    RESOLVE(bind_blob, "sqlite3_bind_blob");
    RESOLVE(step, "sqlite3_step");
    RESOLVE(reset, "sqlite3_reset");
    RESOLVE(clear_bindings, "sqlite3_clear_bindings");
    RESOLVE(finalize, "sqlite3_finalize");
    RESOLVE(changes, "sqlite3_changes");
    RESOLVE(errmsg, "sqlite3_errmsg");
    RESOLVE(errcode, "sqlite3_errcode");
    RESOLVE(db_filename, "sqlite3_db_filename");
    RESOLVE(get_autocommit, "sqlite3_get_autocommit");
    Py_XSETREF(operational_error, Py_NewRef(operational));
    Py_XSETREF(integrity_error, Py_NewRef(integrity));
    ready = 1;
    Py_RETURN_NONE;
}

/* The connection's handle, if it is open and its main database is the file at ``path``. */
static sqlite3 *handle_of(PyObject *connection, const char *path) {
    sqlite3 *db = ((ConnectionHead *)connection)->db;
    if (db == NULL) {
        PyErr_SetString(PyExc_ValueError, "the connection is closed");
        return NULL;
    }
    const char *file = api.db_filename(db, "main");
    if (file == NULL || strcmp(file, path) != 0) {
        PyErr_Format(PyExc_ValueError, "the connection's database is %s, not %s", file ? file : "(none)", path);
        return NULL;
    }
    return db;
}

static PyObject *database(PyObject *self, PyObject *args) {
    PyObject *connection;
    const char *path;
    if (!PyArg_ParseTuple(args, "Os", &connection, &path))
        return NULL;
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "init() first");
        return NULL;
    }
    if (handle_of(connection, path) == NULL)
        return NULL;
    Py_RETURN_TRUE;
}

static void raise_sqlite(sqlite3 *db) {
    int code = api.errcode(db) & 0xff;
    PyErr_SetString(code == SQLITE_CONSTRAINT ? integrity_error : operational_error, api.errmsg(db));
}

/* Whether every value of every row is of a type bound here (the caller binds the rest). */
static int all_plain(PyObject *rows, Py_ssize_t width) {
    Py_ssize_t n = PyList_GET_SIZE(rows);
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != width)
            return 0;
        for (Py_ssize_t c = 0; c < width; c++) {
            PyObject *v = PyTuple_GET_ITEM(row, c);
            if (!(v == Py_None || PyUnicode_CheckExact(v) || PyLong_CheckExact(v) || PyBytes_CheckExact(v) ||
                  PyFloat_CheckExact(v)))
                return 0;
        }
    }
    return 1;
}

static int bind_value(sqlite3_stmt *stmt, int index, PyObject *v) {
    if (v == Py_None)
        return api.bind_null(stmt, index);
    if (PyUnicode_CheckExact(v)) {
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize(v, &size);  /* kept by the str: static */
        if (text == NULL)
            return -1;
        if (size > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "string longer than INT_MAX bytes");
            return -1;
        }
        return api.bind_text(stmt, index, text, (int)size, SQLITE_STATIC);
    }
    if (PyLong_CheckExact(v)) {
        long long number = PyLong_AsLongLong(v);
        if (number == -1 && PyErr_Occurred())
            return -1;
        return api.bind_int64(stmt, index, number);
    }
    if (PyBytes_CheckExact(v)) {
        if (PyBytes_GET_SIZE(v) > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "BLOB longer than INT_MAX bytes");
            return -1;
        }
        return api.bind_blob(stmt, index, PyBytes_AS_STRING(v), (int)PyBytes_GET_SIZE(v), SQLITE_STATIC);
    }
    return api.bind_double(stmt, index, PyFloat_AS_DOUBLE(v));
}

/* Run ``stmt`` (``per`` rows of ``width`` values) over rows[start:start + per]; -1 on error. */
static int run_once(sqlite3 *db, sqlite3_stmt *stmt, PyObject *rows, Py_ssize_t start, Py_ssize_t per,
                    Py_ssize_t width) {
    int index = 1;
    for (Py_ssize_t r = start; r < start + per; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        for (Py_ssize_t c = 0; c < width; c++, index++) {
            int rc = bind_value(stmt, index, PyTuple_GET_ITEM(row, c));
            if (rc != SQLITE_OK) {
                if (rc > 0)
                    raise_sqlite(db);
                return -1;
            }
        }
    }
    int rc = api.step(stmt);
    while (rc == SQLITE_ROW)
        rc = api.step(stmt);
    if (rc != SQLITE_DONE) {
        raise_sqlite(db);
        api.reset(stmt);
        return -1;
    }
    int changed = api.changes(db);
    api.reset(stmt);
    api.clear_bindings(stmt);  /* no pointer into a str the caller may free is kept */
    return changed;
}

static sqlite3_stmt *prepare(sqlite3 *db, PyObject *sql) {
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(sql, &size);
    if (text == NULL)
        return NULL;
    sqlite3_stmt *stmt = NULL;
    if (api.prepare_v2(db, text, (int)size, &stmt, NULL) != SQLITE_OK) {
        raise_sqlite(db);
        return NULL;
    }
    return stmt;
}

/* rows(connection, path, many_sql, per, one_sql, rows) -> rows inserted, or None when a value
 * is not one this binds (nothing was run). many_sql inserts ``per`` rows, one_sql one. */
static PyObject *insert_rows(PyObject *self, PyObject *args) {
    PyObject *connection, *many_sql, *one_sql, *rows;
    const char *path;
    Py_ssize_t per;
    if (!PyArg_ParseTuple(args, "OsUnUO!", &connection, &path, &many_sql, &per, &one_sql, &PyList_Type, &rows))
        return NULL;
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "init() first");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    if (n == 0)
        return PyLong_FromLong(0);
    if (per < 1) {
        PyErr_SetString(PyExc_ValueError, "per must be at least 1");
        return NULL;
    }
    Py_ssize_t width = PyTuple_Check(PyList_GET_ITEM(rows, 0)) ? PyTuple_GET_SIZE(PyList_GET_ITEM(rows, 0)) : -1;
    if (width < 1 || !all_plain(rows, width))
        Py_RETURN_NONE;
    sqlite3 *db = handle_of(connection, path);
    if (db == NULL)
        return NULL;
    if (api.get_autocommit(db)) {
        PyErr_SetString(PyExc_ValueError, "no transaction is open on the connection");
        return NULL;
    }
    long long total = 0;
    Py_ssize_t whole = n - n % per, done = 0;
    sqlite3_stmt *stmt = NULL;
    if (whole) {
        if ((stmt = prepare(db, many_sql)) == NULL)
            return NULL;
        for (; done < whole; done += per) {
            int changed = run_once(db, stmt, rows, done, per, width);
            if (changed < 0) {
                api.finalize(stmt);
                return NULL;
            }
            total += changed;
        }
        api.finalize(stmt);
    }
    if (done < n) {
        if ((stmt = prepare(db, one_sql)) == NULL)
            return NULL;
        for (; done < n; done++) {
            int changed = run_once(db, stmt, rows, done, 1, width);
            if (changed < 0) {
                api.finalize(stmt);
                return NULL;
            }
            total += changed;
        }
        api.finalize(stmt);
    }
    return PyLong_FromLongLong(total);
}

static PyMethodDef methods[] = {
    {"init", init, METH_VARARGS, "init(sqlite3_module_path, OperationalError, IntegrityError): find SQLite."},
    {"database", database, METH_VARARGS, "database(connection, path): True if the handle is that file's."},
    {"insert_rows", insert_rows, METH_VARARGS,
     "insert_rows(connection, path, many_sql, per, one_sql, rows) -> inserted rows, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sqlbind", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sqlbind(void) { return PyModule_Create(&module); }
