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
 * to find the very SQLite library it uses, and every insert checks the handle before its
 * use: its database file must be the one the caller names. sipparse.store.sqlite uses this
 * only after that check passed once, and falls back to executemany otherwise.
 *
 * The values are read off their objects first, then bound and stepped with Python's lock
 * released; the INSERT statements stay prepared between calls (forget() before the
 * connection closes). Rows can also be packed into one buffer (pack_rows) for
 * the trip from a parse worker, and inserted from it (insert_packed) without an object per
 * value.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct sqlite3_mutex sqlite3_mutex;
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
    sqlite3_mutex *(*db_mutex)(sqlite3 *);
    void (*mutex_enter)(sqlite3_mutex *);
    void (*mutex_leave)(sqlite3_mutex *);
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
    RESOLVE(db_mutex, "sqlite3_db_mutex");
    RESOLVE(mutex_enter, "sqlite3_mutex_enter");
    RESOLVE(mutex_leave, "sqlite3_mutex_leave");
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

/* Longest error text kept from a failed run (SQLite's own are a line). */
#define ERROR_TEXT 512

static void raise_error(int code, const char *message) {
    PyErr_SetString((code & 0xff) == SQLITE_CONSTRAINT ? integrity_error : operational_error, message);
}

static void raise_sqlite(sqlite3 *db) {
    raise_error(api.errcode(db), api.errmsg(db));
}

/* One value to bind, read off its Python object while the GIL is held. */
typedef struct {
    enum { V_NULL, V_INT, V_DOUBLE, V_TEXT, V_BLOB } kind;
    union {
        sqlite3_int64 number;
        double real;
        struct {
            const char *data;  /* owned by the str or bytes object, which the caller keeps */
            int size;
        } span;
    } as;
} Value;

/* 0 when ``v`` is read into ``out``; 1 when it is of no type this binds (None, and exactly
 * str, int, bytes or float: a bool or a subclass goes to the sqlite3 module, which knows its
 * adapters), with no exception set; -1 on an error. */
static int read_value(PyObject *v, Value *out) {
    if (v == Py_None) {
        out->kind = V_NULL;
        return 0;
    }
    if (PyUnicode_CheckExact(v)) {
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize(v, &size);  /* cached by the str */
        if (text == NULL)
            return -1;
        if (size > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "string longer than INT_MAX bytes");
            return -1;
        }
        out->kind = V_TEXT;
        out->as.span.data = text;
        out->as.span.size = (int)size;
        return 0;
    }
    if (PyLong_CheckExact(v)) {
        long long number = PyLong_AsLongLong(v);
        if (number == -1 && PyErr_Occurred())
            return -1;
        out->kind = V_INT;
        out->as.number = number;
        return 0;
    }
    if (PyBytes_CheckExact(v)) {
        if (PyBytes_GET_SIZE(v) > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "BLOB longer than INT_MAX bytes");
            return -1;
        }
        out->kind = V_BLOB;
        out->as.span.data = PyBytes_AS_STRING(v);
        out->as.span.size = (int)PyBytes_GET_SIZE(v);
        return 0;
    }
    if (PyFloat_CheckExact(v)) {
        out->kind = V_DOUBLE;
        out->as.real = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    return 1;
}

/* The array of a batch's values, kept from one insert to the next. Taken afresh for each
 * batch, its pages were new to the process every time: a page fault for each 4 KiB, the
 * kernel clearing it, and then all of it copied once more into an array with each row's last
 * value (a quarter of an ingest's page faults each, 180,000 in all for 256 MiB of log).
 * Kept, it is touched once; an array larger than ``KEPT_VALUES_MAX``, or wanted while the
 * kept one is in use (in another thread, while its GIL is let go), comes and goes as before.
 * Taken and given back under the GIL. */
#define KEPT_VALUES_MAX ((Py_ssize_t)((16 << 20) / sizeof(Value)))
static Value *kept_values = NULL;
static Py_ssize_t kept_capacity = 0;
static int kept_in_use = 0;

