/* A batch's row tuples, made and looked over in C.
 *
 * slot_rows makes the rows of a batch of messages straight from their slots. Reading them
 * with operator.attrgetter goes through the attribute protocol for each of the 39 columns,
 * about a tenth of a microsecond each, and the row is then a second tuple joined to the three
 * computed values: together some 4 microseconds a message, the largest part of building it.
 *
 * Before a batch is written, sipparse.store.rows looks at every clipped text column and every
 * bounded integer column of every row for a value past its limit, so that only a batch that
 * holds one is rewritten. In Python that look is a pass over the rows per column, 16 text
 * and 6 integer columns: about 1.7 microseconds a message, as much as building its row.
 * Here it is one pass over the rows, a few nanoseconds a value. summary_groups makes the
 * batch's summary inputs (its rows' call-summary columns, by Call-ID) in one pass too.
 *
 * Each function answers exactly as the Python code would, or None when a row or a value is
 * of a shape it does not decide (the Python code then runs).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <limits.h>
#include <structmember.h>

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

/* ------------------------------------------------------------------------------------------
 * The summary inputs of a batch (sipparse.store.rows.summary_inputs): for every row, the
 * ``rowtype`` tuple (place in the batch, timestamp, the row's ``fields``), and those of each
 * Call-ID in row order. In Python: four passes and three tuples a row, 2 microseconds a
 * message; here one pass and one tuple.
 */

/* Whether the rows' source keys (fingerprint, offset) are certainly all different: one
 * fingerprint, offsets increasing. 0 when that is not sure (not an error), -1 on an error. */
static int keys_differ(PyObject *rows, Py_ssize_t fingerprint_at, Py_ssize_t offset_at) {
    Py_ssize_t n = PyList_GET_SIZE(rows);
    PyObject *first = NULL;
    long long last = 0;
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        PyObject *fingerprint = PyTuple_GET_ITEM(row, fingerprint_at), *offset = PyTuple_GET_ITEM(row, offset_at);
        if (!PyLong_CheckExact(offset))
            return 0;
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(offset, &overflow);
        if (overflow || (value == -1 && PyErr_Occurred()))
            return PyErr_Occurred() ? -1 : 0;
        if (r == 0) {
            first = fingerprint;
        } else {
            if (value <= last)
                return 0;
            if (fingerprint != first) {
                int same = PyObject_RichCompareBool(fingerprint, first, Py_EQ);
                if (same <= 0)
                    return same;
            }
        }
        last = value;
    }
    return 1;
}

/* rowtype(place, stamp, *row[fields]), made as tuple.__new__(rowtype, ...) makes it. */
static PyObject *entry_of(PyTypeObject *rowtype, Py_ssize_t place, PyObject *stamp, PyObject *row,
                          const Py_ssize_t *fields, Py_ssize_t count) {
    PyObject *entry = rowtype->tp_alloc(rowtype, count + 2);
    PyObject *number = entry ? PyLong_FromSsize_t(place) : NULL;
    if (number == NULL) {
        Py_XDECREF(entry);
        return NULL;
    }
    PyTuple_SET_ITEM(entry, 0, number);
    Py_INCREF(stamp);
    PyTuple_SET_ITEM(entry, 1, stamp);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *value = PyTuple_GET_ITEM(row, fields[k]);
        Py_INCREF(value);
        PyTuple_SET_ITEM(entry, k + 2, value);
    }
    return entry;
}

/* Whether an entry is normal as calls.is_normal says of a batch's entries: its timestamp a
 * datetime or None; a request (no status code) with a method that is true, a response with
 * no method and a reason phrase. 1 or 0; -1 with an exception set (a method's truth failed).
 * The entry's fields are calls.INPUT_COLUMNS: timestamp, sip_method, method, status_code,
 * reason_phrase at 1 to 5. */
static int entry_normal(PyObject *entry) {
    PyObject *stamp = PyTuple_GET_ITEM(entry, 1);
    if (stamp != Py_None && !PyDateTime_Check(stamp))
        return 0;
    PyObject *method = PyTuple_GET_ITEM(entry, 3);
    if (PyTuple_GET_ITEM(entry, 4) == Py_None)
        return PyObject_IsTrue(method);
    return method == Py_None && PyTuple_GET_ITEM(entry, 5) != Py_None;
}

