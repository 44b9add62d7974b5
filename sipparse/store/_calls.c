/* The per-call summary of sipparse.store.calls, in C.
 *
 * The store summarises every call a batch touches: the calls first seen in it (in the parse
 * worker, or in the storing process) and those it continues (from the CallCache or from
 * their rows read back). In Python a summary costs some 15 microseconds for a call of half a
 * dozen rows, about 2 microseconds a stored message; here it is a few hundred nanoseconds.
 *
 * summarize(call_id, rows) takes the rows of one Call-ID as calls.summarize_tuples has them
 * once normalised and ordered (tuples in INPUT_COLUMNS order, timestamps naive datetimes or
 * None) and returns the fields of its CallSummary, in order, or None when a row or a value
 * is of a shape it does not decide (the Python code then runs). The rules are those of the
 * module docstring of sipparse/store/calls.py; each step below names the Python function it
 * mirrors.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <math.h>

enum { ID, TIMESTAMP, SIP_METHOD, METHOD, STATUS_CODE, REASON_PHRASE, CSEQ, CSEQ_METHOD, FROM_USER,
       TO_USER, FROM_SIP, TO_SIP, FROM_TAG, TO_TAG, VIA_BRANCH, DIRECTION, Q850_CAUSE, HOST, N_COLUMNS };

/* The request methods the rules name; OTHER is any other text, NONE a missing one. */
enum { M_NONE, M_OTHER, M_INVITE, M_ACK, M_BYE, M_CANCEL, M_REGISTER, M_OPTIONS };

/* Beyond this many rows the retransmissions are counted with a set, not pairwise. */
#define PAIRWISE_MAX 64
/* The span of a call's times (microseconds) within which every difference, in seconds,
 * converts to the double Python's timedelta.total_seconds() and round(..., 6) give. */
#define EXACT_MICROS (1LL << 52)

typedef struct {
    PyObject *row;      /* borrowed from the list */
    int has_time;
    long long micros;   /* of the timestamp, from 0001-01-01 */
    int method;         /* M_... of the request method */
    int method_truthy;  /* a non-empty method */
    int cseq_method;    /* M_... of the CSeq method */
    int has_code;
    long long code;
    int has_cseq;
    long long cseq;
    int to_tag_truthy;
} Info;

static PyObject *text_call, *text_register, *text_options, *text_other;
static PyObject *text_completed, *text_answered, *text_cancelled, *text_in_progress, *text_busy,
    *text_no_answer, *text_redirected, *text_failed, *text_caller, *text_callee, *text_in, *text_out;

/* Days from 0001-01-01 to a proleptic Gregorian date. */
static long long days_from_civil(long long y, long long m, long long d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 + 719162;
}

/* 1 when read, 0 when the value is not a naive datetime (or None: has_time 0). */
static int read_time(PyObject *value, Info *info) {
    info->has_time = 0;
    if (value == Py_None)
        return 1;
    if (!PyDateTime_Check(value) || ((PyDateTime_DateTime *)value)->hastzinfo)
        return 0;
    long long days = days_from_civil(PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                                     PyDateTime_GET_DAY(value));
    long long seconds = ((days * 24 + PyDateTime_DATE_GET_HOUR(value)) * 60 + PyDateTime_DATE_GET_MINUTE(value)) * 60
                        + PyDateTime_DATE_GET_SECOND(value);
    info->micros = seconds * 1000000 + PyDateTime_DATE_GET_MICROSECOND(value);
    info->has_time = 1;
    return 1;
}