/* An array of ``count`` values (at least one), or NULL with MemoryError; ``give_back`` it. */
static Value *take_values(Py_ssize_t count) {
    if (count < 1)
        count = 1;
    if (kept_in_use || count > KEPT_VALUES_MAX) {
        Value *values = PyMem_New(Value, count);
        if (values == NULL)
            PyErr_NoMemory();
        return values;
    }
    if (count > kept_capacity) {
        Py_ssize_t capacity = Py_MIN(count + count / 4, KEPT_VALUES_MAX);  /* batches vary a little */
        PyMem_Free(kept_values);
        kept_values = PyMem_New(Value, capacity);
        kept_capacity = kept_values == NULL ? 0 : capacity;
        if (kept_values == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    kept_in_use = 1;
    return kept_values;
}

static void give_back(Value *values) {
    if (values != NULL && values == kept_values)
        kept_in_use = 0;
    else
        PyMem_Free(values);
}

/* Every value of rows[0:n], row after row, into ``into``, each row ``stride`` values after
 * the one before (room for values after its own), in one pass: 0 when all are read, 1 when a
 * row is not a tuple of ``width`` or a value not of a type this binds (no exception set), -1
 * with an exception set on an error. */
static int read_rows_into(PyObject *rows, Py_ssize_t n, Py_ssize_t width, Py_ssize_t stride, Value *into) {
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != width)
            return 1;
        Value *at = into + r * stride;
        for (Py_ssize_t c = 0; c < width; c++) {
            int read = read_value(PyTuple_GET_ITEM(row, c), at + c);
            if (read != 0)
                return read;
        }
    }
    return 0;
}

/* Every value of rows[0:n] into an array at ``*out`` of ``stride`` values a row (the caller
 * gives it back), as ``read_rows_into`` answers; nothing is left taken unless it answers 0. */
static int read_values(PyObject *rows, Py_ssize_t n, Py_ssize_t width, Py_ssize_t stride, Value **out) {
    Value *values = take_values(n * stride);
    if (values == NULL)
        return -1;
    int read = read_rows_into(rows, n, width, stride, values);
    if (read != 0) {
        give_back(values);
        return read;
    }
    *out = values;
    return 0;
}

static int bind_value(sqlite3_stmt *stmt, int index, const Value *v) {
    switch (v->kind) {
    case V_NULL:
        return api.bind_null(stmt, index);
    case V_INT:
        return api.bind_int64(stmt, index, v->as.number);
    case V_DOUBLE:
        return api.bind_double(stmt, index, v->as.real);
    case V_TEXT:
        return api.bind_text(stmt, index, v->as.span.data, v->as.span.size, SQLITE_STATIC);
    default:
        return api.bind_blob(stmt, index, v->as.span.data, v->as.span.size, SQLITE_STATIC);
    }
}

/* Run ``stmt`` once with ``count`` values; the rows it changed, or -1 (the error is the
 * handle's: report it before the next call on the handle). Needs no GIL.
 *
 * Every parameter is NULL on entry: a statement is new, or was cleared after its last run
 * here (and on every error path), so a NULL value is not bound again. A fifth of a message
 * row's values are NULL, and each bind is a call into SQLite's API. */
static int run_once(sqlite3 *db, sqlite3_stmt *stmt, const Value *values, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++)
        if (values[i].kind != V_NULL && bind_value(stmt, (int)i + 1, values + i) != SQLITE_OK)
            return -1;
    int rc = api.step(stmt);
    while (rc == SQLITE_ROW)
        rc = api.step(stmt);
    if (rc != SQLITE_DONE)
        return -1;
    int changed = api.changes(db);
    api.reset(stmt);
    api.clear_bindings(stmt);  /* no pointer into a str the caller may free is kept */
    return changed;
}