/* ``place`` appended to the list of ``call_id`` in ``places``, made if need be; 0, or -1 with
 * an exception set. */
static int append_place(PyObject *places, PyObject *call_id, PyObject *place) {
    PyObject *list = PyDict_GetItemWithError(places, call_id);
    if (list == NULL) {
        if (PyErr_Occurred() || (list = PyList_New(0)) == NULL)
            return -1;
        int set = PyDict_SetItem(places, call_id, list);
        Py_DECREF(list);  /* the dict holds it */
        if (set < 0)
            return -1;
    }
    return PyList_Append(list, place);
}

/* summary_groups(rows, stamps, call_id_at, fields, rowtype, key_at, places=False) -> (by_call,
 * normal), or None when some row is not a tuple wide enough or two rows may share a source key
 * (then the caller drops repeated rows in Python). ``by_call`` maps each Call-ID (rows without
 * one are left out) to its entries, in row order; ``normal`` is calls.is_normal of every row's
 * entry, checked as each is made instead of in passes over them all afterwards. The fields
 * must put an entry's method, status code and reason phrase at 3, 4 and 5, as INPUT_COLUMNS
 * does. With ``places``, a third item maps each Call-ID to its entries' places (their first
 * item), which a parse worker sends instead of the entries. */
static PyObject *summary_groups(PyObject *self, PyObject *args) {
    PyObject *rows, *stamps, *fields_arg, *key_at;
    Py_ssize_t call_id_at, fingerprint_at, offset_at;
    PyTypeObject *rowtype;
    int with_places = 0;
    if (!PyArg_ParseTuple(args, "O!O!nO!O!O!|p", &PyList_Type, &rows, &PyList_Type, &stamps, &call_id_at,
                          &PyTuple_Type, &fields_arg, &PyType_Type, &rowtype, &PyTuple_Type, &key_at, &with_places))
        return NULL;
    if (!PyType_IsSubtype(rowtype, &PyTuple_Type) || PyTuple_GET_SIZE(key_at) != 2) {
        PyErr_SetString(PyExc_TypeError, "summary_groups: a tuple type and a (fingerprint, offset) pair expected");
        return NULL;
    }
    fingerprint_at = PyLong_AsSsize_t(PyTuple_GET_ITEM(key_at, 0));
    offset_at = PyLong_AsSsize_t(PyTuple_GET_ITEM(key_at, 1));
    Py_ssize_t n = PyList_GET_SIZE(rows), count = PyTuple_GET_SIZE(fields_arg);
    if (PyErr_Occurred())
        return NULL;
    if (PyList_GET_SIZE(stamps) != n) {
        PyErr_SetString(PyExc_ValueError, "summary_groups: one timestamp per row expected");
        return NULL;
    }
    Py_ssize_t *fields = PyMem_New(Py_ssize_t, count ? count : 1);
    if (fields == NULL)
        return PyErr_NoMemory();
    Py_ssize_t lowest = Py_MIN(call_id_at, Py_MIN(fingerprint_at, offset_at));
    Py_ssize_t widest = Py_MAX(call_id_at, Py_MAX(fingerprint_at, offset_at));
    for (Py_ssize_t k = 0; k < count; k++) {
        fields[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(fields_arg, k));
        lowest = Py_MIN(lowest, fields[k]);
        widest = Py_MAX(widest, fields[k]);
    }
    PyObject *result = NULL, *by_call = NULL, *places = NULL;
    if (PyErr_Occurred() || lowest < 0)
        goto done;

    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) <= widest) {
            result = Py_None;
            Py_INCREF(result);
            goto done;
        }
    }
    if (count < 4) {  /* an entry's reason phrase, which entry_normal reads, is fields[3] */
        PyErr_SetString(PyExc_ValueError, "summary_groups: fields up to the reason phrase expected");
        goto done;
    }
    int differ = keys_differ(rows, fingerprint_at, offset_at);
    if (differ <= 0) {
        if (differ == 0) {
            result = Py_None;
            Py_INCREF(result);
        }
        goto done;
    }
    int normal = 1;
    by_call = PyDict_New();
    if (by_call != NULL && with_places && (places = PyDict_New()) == NULL)
        goto done;
    for (Py_ssize_t r = 0; by_call != NULL && r < n; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        PyObject *entry = entry_of(rowtype, r, PyList_GET_ITEM(stamps, r), row, fields, count);
        if (entry == NULL)
            goto done;
        if (normal && (normal = entry_normal(entry)) < 0) {
            Py_DECREF(entry);
            goto done;
        }
        PyObject *call_id = PyTuple_GET_ITEM(row, call_id_at);
        if (call_id == Py_None) {
            Py_DECREF(entry);
            continue;
        }
        PyObject *group = PyDict_GetItemWithError(by_call, call_id);
        if (group == NULL) {
            if (PyErr_Occurred() || (group = PyList_New(0)) == NULL) {
                Py_DECREF(entry);
                goto done;
            }
            int set = PyDict_SetItem(by_call, call_id, group);
            Py_DECREF(group);  /* the dict holds it */
            if (set < 0) {
                Py_DECREF(entry);
                goto done;
            }
        }
        int appended = PyList_Append(group, entry);
        if (appended == 0 && places != NULL)
            appended = append_place(places, call_id, PyTuple_GET_ITEM(entry, 0));
        Py_DECREF(entry);  /* its group holds it */
        if (appended < 0)
            goto done;
    }
    if (by_call != NULL && places != NULL)
        result = Py_BuildValue("(OOO)", by_call, normal ? Py_True : Py_False, places);
    else if (by_call != NULL)
        result = Py_BuildValue("(OO)", by_call, normal ? Py_True : Py_False);