/* 1 when read (None: *has 0), 0 when not an int that fits. */
static int read_int(PyObject *value, int *has, long long *out) {
    *has = 0;
    if (value == Py_None)
        return 1;
    if (!PyLong_Check(value))
        return 0;
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (*out == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *has = 1;
    return 1;
}

/* The M_... of a method; -1 when it is neither text nor None. */
static int method_of(PyObject *value, int *truthy) {
    *truthy = 0;
    if (value == Py_None)
        return M_NONE;
    if (!PyUnicode_Check(value))
        return -1;
    *truthy = PyUnicode_GET_LENGTH(value) > 0;
    if (PyUnicode_CompareWithASCIIString(value, "INVITE") == 0)
        return M_INVITE;
    if (PyUnicode_CompareWithASCIIString(value, "ACK") == 0)
        return M_ACK;
    if (PyUnicode_CompareWithASCIIString(value, "BYE") == 0)
        return M_BYE;
    if (PyUnicode_CompareWithASCIIString(value, "CANCEL") == 0)
        return M_CANCEL;
    if (PyUnicode_CompareWithASCIIString(value, "REGISTER") == 0)
        return M_REGISTER;
    if (PyUnicode_CompareWithASCIIString(value, "OPTIONS") == 0)
        return M_OPTIONS;
    return M_OTHER;
}

/* 1 when the row is read, 0 when it is of a shape this does not decide, -1 on error. */
static int read_row(PyObject *row, Info *info) {
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != N_COLUMNS)
        return 0;
    int unused;
    info->row = row;
    if (!read_time(PyTuple_GET_ITEM(row, TIMESTAMP), info))
        return 0;
    if ((info->method = method_of(PyTuple_GET_ITEM(row, METHOD), &info->method_truthy)) < 0)
        return 0;
    if ((info->cseq_method = method_of(PyTuple_GET_ITEM(row, CSEQ_METHOD), &unused)) < 0)
        return 0;
    if (!read_int(PyTuple_GET_ITEM(row, STATUS_CODE), &info->has_code, &info->code))
        return 0;
    if (!read_int(PyTuple_GET_ITEM(row, CSEQ), &info->has_cseq, &info->cseq))
        return 0;
    int truthy = PyObject_IsTrue(PyTuple_GET_ITEM(row, TO_TAG));
    if (truthy < 0)
        return -1;
    info->to_tag_truthy = truthy;
    return 1;
}

#define COLUMN(info, column) PyTuple_GET_ITEM((info)->row, column)
#define OR_ZERO(has, value) ((has) ? (value) : 0)

/* _first: the first row of a request method. */
static Info *first_of(Info *rows, Py_ssize_t n, int method) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (rows[i].method == method)
            return &rows[i];
    return NULL;
}

/* _initial_invite: the first INVITE without a To tag, else the first INVITE. */
static Info *initial_invite(Info *rows, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (rows[i].method == M_INVITE && !rows[i].to_tag_truthy)
            return &rows[i];
    return first_of(rows, n, M_INVITE);
}

/* Whether the row's CSeq is in the set of CSeqs of the initial INVITEs (None included). */
static int in_initial(const Info *row, const Info *rows, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        const Info *r = &rows[i];
        if (r->method != M_INVITE || r->to_tag_truthy || r->has_cseq != row->has_cseq)
            continue;
        if (!r->has_cseq || r->cseq == row->cseq)
            return 1;
    }
    return 0;
}

/* _answered_before_the_log, but for the deciding response: the INVITE requests, at least
 * one, all have a To tag; or there are none, nor responses to one, but an ACK or BYE. */
static int answered_before_the_log(const Info *rows, Py_ssize_t n) {
    int reinvite = 0, ack_or_bye = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rows[i].method == M_ACK || rows[i].method == M_BYE)
            ack_or_bye = 1;
        if (rows[i].method != M_INVITE)
            continue;
        if (!rows[i].to_tag_truthy)
            return 0;
        reinvite = 1;
    }
    if (reinvite || !ack_or_bye)
        return reinvite;
    for (Py_ssize_t i = 0; i < n; i++)
        if (rows[i].has_code && rows[i].cseq_method == M_INVITE)
            return 0;
    return 1;
}

static int is_invite_final(const Info *r) {
    return OR_ZERO(r->has_code, r->code) >= 200 && r->cseq_method == M_INVITE;
}

/* Whether a response answers an INVITE request logged (its CSeq and From tag), which, with
 * no initial INVITE logged, is a re-INVITE; -1 on error. */