/* Run ``stmt`` over values of ``rows`` rows, ``per`` rows a time: rows changed, or -1. */
static long long run_all(sqlite3 *db, sqlite3_stmt *stmt, const Value *values, Py_ssize_t rows, Py_ssize_t per,
                         Py_ssize_t width) {
    long long total = 0;
    for (Py_ssize_t done = 0; done < rows; done += per) {
        int changed = run_once(db, stmt, values + done * width, per * width);
        if (changed < 0)
            return -1;
        total += changed;
    }
    return total;
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

/* Statements kept prepared between calls: preparing a 100-row INSERT (some 4,000 parameters)
 * costs about a tenth of running it, at every batch. A kept statement keeps its connection's
 * handle (SQLite makes a closed connection a zombie until its statements are finalized),
 * so a store calls forget(connection) before it closes the connection; an entry pushed out
 * of the few kept here is finalized then. All of this runs holding the GIL. */
#define KEPT 8
static struct {
    sqlite3 *db;
    PyObject *sql;
    sqlite3_stmt *stmt;
    unsigned long long used;
} kept[KEPT];
static unsigned long long uses = 0;

static void drop(int i) {
    api.finalize(kept[i].stmt);
    Py_CLEAR(kept[i].sql);
    kept[i].stmt = NULL;
    kept[i].db = NULL;
}

/* ``sql`` prepared on ``db``: the kept statement, else a new one kept in place of the one
 * used least recently. Reset, with no values bound, when it is returned. */
static sqlite3_stmt *prepared(sqlite3 *db, PyObject *sql) {
    int victim = 0;
    for (int i = 0; i < KEPT; i++) {
        if (kept[i].stmt != NULL && kept[i].db == db &&
            (kept[i].sql == sql || PyUnicode_Compare(kept[i].sql, sql) == 0)) {
            kept[i].used = ++uses;
            return kept[i].stmt;
        }
        if (kept[victim].stmt != NULL && (kept[i].stmt == NULL || kept[i].used < kept[victim].used))
            victim = i;
    }
    sqlite3_stmt *stmt = prepare(db, sql);
    if (stmt == NULL)
        return NULL;
    if (kept[victim].stmt != NULL)
        drop(victim);
    kept[victim].db = db;
    kept[victim].sql = Py_NewRef(sql);
    kept[victim].stmt = stmt;
    kept[victim].used = ++uses;
    return stmt;
}

/* forget(connection): finalize the statements kept for the connection (before it closes). */
static PyObject *forget(PyObject *self, PyObject *connection) {
    sqlite3 *db = ((ConnectionHead *)connection)->db;
    for (int i = 0; i < KEPT; i++)
        if (kept[i].stmt != NULL && (kept[i].db == db || db == NULL))
            drop(i);
    Py_RETURN_NONE;
}

/* The open handle of ``connection`` for an insert of ``per`` rows a statement, or NULL. */
static sqlite3 *writable(PyObject *connection, const char *path, Py_ssize_t per) {
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "init() first");
        return NULL;
    }
    if (per < 1) {
        PyErr_SetString(PyExc_ValueError, "per must be at least 1");
        return NULL;
    }
    sqlite3 *db = handle_of(connection, path);
    if (db != NULL && api.get_autocommit(db)) {
        PyErr_SetString(PyExc_ValueError, "no transaction is open on the connection");
        return NULL;
    }
    return db;
}

/* Insert ``n`` rows of ``width`` values: ``many_sql`` runs ``per`` rows at a time, ``one_sql``
 * the rest one by one. The rows inserted, or NULL with the exception set. */
static PyObject *insert_values(sqlite3 *db, PyObject *many_sql, Py_ssize_t per, PyObject *one_sql,
                               const Value *values, Py_ssize_t n, Py_ssize_t width) {
    Py_ssize_t whole = n - n % per;
    sqlite3_stmt *many = NULL, *one = NULL;
    if ((whole && (many = prepared(db, many_sql)) == NULL) || (whole < n && (one = prepared(db, one_sql)) == NULL))
        return NULL;
    /* SQLite's own work, most of a write, runs while other threads take their turn: the
     * values are plain C, pointing into objects the caller keeps alive.
     *
     * Every call on the handle takes its mutex, each bind too (some forty per row); held
     * here for the whole run, each of those is a recursive re-entry instead of an atomic
     * lock and unlock (a tenth fewer instructions in the binds, and none of their atomic
     * ones). The error is read under it too, and it is let go before the GIL is taken back. */
    long long total, rest = 0;
    int failed_code = 0;
    char failed_message[ERROR_TEXT];
    sqlite3_mutex *mutex = api.db_mutex(db);
    Py_BEGIN_ALLOW_THREADS
    api.mutex_enter(mutex);
    total = whole ? run_all(db, many, values, whole, per, width) : 0;
    if (total >= 0 && whole < n)
        rest = run_all(db, one, values + whole * width, n - whole, 1, width);
    if (total < 0 || rest < 0) {
        failed_code = api.errcode(db);
        snprintf(failed_message, sizeof failed_message, "%s", api.errmsg(db));
        sqlite3_stmt *failed = total < 0 ? many : one;
        api.reset(failed);
        api.clear_bindings(failed);
    }
    api.mutex_leave(mutex);
    Py_END_ALLOW_THREADS
    if (total < 0 || rest < 0) {
        raise_error(failed_code, failed_message);
        return NULL;
    }
    return PyLong_FromLongLong(total + rest);
}

/* How many values ``last`` adds to each of ``n`` rows: 0 when it is None, 1 when it is a list
 * of one value per row; -1 with ValueError otherwise. */