done:
    Py_XDECREF(by_call);
    Py_XDECREF(places);
    PyMem_Free(fields);
    if (result == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "summary_groups: bad field index");
    return result;
}

/* ------------------------------------------------------------------------------------------
 * The rows of a batch of messages, read from their slots (sipparse.store.rows.message_rows).
 */

/* A column's way to its value: one slot of the message, or a slot of the object in a slot. */
typedef struct {
    Py_ssize_t offset;       /* of the slot in the message */
    PyTypeObject *inner;     /* NULL, or the exact type of the object in that slot */
    Py_ssize_t inner_offset; /* of the slot in that object */
} SlotPath;

/* The offset of a member descriptor's slot, and its owner; -1 when ``descr`` is not the
 * descriptor of a plain object slot. */
static Py_ssize_t slot_of(PyObject *descr, PyTypeObject **owner) {
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type))
        return -1;
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX || (member->flags & READONLY) != 0)
        return -1;
    *owner = PyDescr_TYPE(descr);
    return member->offset;
}

/* The paths of ``specs`` (each a member descriptor, or a pair of them for an attribute of an
 * attribute), all starting at ``*message_type``; 0 when one is of another shape. */
static int read_paths(PyObject *specs, SlotPath *paths, PyTypeObject **message_type) {
    Py_ssize_t n = PyTuple_GET_SIZE(specs);
    *message_type = NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *spec = PyTuple_GET_ITEM(specs, k), *first = spec, *second = NULL;
        if (PyTuple_Check(spec)) {
            if (PyTuple_GET_SIZE(spec) != 2)
                return 0;
            first = PyTuple_GET_ITEM(spec, 0);
            second = PyTuple_GET_ITEM(spec, 1);
        }
        PyTypeObject *owner;
        paths[k].offset = slot_of(first, &owner);
        if (paths[k].offset < 0 || (*message_type != NULL && owner != *message_type))
            return 0;
        *message_type = owner;
        paths[k].inner = NULL;
        if (second != NULL && (paths[k].inner_offset = slot_of(second, &paths[k].inner)) < 0)
            return 0;
    }
    return *message_type != NULL;
}

/* The value at ``path`` in ``message`` (borrowed), NULL when a slot is empty or an object on
 * the way is not of the type the path was made for. */