static int answers_reinvite(const Info *r, const Info *rows, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        const Info *q = &rows[i];
        if (q->method != M_INVITE || q->has_cseq != r->has_cseq || (q->has_cseq && q->cseq != r->cseq))
            continue;
        int same = PyObject_RichCompareBool(COLUMN(q, FROM_TAG), COLUMN(r, FROM_TAG), Py_EQ);
        if (same != 0)
            return same;
    }
    return 0;
}

/* _without_reinvite_answers: whether the answers to re-INVITEs are left out, with no initial
 * INVITE logged: a final INVITE response answers none, or one is a 2xx; -1 on error. */
static int drops_reinvite_answers(const Info *rows, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        const Info *r = &rows[i];
        if (!is_invite_final(r))
            continue;
        if (r->code < 300)
            return 1;
        int answers = answers_reinvite(r, rows, n);
        if (answers <= 0)
            return answers < 0 ? -1 : 1;
    }
    return 0;
}

/* Whether a final INVITE response may decide: it answers an initial INVITE or, when none
 * was logged, no re-INVITE that was (where ``drop`` says those are left out); -1 on error. */
static int may_decide(const Info *r, const Info *rows, Py_ssize_t n, int any_initial, int drop) {
    if (any_initial)
        return in_initial(r, rows, n);
    if (!drop)
        return 1;
    int answers = answers_reinvite(r, rows, n);
    return answers < 0 ? -1 : !answers;
}

/* Whether any initial INVITE (one without a To tag) was logged; *last: the highest CSeq of them. */
static int last_initial_invite(const Info *rows, Py_ssize_t n, long long *last) {
    int any = 0;
    *last = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rows[i].method != M_INVITE || rows[i].to_tag_truthy)
            continue;
        long long cseq = OR_ZERO(rows[i].has_cseq, rows[i].cseq);
        if (!any || cseq > *last)
            *last = cseq;
        any = 1;
    }
    return any;
}

/* _deciding_invite_response: the first 2xx to an initial INVITE, else the final response to
 * the last initial INVITE (none while it has none); -1 on error, else 0. */
static int deciding_invite_response(Info *rows, Py_ssize_t n, Info **out) {
    long long last_initial;
    int any_initial = last_initial_invite(rows, n, &last_initial);
    *out = NULL;
    int drop = any_initial ? 0 : drops_reinvite_answers(rows, n);
    if (drop < 0)
        return -1;
    Info *first_final = NULL;
    long long last_cseq = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Info *r = &rows[i];
        if (!is_invite_final(r))
            continue;
        int decides = may_decide(r, rows, n, any_initial, drop);
        if (decides <= 0) {
            if (decides < 0)
                return -1;
            continue;
        }
        if (r->code < 300) {
            *out = r;
            return 0;
        }
        long long cseq = OR_ZERO(r->has_cseq, r->cseq);
        if (first_final == NULL || cseq > last_cseq)
            last_cseq = cseq;
        if (first_final == NULL)
            first_final = r;
    }
    if (first_final == NULL)
        return 0;
    if (any_initial)
        last_cseq = last_initial;
    for (Info *r = first_final; r < rows + n; r++) {
        if (!is_invite_final(r) || OR_ZERO(r->has_cseq, r->cseq) != last_cseq)
            continue;
        int decides = may_decide(r, rows, n, any_initial, drop);
        if (decides < 0)
            return -1;
        if (decides) {
            *out = r;
            return 0;
        }
    }
    return 0;  /* the last initial INVITE has no final response yet */
}

/* _pdd_response: the first response to an initial INVITE that is not 100 Trying, but a
 * 401/407 challenge to one that a later initial INVITE (higher CSeq) answered. */
static const Info *pdd_response(const Info *rows, Py_ssize_t n) {
    long long last_initial;
    int any_initial = last_initial_invite(rows, n, &last_initial);
    if (!any_initial)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Info *r = &rows[i];
        if (OR_ZERO(r->has_code, r->code) <= 100 || r->cseq_method != M_INVITE || !in_initial(r, rows, n))
            continue;
        if ((r->code == 401 || r->code == 407) && OR_ZERO(r->has_cseq, r->cseq) < last_initial)
            continue;
        return r;
    }
    return NULL;
}