static int last_width(PyObject *last, Py_ssize_t n) {
    if (last == Py_None)
        return 0;
    if (!PyList_Check(last) || PyList_GET_SIZE(last) != n) {
        PyErr_SetString(PyExc_ValueError, "last: a list of one value per row");
        return -1;
    }
    return 1;
}

/* Each row's value of ``last`` (a list of ``n`` ints or None) into the room after its own
 * ``width`` values, rows being ``width + 1`` apart; nothing when ``last`` is None. 0, or -1
 * with an exception set when a value is of another type. */
static int fill_last(Value *values, Py_ssize_t n, Py_ssize_t width, PyObject *last) {
    if (last == Py_None)
        return 0;
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *v = PyList_GET_ITEM(last, r);
        if (v != Py_None && !PyLong_CheckExact(v)) {
            PyErr_SetString(PyExc_TypeError, "last: ints or None");
            return -1;
        }
        if (read_value(v, values + r * (width + 1) + width) != 0)
            return -1;
    }
    return 0;
}

/* insert_values of ``values`` (rows of ``width`` values and room for one more) with ``last``
 * after each row (see ``fill_last``). */
static PyObject *insert_with_last(sqlite3 *db, PyObject *many_sql, Py_ssize_t per, PyObject *one_sql,
                                  Value *values, Py_ssize_t n, Py_ssize_t width, PyObject *last) {
    if (fill_last(values, n, width, last) != 0)
        return NULL;
    return insert_values(db, many_sql, per, one_sql, values, n, width + (last != Py_None));
}

/* insert_rows(connection, path, many_sql, per, one_sql, rows, last=None) -> rows inserted, or
 * None when a value is not one this binds (nothing was run). many_sql inserts ``per`` rows,
 * one_sql one; ``last``, a list of an int or None per row, gives each row one value more. */
static PyObject *insert_rows(PyObject *self, PyObject *args) {
    PyObject *connection, *many_sql, *one_sql, *rows, *last = Py_None;
    const char *path;
    Py_ssize_t per;
    if (!PyArg_ParseTuple(args, "OsUnUO!|O", &connection, &path, &many_sql, &per, &one_sql, &PyList_Type, &rows,
                          &last))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    if (n == 0)
        return PyLong_FromLong(0);
    Py_ssize_t width = PyTuple_Check(PyList_GET_ITEM(rows, 0)) ? PyTuple_GET_SIZE(PyList_GET_ITEM(rows, 0)) : -1;
    if (width < 1)
        Py_RETURN_NONE;
    int extra = last_width(last, n);
    if (extra < 0)
        return NULL;
    Value *values;
    int read = read_values(rows, n, width, width + extra, &values);
    if (read != 0) {
        if (read < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    sqlite3 *db = writable(connection, path, per);
    PyObject *done = db ? insert_with_last(db, many_sql, per, one_sql, values, n, width, last) : NULL;
    give_back(values);
    return done;
}

/* ------------------------------------------------------------------------------------------
 * Packed rows: a batch's values in one bytes object, for the trip from a parse worker to the
 * storing process. Unpickling 40-odd objects a row cost that process more than binding
 * them; bound straight from the packed bytes, the rows are never objects there at all.
 *
 * Each value is a tag byte, then for an integer or a float its 8 bytes (native order: both
 * ends are this machine), for a text (UTF-8) or a blob a 4-byte length and the bytes.
 */

enum { TAG_NULL, TAG_INT, TAG_DOUBLE, TAG_TEXT, TAG_BLOB };

/* Write ``v`` at ``at``; where the next value goes. */
static char *pack_value(char *at, const Value *v) {
    switch (v->kind) {
    case V_NULL:
        *at = TAG_NULL;
        return at + 1;
    case V_INT:
        *at = TAG_INT;
        memcpy(at + 1, &v->as.number, 8);
        return at + 9;
    case V_DOUBLE:
        *at = TAG_DOUBLE;
        memcpy(at + 1, &v->as.real, 8);
        return at + 9;
    default: {
        int32_t size = v->as.span.size;
        *at = v->kind == V_TEXT ? TAG_TEXT : TAG_BLOB;
        memcpy(at + 1, &size, 4);
        memcpy(at + 5, v->as.span.data, (size_t)size);
        return at + 5 + size;
    }
    }
}

static Py_ssize_t packed_size(const Value *v) {
    return v->kind == V_NULL ? 1 : v->kind == V_INT || v->kind == V_DOUBLE ? 9 : 5 + (Py_ssize_t)v->as.span.size;
}

/* The packing of the last batch, kept from call to call and grown as needed: a batch's (some
 * 4 MiB) came fresh at every call, and a parse worker maps every block of 1 MiB or more afresh
 * (sipparse.memory): each of its pages then cost a page fault. ``packing_busy``: a call uses
 * it (``take`` runs Python code, which may let another thread in); another call meanwhile
 * packs into a block of its own. */
static char *packing = NULL;
static Py_ssize_t packing_capacity = 0;
static int packing_busy = 0;

/* Room for ``more`` bytes after ``used`` in ``*out`` (of ``*capacity``), grown by half again
 * at least; 0, or -1 with MemoryError. */
static int reserve(char **out, Py_ssize_t *capacity, Py_ssize_t used, Py_ssize_t more) {
    if (used + more <= *capacity)
        return 0;
    if (more > PY_SSIZE_T_MAX / 2 - used) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t wanted = Py_MAX(used + more, *capacity + *capacity / 2);
    char *grown = PyMem_Realloc(*out, (size_t)wanted);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *out = grown;
    *capacity = wanted;
    return 0;
}

/* Pack every value of ``rows`` into ``*out``: its size, -1 with an exception set on an error,
 * or -2 when they are not to be packed (a row that is not a tuple of the first one's width, a
 * value of no type this binds, a text that cannot be UTF-8: the caller sends them as they
 * are). Each value is packed as it is read, while its object is in the cache: a pass that
 * read every value first, then another that packed them, cost twice the trips to memory. */
static Py_ssize_t pack_all(PyObject *rows, char **out, Py_ssize_t *capacity) {
    Py_ssize_t n = PyList_GET_SIZE(rows);
    Py_ssize_t width = n && PyTuple_Check(PyList_GET_ITEM(rows, 0)) ? PyTuple_GET_SIZE(PyList_GET_ITEM(rows, 0)) : -1;
    if (width < 1)
        return -2;
    Py_ssize_t used = 0;
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != width)
            return -2;
        for (Py_ssize_t c = 0; c < width; c++) {
            Value v;
            int read = read_value(PyTuple_GET_ITEM(row, c), &v);
            if (read > 0)
                return -2;
            if (read < 0) {
                if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
                    return -1;
                PyErr_Clear();
                return -2;
            }
            if (reserve(out, capacity, used, packed_size(&v)) < 0)
                return -1;
            used = pack_value(*out + used, &v) - *out;
        }
    }
    return used;
}