static PyObject *value_at(PyObject *message, const SlotPath *path) {
    PyObject *value = *(PyObject **)((char *)message + path->offset);
    if (value == NULL || path->inner == NULL)
        return value;
    if (!Py_IS_TYPE(value, path->inner))
        return NULL;
    return *(PyObject **)((char *)value + path->inner_offset);
}

/* The row of one message: its values at ``paths``, then ``tail``'s (borrowed) values. A new
 * reference; Py_None (borrowed, not to be released) when the message is not read here. */
static PyObject *slot_row(PyObject *message, const SlotPath *paths, Py_ssize_t width,
                          PyObject *const *tail, Py_ssize_t tail_width) {
    PyObject *row = PyTuple_New(width + tail_width);
    if (row == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < width; k++) {
        PyObject *value = value_at(message, &paths[k]);
        if (value == NULL) {
            Py_DECREF(row);  /* its empty items are NULL, which tuple deallocation skips */
            return Py_None;
        }
        PyTuple_SET_ITEM(row, k, Py_NewRef(value));
    }
    for (Py_ssize_t k = 0; k < tail_width; k++)
        PyTuple_SET_ITEM(row, width + k, Py_NewRef(tail[k]));
    return row;
}

/* The limits ``slot_rows`` checks each row against as it is made: (index, limit) pairs of
 * integers and of texts, as ``larger_than`` and ``longer_than`` take them. */
typedef struct {
    Py_ssize_t ints, texts;
    Py_ssize_t *int_at, *text_at;
    long long *int_limit, *text_limit;
} RowLimits;

static PyObject *slot_rows_checked(PyObject *messages, PyObject *specs, PyObject *times, PyObject *notes,
                                   PyObject *now, const RowLimits *limits, int *past);

/* 0 when every value of ``row`` at the limits is within them, 1 when one is past its limit,
 * 2 when one is of a type the checks do not decide (as ``exceeds`` answers for a batch). */
static int row_past(PyObject *row, const RowLimits *limits) {
    int answer = 0;
    for (Py_ssize_t i = 0; i < limits->ints; i++) {
        if (limits->int_at[i] >= PyTuple_GET_SIZE(row))
            return 2;
        int past = integer_past(PyTuple_GET_ITEM(row, limits->int_at[i]), limits->int_limit[i]);
        if (past == 2)
            return 2;
        answer |= past;
    }
    for (Py_ssize_t i = 0; i < limits->texts; i++) {
        if (limits->text_at[i] >= PyTuple_GET_SIZE(row))
            return 2;
        int past = text_past(PyTuple_GET_ITEM(row, limits->text_at[i]), limits->text_limit[i]);
        if (past == 2)
            return 2;
        answer |= past;
    }
    return answer;
}

/* slot_rows(messages, specs, times, notes, now, ints=None, texts=None) -> [row, ...], each row
 * the values at ``specs`` then (times[i], notes[i], now); notes None stands for a None note
 * each. None when a message is not exactly of the type the specs are of, or has a slot that
 * is not set. Given the limits ``ints`` and ``texts``, (rows, past): whether a value of the
 * rows is past its limit, as larger_than and longer_than would answer, None when either would
 * answer None; checked as each row is made, while its values are in the cache, instead of in
 * two passes over the batch afterwards. */
static PyObject *slot_rows(PyObject *self, PyObject *args) {
    PyObject *messages, *specs, *times, *notes, *now, *ints = Py_None, *texts = Py_None;
    if (!PyArg_ParseTuple(args, "O!O!O!OO|OO", &PyList_Type, &messages, &PyTuple_Type, &specs, &PyList_Type, &times,
                          &notes, &now, &ints, &texts))
        return NULL;
    if ((ints == Py_None) != (texts == Py_None)) {
        PyErr_SetString(PyExc_TypeError, "slot_rows: both limits or neither expected");
        return NULL;
    }
    RowLimits limits = {0, 0, NULL, NULL, NULL, NULL};
    int checked = ints != Py_None, past = 0;
    if (checked) {
        if ((limits.ints = read_limits(ints, &limits.int_at, &limits.int_limit)) < 0)
            return NULL;
        if ((limits.texts = read_limits(texts, &limits.text_at, &limits.text_limit)) < 0) {
            PyMem_Free(limits.int_at);
            PyMem_Free(limits.int_limit);
            return NULL;
        }
    }
    PyObject *made = slot_rows_checked(messages, specs, times, notes, now, checked ? &limits : NULL, &past);
    if (checked) {
        PyMem_Free(limits.int_at);
        PyMem_Free(limits.int_limit);
        PyMem_Free(limits.text_at);
        PyMem_Free(limits.text_limit);
    }
    if (made == NULL || made == Py_None || !checked)
        return made;
    PyObject *verdict = past == 2 ? Py_None : past ? Py_True : Py_False;
    PyObject *result = PyTuple_Pack(2, made, verdict);
    Py_DECREF(made);
    return result;
}