/* _state */
static PyObject *state_of(const Info *decided, int cancelled, int answered, int bye) {
    if (answered)
        return bye ? text_completed : text_answered;
    int has_code = decided != NULL && decided->has_code;
    long long code = has_code ? decided->code : 0;
    if (cancelled && (!has_code || code == 487))
        return text_cancelled;
    if (!has_code)
        return text_in_progress;
    if (code < 300)
        return text_completed;
    if (code == 486 || code == 600)
        return text_busy;
    if (code == 408 || code == 480 || code == 487)
        return text_no_answer;
    if (code < 400)
        return text_redirected;
    return text_failed;
}

/* _millis: max(0, round(total_seconds * 1000)), rounding half to even as Python does. */
static PyObject *millis_between(const Info *start, const Info *end) {
    if (start == NULL || end == NULL || !start->has_time || !end->has_time)
        Py_RETURN_NONE;
    double millis = nearbyint((double)(end->micros - start->micros) / 1e6 * 1000.0);
    return PyLong_FromDouble(millis > 0 ? millis : 0.0);
}

/* The answer-to-BYE duration in seconds: Python's round(total_seconds, 6) of a whole number
 * of microseconds is the nearest double to it, which the division already is. */
static PyObject *seconds_between(const Info *start, const Info *end) {
    if (start == NULL || end == NULL || !start->has_time || !end->has_time)
        Py_RETURN_NONE;
    double seconds = (double)(end->micros - start->micros) / 1e6;
    return PyFloat_FromDouble(seconds > 0.0 ? seconds : 0.0);
}

/* _hangup_by; -1 on error, else 0 with *out borrowed (None included). */
static int hangup_by(const Info *invite, const Info *bye, int cancelled, PyObject **out) {
    *out = Py_None;
    if (bye == NULL) {
        if (cancelled)
            *out = text_caller;
        return 0;
    }
    if (invite == NULL)
        return 0;
    PyObject *tag = COLUMN(invite, FROM_TAG);
    int truthy = PyObject_IsTrue(tag);
    if (truthy <= 0)
        return truthy;
    int same = PyObject_RichCompareBool(COLUMN(bye, FROM_TAG), tag, Py_EQ);
    if (same < 0)
        return -1;
    if (same) {
        *out = text_caller;
        return 0;
    }
    same = PyObject_RichCompareBool(COLUMN(bye, TO_TAG), tag, Py_EQ);
    if (same < 0)
        return -1;
    if (same)
        *out = text_callee;
    return 0;
}