/* pack_rows(rows, take) -> what ``take(size)`` gave (a writable buffer of ``size`` bytes),
 * holding the rows packed; None when they are not to be packed (they then travel as they
 * are). */
static PyObject *pack_rows(PyObject *self, PyObject *args) {
    PyObject *rows, *take;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &rows, &take))
        return NULL;
    int own = !packing_busy;
    char *out = own ? packing : NULL;
    Py_ssize_t capacity = own ? packing_capacity : 0;
    packing_busy = 1;
    Py_INCREF(rows);  /* ``take`` may run any Python code */
    Py_ssize_t size = pack_all(rows, &out, &capacity);
    PyObject *result = NULL;
    if (size == -2)
        result = Py_NewRef(Py_None);
    else if (size >= 0)
        result = PyObject_CallFunction(take, "n", size);
    if (result != NULL && result != Py_None) {
        Py_buffer buffer;
        if (PyObject_GetBuffer(result, &buffer, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
            Py_CLEAR(result);
        } else {
            if (buffer.len != size) {
                PyErr_SetString(PyExc_ValueError, "pack_rows: take(size) gave a buffer of another size");
                Py_CLEAR(result);
            } else if (size > 0) {
                memcpy(buffer.buf, out, (size_t)size);
            }
            PyBuffer_Release(&buffer);
        }
    }
    Py_DECREF(rows);
    if (own) {
        packing = out;
        packing_capacity = capacity;
        packing_busy = 0;
    } else {
        PyMem_Free(out);
    }
    return result;
}

/* The packed value at data[at:], into ``v`` (pointing into data); where the next one starts,
 * or -1 when the bytes up to ``size`` do not hold a whole value there. */