/* The rows of slot_rows, each checked against ``limits`` (NULL: none), the worst answer of
 * ``row_past`` in ``*past``. */
static PyObject *slot_rows_checked(PyObject *messages, PyObject *specs, PyObject *times, PyObject *notes,
                                   PyObject *now, const RowLimits *limits, int *past) {
    Py_ssize_t n = PyList_GET_SIZE(messages), width = PyTuple_GET_SIZE(specs);
    if (PyList_GET_SIZE(times) != n || (notes != Py_None && (!PyList_Check(notes) || PyList_GET_SIZE(notes) != n))) {
        PyErr_SetString(PyExc_ValueError, "slot_rows: one time and one note (or notes None) per message expected");
        return NULL;
    }
    SlotPath *paths = PyMem_New(SlotPath, width ? width : 1);
    if (paths == NULL)
        return PyErr_NoMemory();
    PyTypeObject *message_type;
    PyObject *rows = NULL;
    if (!read_paths(specs, paths, &message_type)) {
        PyMem_Free(paths);
        Py_RETURN_NONE;
    }
    rows = PyList_New(n);
    for (Py_ssize_t i = 0; rows != NULL && i < n; i++) {
        PyObject *message = PyList_GET_ITEM(messages, i);
        PyObject *tail[3] = {PyList_GET_ITEM(times, i), notes == Py_None ? Py_None : PyList_GET_ITEM(notes, i), now};
        PyObject *row = Py_IS_TYPE(message, message_type) ? slot_row(message, paths, width, tail, 3) : Py_None;
        if (row == NULL || row == Py_None) {
            Py_CLEAR(rows);
            if (row == Py_None)
                rows = Py_NewRef(Py_None);
            break;
        }
        PyList_SET_ITEM(rows, i, row);
        if (limits != NULL && *past != 2) {
            int answer = row_past(row, limits);
            *past = answer == 2 ? 2 : *past | answer;
        }
    }
    PyMem_Free(paths);
    return rows;
}

/* stamps_of(messages, specs) -> (stamps, aware, missing, noted), or None when a message is not
 * exactly of the specs' type, has a slot that is not set, or a timestamp that is neither None
 * nor a datetime. ``specs``: the member descriptors of a message's timestamp and problems.
 * ``stamps`` is each message's timestamp; ``aware`` whether one has a tzinfo, ``missing``
 * whether one is None, ``noted`` whether a message has problems: what message_rows asks of
 * them, in one pass over the messages instead of five over them and their timestamps. */