/* _cause: the first Q.850 cause of these rows (NULL ones skipped); borrowed. */
static PyObject *cause_of(const Info *a, const Info *b, const Info *c, const Info *d) {
    const Info *rows[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        if (rows[i] != NULL && COLUMN(rows[i], Q850_CAUSE) != Py_None)
            return COLUMN(rows[i], Q850_CAUSE);
    return Py_None;
}

/* 1 when two rows repeat each other: the same (CSeq, CSeq method, method, status code,
 * direction, Via branch, To tag, host), compared as the tuples of Python's set are; -1 on error. */
static int repeats(const Info *a, const Info *b) {
    if (a->has_cseq != b->has_cseq || (a->has_cseq && a->cseq != b->cseq) || a->has_code != b->has_code
        || (a->has_code && a->code != b->code))
        return 0;
    static const int columns[] = {CSEQ_METHOD, METHOD, DIRECTION, VIA_BRANCH, TO_TAG, HOST};
    for (int k = 0; k < 6; k++) {
        int same = PyObject_RichCompareBool(COLUMN(a, columns[k]), COLUMN(b, columns[k]), Py_EQ);
        if (same <= 0)
            return same;
    }
    return 1;
}

/* _retransmissions: rows that repeat an earlier row; -1 on error. */
static Py_ssize_t retransmissions(Info *rows, Py_ssize_t n) {
    if (n <= PAIRWISE_MAX) {
        Py_ssize_t count = 0;
        for (Py_ssize_t i = 1; i < n; i++) {
            for (Py_ssize_t j = 0; j < i; j++) {
                int same = repeats(&rows[i], &rows[j]);
                if (same < 0)
                    return -1;
                if (same) {
                    count++;
                    break;
                }
            }
        }
        return count;
    }
    PyObject *keys = PySet_New(NULL);
    if (keys == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = rows[i].row;
        PyObject *key = PyTuple_Pack(8, PyTuple_GET_ITEM(row, CSEQ), PyTuple_GET_ITEM(row, CSEQ_METHOD),
                                     PyTuple_GET_ITEM(row, METHOD), PyTuple_GET_ITEM(row, STATUS_CODE),
                                     PyTuple_GET_ITEM(row, DIRECTION), PyTuple_GET_ITEM(row, VIA_BRANCH),
                                     PyTuple_GET_ITEM(row, TO_TAG), PyTuple_GET_ITEM(row, HOST));
        if (key == NULL || PySet_Add(keys, key) < 0) {
            Py_XDECREF(key);
            Py_DECREF(keys);
            return -1;
        }
        Py_DECREF(key);
    }
    Py_ssize_t distinct = PySet_GET_SIZE(keys);
    Py_DECREF(keys);
    return n - distinct;
}

/* What a summary holds besides what every kind shares (see build). */
typedef struct {
    PyObject *kind, *state;  /* borrowed */
    const Info *request, *decided;
    PyObject *setup_ms, *duration_s;  /* new references */
    const Info *answered, *ended;
    PyObject *hangup_by, *q850_cause;  /* borrowed */
    PyObject *pdd_ms;  /* a new reference, or NULL for None */
} Outcome;

/* _request_direction: the direction of the request a row is or answers (a response's is
 * turned around); borrowed. */
static PyObject *request_direction(const Info *row) {
    PyObject *direction = COLUMN(row, DIRECTION);
    if (!row->has_code || !PyUnicode_Check(direction))
        return direction;
    if (PyUnicode_CompareWithASCIIString(direction, "in") == 0)
        return text_out;
    if (PyUnicode_CompareWithASCIIString(direction, "out") == 0)
        return text_in;
    return direction;
}

/* _first_invite_response: the first response to an INVITE (it carries the INVITE's From and To). */
static Info *first_invite_response(Info *rows, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (rows[i].has_code && rows[i].cseq_method == M_INVITE)
            return &rows[i];
    return NULL;
}

static PyObject *time_of(const Info *row) {
    return row != NULL ? COLUMN(row, TIMESTAMP) : Py_None;
}

/* _build: the CallSummary fields, in order. Steals outcome's new references. */
static PyObject *build(PyObject *call_id, Info *rows, Py_ssize_t n, Outcome *o) {
    PyObject *result = NULL;
    Py_ssize_t repeated = retransmissions(rows, n);
    if (repeated < 0)
        goto done;
    const Info *head = o->request != NULL ? o->request : &rows[0];
    PyObject *last_seen = Py_None;
    for (Py_ssize_t i = n; i-- > 0;) {
        if (rows[i].has_time) {
            last_seen = COLUMN(&rows[i], TIMESTAMP);
            break;
        }
    }
    PyObject *pdd_ms = o->pdd_ms != NULL ? o->pdd_ms : Py_NewRef(Py_None);
    o->pdd_ms = NULL;
    result = Py_BuildValue(
        "(OOOOOOOOOOOONNOOnnOOON)", call_id, o->kind, o->state, COLUMN(&rows[0], TIMESTAMP), last_seen,
        COLUMN(head, FROM_USER), COLUMN(head, TO_USER), COLUMN(head, FROM_SIP), COLUMN(head, TO_SIP),
        request_direction(head), o->decided ? COLUMN(o->decided, STATUS_CODE) : Py_None,
        o->decided ? COLUMN(o->decided, REASON_PHRASE) : Py_None, o->setup_ms, o->duration_s,
        time_of(o->answered), time_of(o->ended), n, repeated, o->hangup_by, o->q850_cause, COLUMN(head, HOST),
        pdd_ms);
    o->setup_ms = o->duration_s = NULL;  /* stolen by N */
    return result;
done:
    Py_XDECREF(o->setup_ms);
    Py_XDECREF(o->duration_s);
    Py_XDECREF(o->pdd_ms);
    return result;
}

/* _ending_bye: the first BYE of the dialog the answer made (its To tag on either side of the
 * BYE), or the first BYE when the answer has no To tag; -1 on error, else 0. */
static int ending_bye(Info *rows, Py_ssize_t n, const Info *answer, Info **out) {
    *out = NULL;
    if (!answer->to_tag_truthy) {
        *out = first_of(rows, n, M_BYE);
        return 0;
    }
    PyObject *tag = COLUMN(answer, TO_TAG);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rows[i].method != M_BYE)
            continue;
        int same = PyObject_RichCompareBool(COLUMN(&rows[i], FROM_TAG), tag, Py_EQ);
        if (same == 0)
            same = PyObject_RichCompareBool(COLUMN(&rows[i], TO_TAG), tag, Py_EQ);
        if (same < 0)
            return -1;
        if (same) {
            *out = &rows[i];
            return 0;
        }
    }
    return 0;
}