static Py_ssize_t read_packed_value(const char *data, Py_ssize_t size, Py_ssize_t at, Value *v) {
    if (at < 0 || at >= size)
        return -1;
    char tag = data[at++];
    if (tag == TAG_NULL) {
        v->kind = V_NULL;
        return at;
    }
    if (tag == TAG_INT || tag == TAG_DOUBLE) {
        if (size - at < 8)
            return -1;
        v->kind = tag == TAG_INT ? V_INT : V_DOUBLE;
        memcpy(tag == TAG_INT ? (void *)&v->as.number : (void *)&v->as.real, data + at, 8);
        return at + 8;
    }
    if (tag == TAG_TEXT || tag == TAG_BLOB) {
        int32_t length;
        if (size - at < 4)
            return -1;
        memcpy(&length, data + at, 4);
        at += 4;
        if (length < 0 || size - at < length)
            return -1;
        v->kind = tag == TAG_TEXT ? V_TEXT : V_BLOB;
        v->as.span.data = data + at;
        v->as.span.size = length;
        return at + length;
    }
    return -1;
}

static void *not_announced(void) {
    PyErr_SetString(PyExc_ValueError, "packed rows: not the values announced");
    return NULL;
}

/* The ``rows`` rows of ``width`` values packed in ``data``, pointing into it, each row
 * ``stride`` values after the one before (``give_back`` the array); NULL with ValueError when
 * the bytes are not exactly that many packed values. */
static Value *read_packed(const char *data, Py_ssize_t size, Py_ssize_t rows, Py_ssize_t width, Py_ssize_t stride) {
    Value *values = take_values(rows * stride);
    if (values == NULL)
        return NULL;
    Py_ssize_t at = 0;
    for (Py_ssize_t r = 0; r < rows && at >= 0; r++)
        for (Py_ssize_t c = 0; c < width && at >= 0; c++)
            at = read_packed_value(data, size, at, values + r * stride + c);
    if (at == size)
        return values;
    give_back(values);
    return not_announced();
}

/* The packed argument of unpack_rows and insert_packed: its values, checked, ``stride`` a row
 * (see ``read_packed``). */
static Value *packed_values(Py_buffer *packed, Py_ssize_t rows, Py_ssize_t width, Py_ssize_t stride) {
    if (rows < 0 || width < 1 || rows > PY_SSIZE_T_MAX / stride) {
        PyErr_SetString(PyExc_ValueError, "packed rows: bad row count or width");
        return NULL;
    }
    return read_packed(packed->buf, packed->len, rows, width, stride);
}

static PyObject *value_object(const Value *v) {
    switch (v->kind) {
    case V_NULL:
        Py_RETURN_NONE;
    case V_INT:
        return PyLong_FromLongLong(v->as.number);
    case V_DOUBLE:
        return PyFloat_FromDouble(v->as.real);
    case V_TEXT:
        return PyUnicode_DecodeUTF8(v->as.span.data, v->as.span.size, "strict");
    default:
        return PyBytes_FromStringAndSize(v->as.span.data, v->as.span.size);
    }
}

/* unpack_rows(packed, rows, width) -> the list of row tuples pack_rows packed. */
static PyObject *unpack_rows(PyObject *self, PyObject *args) {
    Py_buffer packed;
    Py_ssize_t n, width;
    if (!PyArg_ParseTuple(args, "y*nn", &packed, &n, &width))
        return NULL;
    Value *values = packed_values(&packed, n, width, width);
    PyObject *rows = values ? PyList_New(n) : NULL;
    for (Py_ssize_t r = 0; rows && r < n; r++) {
        PyObject *row = PyTuple_New(width);
        if (row == NULL) {
            Py_CLEAR(rows);
            break;
        }
        PyList_SET_ITEM(rows, r, row);
        for (Py_ssize_t c = 0; c < width; c++) {
            PyObject *value = value_object(values + r * width + c);
            if (value == NULL) {
                Py_CLEAR(rows);
                break;
            }
            PyTuple_SET_ITEM(row, c, value);
        }
    }
    give_back(values);
    PyBuffer_Release(&packed);
    return rows;
}

/* row_offsets(packed, rows, width) -> bytes: where each row of the packed rows starts (a
 * native Py_ssize_t each), for pick_rows; ValueError as unpack_rows when the bytes are not
 * the rows announced. One pass that makes no object. */