static PyObject *stamps_of(PyObject *self, PyObject *args) {
    PyObject *messages, *specs;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &messages, &PyTuple_Type, &specs))
        return NULL;
    if (PyTuple_GET_SIZE(specs) != 2) {
        PyErr_SetString(PyExc_ValueError, "stamps_of: the specs of the timestamp and the problems expected");
        return NULL;
    }
    SlotPath paths[2];
    PyTypeObject *message_type;
    if (!read_paths(specs, paths, &message_type))
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(messages);
    PyObject *stamps = PyList_New(n);
    int aware = 0, missing = 0, noted = 0;
    for (Py_ssize_t i = 0; stamps != NULL && i < n; i++) {
        PyObject *message = PyList_GET_ITEM(messages, i);
        PyObject *stamp = Py_IS_TYPE(message, message_type) ? value_at(message, &paths[0]) : NULL;
        PyObject *problems = stamp != NULL ? value_at(message, &paths[1]) : NULL;
        if (problems == NULL || (stamp != Py_None && !PyDateTime_CheckExact(stamp))) {
            Py_DECREF(stamps);
            Py_RETURN_NONE;
        }
        PyList_SET_ITEM(stamps, i, Py_NewRef(stamp));
        if (stamp == Py_None) {
            missing = 1;
        } else if (!aware && ((PyDateTime_DateTime *)stamp)->hastzinfo) {
            int truth = PyObject_IsTrue(((PyDateTime_DateTime *)stamp)->tzinfo);
            if (truth < 0)
                Py_CLEAR(stamps);
            aware = truth > 0;
        }
        if (stamps != NULL && !noted) {
            int truth = PyObject_IsTrue(problems);
            if (truth < 0)
                Py_CLEAR(stamps);
            noted = truth > 0;
        }
    }
    if (stamps == NULL)
        return NULL;
    PyObject *result = Py_BuildValue("(NOOO)", stamps, aware ? Py_True : Py_False, missing ? Py_True : Py_False,
                                     noted ? Py_True : Py_False);
    return result;
}

/* ------------------------------------------------------------------------------------------
 * Whether a batch's values can all be bound (sipparse.store.rows.encodable): every str
 * encodes to UTF-8, which one with a lone surrogate (an undecodable byte of the log, kept
 * by surrogateescape) does not. An ASCII str is known to at a glance; any other is encoded
 * once, into the UTF-8 copy the str keeps, which binding it reads later anyway.
 */

static PyObject *encodable(PyObject *self, PyObject *rows) {
    if (!PyList_Check(rows)) {
        PyErr_SetString(PyExc_TypeError, "encodable() takes a list of tuples");
        return NULL;
    }
    for (Py_ssize_t r = 0; r < PyList_GET_SIZE(rows); r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyTuple_Check(row)) {
            PyErr_SetString(PyExc_TypeError, "encodable() takes a list of tuples");
            return NULL;
        }
        for (Py_ssize_t c = 0; c < PyTuple_GET_SIZE(row); c++) {
            PyObject *value = PyTuple_GET_ITEM(row, c);
            if (!PyUnicode_Check(value) || PyUnicode_IS_ASCII(value))
                continue;
            if (PyUnicode_AsUTF8AndSize(value, NULL) == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
                    return NULL;
                PyErr_Clear();
                Py_RETURN_FALSE;
            }
        }
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"longer_than", longer_than, METH_VARARGS,
     "longer_than(rows, limits) -> whether a str at an index of limits is longer than its limit; "
     "None when a value is neither str nor None."},
    {"larger_than", larger_than, METH_VARARGS,
     "larger_than(rows, limits) -> whether an int at an index of limits is larger in absolute value "
     "than its limit; None when a value is neither int nor None."},
    {"slot_rows", slot_rows, METH_VARARGS,
     "slot_rows(messages, specs, times, notes, now, ints=None, texts=None) -> the rows: each message's "
     "values at specs (member descriptors, or pairs of them), then its time, its note (notes None: None) "
     "and now; None when a message is not exactly of the specs' type or a slot is not set. Given the "
     "limits, (rows, whether a value is past its limit, or None when that is not decided here)."},
    {"summary_groups", summary_groups, METH_VARARGS,
     "summary_groups(rows, stamps, call_id_at, fields, rowtype, key_at, places=False) -> (by_call, normal), "
     "with places (by_call, normal, each Call-ID's places), or None when a row is not a wide enough tuple "
     "or two rows may share a source key."},
    {"stamps_of", stamps_of, METH_VARARGS,
     "stamps_of(messages, specs) -> (each message's timestamp, whether one has a tzinfo, whether one is "
     "None, whether a message has problems), or None when a message or a timestamp is not read here."},
    {"encodable", encodable, METH_O,
     "encodable(rows) -> whether every str of these rows (a list of tuples) encodes to UTF-8."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rows", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rows(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    return PyModule_Create(&module);
}