/* _abandoning_bye: the first BYE from the caller (the caller side's From tag); -1 on error,
 * else 0. */
static int abandoning_bye(Info *rows, Py_ssize_t n, const Info *caller_side, Info **out) {
    *out = NULL;
    if (caller_side == NULL)
        return 0;
    PyObject *tag = COLUMN(caller_side, FROM_TAG);
    int truthy = PyObject_IsTrue(tag);
    if (truthy <= 0)
        return truthy;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rows[i].method != M_BYE)
            continue;
        int same = PyObject_RichCompareBool(COLUMN(&rows[i], FROM_TAG), tag, Py_EQ);
        if (same < 0)
            return -1;
        if (same) {
            *out = &rows[i];
            return 0;
        }
    }
    return 0;
}

/* _summarize_mid_call */
static PyObject *summarize_mid_call(PyObject *call_id, Info *rows, Py_ssize_t n, const Info *caller_side) {
    Info *bye = first_of(rows, n, M_BYE);
    PyObject *hangup = Py_None;
    if (bye != NULL && hangup_by(caller_side, bye, 0, &hangup) < 0)
        return NULL;
    Outcome o = {text_call, bye != NULL ? text_completed : text_answered, caller_side, NULL, Py_NewRef(Py_None),
                 Py_NewRef(Py_None), NULL, bye, hangup, cause_of(bye, NULL, NULL, NULL), NULL};
    return build(call_id, rows, n, &o);
}

/* _summarize_call */
static PyObject *summarize_call(PyObject *call_id, Info *rows, Py_ssize_t n) {
    Info *invite = initial_invite(rows, n);
    Info *caller_side = invite != NULL ? invite : first_invite_response(rows, n);
    Info *decided;
    if (deciding_invite_response(rows, n, &decided) < 0)
        return NULL;
    if (decided == NULL && answered_before_the_log(rows, n))
        return summarize_mid_call(call_id, rows, n, caller_side != NULL ? caller_side : first_of(rows, n, M_ACK));
    int answered = decided != NULL && decided->code < 300;
    Info *bye = NULL;
    if (answered && ending_bye(rows, n, decided, &bye) < 0)
        return NULL;
    Info *cancel = first_of(rows, n, M_CANCEL);
    Info *abandoned = NULL;
    if (!answered && abandoning_bye(rows, n, caller_side, &abandoned) < 0)
        return NULL;
    int cancelled = (cancel != NULL || abandoned != NULL) && !answered;
    PyObject *state = state_of(decided, cancelled, answered, bye != NULL);
    PyObject *hangup = Py_None;
    if ((state == text_completed || state == text_cancelled) && hangup_by(caller_side, bye, cancelled, &hangup) < 0)
        return NULL;
    Outcome o = {text_call, state, caller_side, decided, NULL, NULL, answered ? decided : NULL, bye, hangup,
                 cause_of(bye, cancel, abandoned, decided), NULL};
    o.setup_ms = millis_between(invite, decided);
    o.duration_s = answered && bye != NULL ? seconds_between(decided, bye) : Py_NewRef(Py_None);
    const Info *pdd = pdd_response(rows, n);  /* when found, the first INVITE is an initial one */
    if (pdd != NULL)
        o.pdd_ms = millis_between(invite, pdd);
    if (o.setup_ms == NULL || o.duration_s == NULL || (pdd != NULL && o.pdd_ms == NULL)) {
        Py_XDECREF(o.setup_ms);
        Py_XDECREF(o.duration_s);
        Py_XDECREF(o.pdd_ms);
        return NULL;
    }
    return build(call_id, rows, n, &o);
}