static PyObject *row_offsets(PyObject *self, PyObject *args) {
    Py_buffer packed;
    Py_ssize_t n, width;
    if (!PyArg_ParseTuple(args, "y*nn", &packed, &n, &width))
        return NULL;
    PyObject *out = NULL;
    if (n < 0 || width < 1 || n > PY_SSIZE_T_MAX / width / (Py_ssize_t)sizeof(Py_ssize_t)) {
        PyErr_SetString(PyExc_ValueError, "packed rows: bad row count or width");
    } else if ((out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(Py_ssize_t))) != NULL) {
        Py_ssize_t *starts = (Py_ssize_t *)PyBytes_AS_STRING(out), at = 0;
        Value ignored;
        for (Py_ssize_t r = 0; r < n && at >= 0; r++) {
            starts[r] = at;
            for (Py_ssize_t c = 0; c < width && at >= 0; c++)
                at = read_packed_value(packed.buf, packed.len, at, &ignored);
        }
        if (at != packed.len) {
            Py_CLEAR(out);
            not_announced();
        }
    }
    PyBuffer_Release(&packed);
    return out;
}

/* How pick_rows converts one column's values: ``convert(text)``, each distinct value once
 * (``seen`` maps what was converted to what it gave). */
typedef struct {
    Py_ssize_t column; /* among the picked columns; -1: none is converted */
    PyObject *convert, *seen;
    PyObject *shared;  /* a dict, or NULL: each text is the first equal one picked (kept here) */
} Conversion;

static PyObject *converted(PyObject *value, const Conversion *how) {
    if (value == Py_None)
        return value;
    PyObject *done = PyDict_GetItemWithError(how->seen, value);
    if (done != NULL) {
        Py_INCREF(done);
    } else if (!PyErr_Occurred() && (done = PyObject_CallOneArg(how->convert, value)) != NULL &&
               PyDict_SetItem(how->seen, value, done) < 0) {
        Py_CLEAR(done);
    }
    Py_DECREF(value);
    return done;
}

/* The first text equal to ``value`` that ``shared`` met (``value`` itself the first time):
 * the rows of one call repeat their users, tags and URIs, which then take memory once. */
static PyObject *shared_text(PyObject *value, PyObject *shared) {
    PyObject *first = PyDict_SetDefault(shared, value, value);
    Py_XINCREF(first);
    Py_DECREF(value);
    return first;
}

/* One picked row: its place, then the values of the ``count`` columns of the row at data[at:]. */
static PyObject *picked_row(const char *data, Py_ssize_t size, Py_ssize_t at, Value *row, Py_ssize_t width,
                            PyObject *place, const Py_ssize_t *columns, Py_ssize_t count, const Conversion *how) {
    for (Py_ssize_t c = 0; c < width; c++)
        if ((at = read_packed_value(data, size, at, row + c)) < 0)
            return not_announced();
    PyObject *tuple = PyTuple_New(count + 1);
    if (tuple == NULL)
        return NULL;
    Py_INCREF(place);
    PyTuple_SET_ITEM(tuple, 0, place);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *value = value_object(row + columns[k]);
        if (value != NULL && k == how->column)
            value = converted(value, how);
        else if (value != NULL && how->shared != NULL && row[columns[k]].kind == V_TEXT)
            value = shared_text(value, how->shared);
        if (value == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, k + 1, value);
    }
    return tuple;
}

/* The column indexes of ``columns``, each checked against ``width``; NULL with an exception. */
static Py_ssize_t *column_indexes(PyObject *columns, Py_ssize_t width) {
    Py_ssize_t count = PyTuple_GET_SIZE(columns);
    Py_ssize_t *indexes = PyMem_New(Py_ssize_t, count ? count : 1);
    if (indexes == NULL)
        return (Py_ssize_t *)PyErr_NoMemory();
    for (Py_ssize_t k = 0; k < count; k++) {
        indexes[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(columns, k));
        if (indexes[k] < 0 || indexes[k] >= width) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_IndexError, "pick_rows: column out of range");
            PyMem_Free(indexes);
            return NULL;
        }
    }
    return indexes;
}

/* pick_rows(packed, offsets, width, positions, columns[, converted, convert, seen, shared]) ->
 * [(position, *the values of ``columns``) of the row at each of ``positions``]: a few rows of
 * packed rows as objects, without making any of the others (``offsets`` from row_offsets).
 * The value of ``columns[converted]``, when not None, is ``convert(value)``, made once for
 * each distinct value (``seen``, a dict, keeps them); with ``shared`` (a dict), equal texts of
 * the other columns are one object. */
static PyObject *pick_rows(PyObject *self, PyObject *args) {
    Py_buffer packed, offsets;
    Py_ssize_t width;
    PyObject *positions, *columns;
    Conversion how = {-1, NULL, NULL, NULL};
    if (!PyArg_ParseTuple(args, "y*y*nO!O!|nOO!O!", &packed, &offsets, &width, &PyList_Type, &positions,
                          &PyTuple_Type, &columns, &how.column, &how.convert, &PyDict_Type, &how.seen,
                          &PyDict_Type, &how.shared))
        return NULL;
    Py_ssize_t *indexes = NULL;
    Value *row = NULL;
    PyObject *out = NULL;
    if (how.column >= 0 && (how.convert == NULL || how.seen == NULL || !PyCallable_Check(how.convert)))
        PyErr_SetString(PyExc_TypeError, "pick_rows: a converted column needs convert and seen");
    else if (width < 1 || width >= 4096)
        PyErr_SetString(PyExc_ValueError, "packed rows: bad width");
    else if ((indexes = column_indexes(columns, width)) != NULL && (row = PyMem_New(Value, width)) == NULL)
        PyErr_NoMemory();
    else if (row != NULL)
        out = PyList_New(PyList_GET_SIZE(positions));
    Py_ssize_t rows = offsets.len / (Py_ssize_t)sizeof(Py_ssize_t), count = PyTuple_GET_SIZE(columns);
    const Py_ssize_t *starts = offsets.buf;
    for (Py_ssize_t i = 0; out != NULL && i < PyList_GET_SIZE(positions); i++) {
        PyObject *place = PyList_GET_ITEM(positions, i);
        Py_ssize_t p = PyLong_AsSsize_t(place);
        PyObject *picked = NULL;
        if (p >= 0 && p < rows)
            picked = picked_row(packed.buf, packed.len, starts[p], row, width, place, indexes, count, &how);
        else if (!PyErr_Occurred())
            PyErr_SetString(PyExc_IndexError, "pick_rows: row out of range");
        if (picked == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, picked);
    }
    PyMem_Free(indexes);
    PyMem_Free(row);
    PyBuffer_Release(&packed);
    PyBuffer_Release(&offsets);
    return out;
}

/* insert_packed(connection, path, many_sql, per, one_sql, packed, rows, width, last=None) ->
 * rows inserted: insert_rows of the rows pack_rows packed, bound from the packed bytes. */
static PyObject *insert_packed(PyObject *self, PyObject *args) {
    PyObject *connection, *many_sql, *one_sql, *last = Py_None;
    const char *path;
    Py_ssize_t per, n, width;
    Py_buffer packed;
    if (!PyArg_ParseTuple(args, "OsUnUy*nn|O", &connection, &path, &many_sql, &per, &one_sql, &packed, &n, &width,
                          &last))
        return NULL;
    PyObject *done = NULL;
    sqlite3 *db = writable(connection, path, per);
    int extra = db ? last_width(last, n) : -1;
    Value *values = extra >= 0 ? packed_values(&packed, n, width, width + extra) : NULL;
    if (values != NULL)
        done = n ? insert_with_last(db, many_sql, per, one_sql, values, n, width, last) : PyLong_FromLong(0);
    give_back(values);
    PyBuffer_Release(&packed);
    return done;
}

static PyMethodDef methods[] = {
    {"init", init, METH_VARARGS, "init(sqlite3_module_path, OperationalError, IntegrityError): find SQLite."},
    {"database", database, METH_VARARGS, "database(connection, path): True if the handle is that file's."},
    {"insert_rows", insert_rows, METH_VARARGS,
     "insert_rows(connection, path, many_sql, per, one_sql, rows, last=None) -> inserted rows, or None."},
    {"forget", forget, METH_O, "forget(connection): finalize the statements kept for the connection."},
    {"pack_rows", pack_rows, METH_VARARGS,
     "pack_rows(rows, take) -> take(size), a writable buffer of size bytes, holding the rows packed; None "
     "when they are not to be packed."},
    {"unpack_rows", unpack_rows, METH_VARARGS, "unpack_rows(packed, rows, width) -> the rows packed."},
    {"row_offsets", row_offsets, METH_VARARGS, "row_offsets(packed, rows, width) -> where each row starts."},
    {"pick_rows", pick_rows, METH_VARARGS,
     "pick_rows(packed, offsets, width, positions, columns[, converted, convert, seen]) -> "
     "(position, *columns) of some rows."},
    {"insert_packed", insert_packed, METH_VARARGS,
     "insert_packed(connection, path, many_sql, per, one_sql, packed, rows, width, last=None) -> inserted rows."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sqlbind", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sqlbind(void) { return PyModule_Create(&module); }