/* _recency: whether a is not earlier than b, by time (none: latest), then CSeq. */
static int not_earlier(const Info *a, const Info *b) {
    if (a->has_time != b->has_time)
        return !a->has_time;
    if (a->has_time && a->micros != b->micros)
        return a->micros > b->micros;
    return OR_ZERO(a->has_cseq, a->cseq) >= OR_ZERO(b->has_cseq, b->cseq);
}

/* _answered_request: the first request of the transaction a response ends (its CSeq number
 * and method), or none; -1 on error, else 0. */
static int answered_request(Info *rows, Py_ssize_t n, const Info *response, Info **out) {
    *out = NULL;
    if (response == NULL)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Info *r = &rows[i];
        if (r->has_code || r->has_cseq != response->has_cseq || (r->has_cseq && r->cseq != response->cseq))
            continue;
        int same = PyObject_RichCompareBool(COLUMN(r, CSEQ_METHOD), COLUMN(response, CSEQ_METHOD), Py_EQ);
        if (same < 0)
            return -1;
        if (same) {
            *out = &rows[i];
            return 0;
        }
    }
    return 0;
}

/* _summarize_dialog: REGISTER, OPTIONS and other dialogs, decided by their latest final
 * response (_latest_final). */
static PyObject *summarize_dialog(PyObject *call_id, PyObject *kind, Info *rows, Py_ssize_t n) {
    Info *request = NULL, *decided = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (request == NULL && rows[i].method_truthy)
            request = &rows[i];
        if (OR_ZERO(rows[i].has_code, rows[i].code) >= 200 && (decided == NULL || not_earlier(&rows[i], decided)))
            decided = &rows[i];
    }
    Info *answered = NULL;
    if (answered_request(rows, n, decided, &answered) < 0)
        return NULL;
    Outcome o = {kind, state_of(decided, 0, 0, 0), request, decided, NULL, Py_NewRef(Py_None), NULL, NULL,
                 Py_None, cause_of(decided, NULL, NULL, NULL), NULL};
    if ((o.setup_ms = millis_between(answered, decided)) == NULL) {
        Py_DECREF(o.duration_s);
        return NULL;
    }
    return build(call_id, rows, n, &o);
}

/* _kind: from the request methods and CSeq methods seen. */
static PyObject *kind_of(const Info *rows, Py_ssize_t n) {
    int seen_register = 0, seen_options = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int methods[2] = {rows[i].method, rows[i].cseq_method};
        for (int k = 0; k < 2; k++) {
            if (methods[k] == M_INVITE || methods[k] == M_ACK || methods[k] == M_BYE)
                return text_call;
            seen_register |= methods[k] == M_REGISTER;
            seen_options |= methods[k] == M_OPTIONS;
        }
    }
    return seen_register ? text_register : seen_options ? text_options : text_other;
}

static PyObject *summarize(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "summarize(call_id, rows): rows is a list");
        return NULL;
    }
    PyObject *call_id = args[0], *list = args[1];
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (n == 0)
        Py_RETURN_NONE;
    Info *rows = PyMem_New(Info, n);
    if (rows == NULL)
        return PyErr_NoMemory();
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        int read = read_row(PyList_GET_ITEM(list, i), &rows[i]);
        if (read <= 0) {
            if (read == 0)
                result = Py_NewRef(Py_None);
            goto done;
        }
    }
    long long first = 0, last = 0;
    int timed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!rows[i].has_time)
            continue;
        if (!timed || rows[i].micros < first)
            first = rows[i].micros;
        if (!timed || rows[i].micros > last)
            last = rows[i].micros;
        timed = 1;
    }
    if (last - first > EXACT_MICROS) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    /* the rows are borrowed from the list: nothing below runs Python code that could change it
     * but the comparisons of the tags and the retransmission keys, and those only read them */
    Py_INCREF(list);
    PyObject *kind = kind_of(rows, n);
    result = kind == text_call ? summarize_call(call_id, rows, n) : summarize_dialog(call_id, kind, rows, n);
    Py_DECREF(list);
done:
    PyMem_Free(rows);
    return result;
}

/* Whether ``b`` < ``a`` as Python compares two tuples: the first pair of values that are not
 * equal decides. 1 or 0; -1 with an exception set. */
static int before(PyObject *b, PyObject *a, const int *at, int count) {
    for (int k = 0; k < count; k++) {
        PyObject *x = PyTuple_GET_ITEM(b, at[k]), *y = PyTuple_GET_ITEM(a, at[k]);
        int same = PyObject_RichCompareBool(x, y, Py_EQ);
        if (same != 1)
            return same < 0 ? -1 : PyObject_RichCompareBool(x, y, Py_LT);
    }
    return 0;
}

/* in_log_order(rows) -> True when the rows (a list of tuples in INPUT_COLUMNS order) all have
 * a datetime timestamp, a str host and an int id, and are in log order already: sorting them
 * by (timestamp, host, id), as calls._order does, would change nothing. False when they all
 * have those but are not in order; None when one does not (calls._order then decides). A
 * batch's rows of a call are nearly always in order: this spares the sort's key tuples. */
static PyObject *in_log_order(PyObject *self, PyObject *rows) {
    static const int key[] = {TIMESTAMP, HOST, ID};
    if (!PyList_Check(rows))
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != N_COLUMNS || !PyDateTime_Check(PyTuple_GET_ITEM(row, TIMESTAMP))
            || !PyUnicode_CheckExact(PyTuple_GET_ITEM(row, HOST)) || !PyLong_CheckExact(PyTuple_GET_ITEM(row, ID)))
            Py_RETURN_NONE;
    }
    /* the rows are borrowed: the comparisons (datetimes, str, int) run no Python code */
    for (Py_ssize_t i = 1; i < n; i++) {
        int inverted = before(PyList_GET_ITEM(rows, i), PyList_GET_ITEM(rows, i - 1), key, 3);
        if (inverted < 0)
            return NULL;
        if (inverted)
            Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"summarize", (PyCFunction)(void (*)(void))summarize, METH_FASTCALL,
     "summarize(call_id, rows): the CallSummary fields of ordered, normal rows, or None"},
    {"in_log_order", in_log_order, METH_O,
     "in_log_order(rows): whether rows that all have a timestamp, host and id are in log order; None when "
     "one does not"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_calls", NULL, -1, methods};

static int intern(PyObject **slot, const char *text) {
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__calls(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    if (intern(&text_call, "call") || intern(&text_register, "register") || intern(&text_options, "options")
        || intern(&text_other, "other") || intern(&text_completed, "completed")
        || intern(&text_answered, "answered") || intern(&text_cancelled, "cancelled")
        || intern(&text_in_progress, "in-progress") || intern(&text_busy, "busy")
        || intern(&text_no_answer, "no-answer") || intern(&text_redirected, "redirected") || intern(&text_failed, "failed") || intern(&text_caller, "caller")
        || intern(&text_callee, "callee") || intern(&text_in, "in") || intern(&text_out, "out"))
        return NULL;
    return PyModule_Create(&module_def);
}
