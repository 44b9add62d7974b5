/*
 * sipparse.sip._scan: the usual SIP message read in one pass, in C.
 *
 * The parser in framing.py and parser.py handles every shape a log can hold.  Nearly every
 * message a PBX logs has one shape, though: a start line, "Name: value" header lines ending
 * in CRLF, an empty line, and a body of exactly Content-Length bytes.  scan_message()
 * recognises that shape and returns what the Python path would compute for it; for
 * anything else it returns None and the Python path does the work.  So this module never
 * decides anything the Python code does not decide the same way: tests compare the two on
 * every sample, the torture corpus and random input.
 *
 * Returned tuple (offsets relative to data):
 *   (end, header_end, body_start, content_length, first_line,
 *    call_id, from, to, cseq, via, contact, agent, content_type, reason)
 * The first six header values are stripped as the Python parser strips them; the others
 * are as written.  A header not present is None.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The header spellings the Python fast path (parser._wanted) looks up, in tuple order. */
enum { H_CALL_ID, H_FROM, H_TO, H_CSEQ, H_VIA, H_CONTACT, H_USER_AGENT, H_SERVER, H_CONTENT_TYPE, H_REASON, H_COUNT };
static const char *const SPELLINGS[H_COUNT] = {
    "Call-ID", "From", "To", "CSeq", "Via", "Contact", "User-Agent", "Server", "Content-Type", "Reason",
};
/* Lower-case names (full and compact) that are other spellings of a wanted header: a
 * message using one goes to the Python path, which canonicalises names. */
static const char *const OTHER_SPELLINGS[] = {
    "call-id", "from", "to", "cseq", "via", "contact", "user-agent", "server", "content-type", "reason",
    "i", "f", "t", "v", "m", "c", NULL,
};

static int is_token_char(unsigned char c) {
    /* [!%'*+\-.0-9A-Z_`a-z~] : RFC 3261 token characters, as framing.START_LINE has them */
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return 1;
    return c == '!' || c == '%' || c == '\'' || c == '*' || c == '+' || c == '-' || c == '.' || c == '_' ||
           c == '`' || c == '~';
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Python's str.strip() set within ASCII. */
static int is_py_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c' ||
           (c >= 0x1c && c <= 0x1f);
}

/* bytes.strip() set. */
static int is_bytes_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

/* "SIP/" digit "." digit at p (len bytes available) */
static int is_version(const unsigned char *p, Py_ssize_t len) {
    return len >= 7 && memcmp(p, "SIP/", 4) == 0 && is_digit(p[4]) && p[5] == '.' && is_digit(p[6]);
}

/* Whether line[0:len] (no line end) matches framing.START_LINE at its start.  Stricter is
 * allowed (the caller then takes the Python path), looser is not. */
static int is_start_line(const unsigned char *line, Py_ssize_t len) {
    if (len > 0 && line[len - 1] == '\r') len--;
    if (is_version(line, len)) {
        /* SIP/d.d +\d{3}(?: |\r?$) */
        Py_ssize_t i = 7;
        if (i >= len || line[i] != ' ') return 0;
        while (i < len && line[i] == ' ') i++;
        if (i + 3 > len || !is_digit(line[i]) || !is_digit(line[i + 1]) || !is_digit(line[i + 2])) return 0;
        i += 3;
        return i == len || line[i] == ' ';
    }
    /* token +[^ \r\n]+ +SIP/d.d *\r?$ */
    Py_ssize_t i = 0;
    while (i < len && is_token_char(line[i])) i++;
    if (i == 0 || i >= len || line[i] != ' ') return 0;
    while (i < len && line[i] == ' ') i++;
    Py_ssize_t uri = i;
    while (i < len && line[i] != ' ' && line[i] != '\r' && line[i] != '\n') i++;
    if (i == uri || i >= len || line[i] != ' ') return 0;
    while (i < len && line[i] == ' ') i++;
    if (!is_version(line + i, len - i)) return 0;
    i += 7;
    while (i < len && line[i] == ' ') i++;
    return i == len;
}

static const unsigned char *find(const unsigned char *hay, Py_ssize_t len, const char *needle, Py_ssize_t n) {
    if (len < n) return NULL;
    return (const unsigned char *)memmem(hay, (size_t)len, needle, (size_t)n);
}

/* Whether a header name (not a wanted spelling) is another spelling of a wanted header. */
static int is_other_spelling(const unsigned char *name, Py_ssize_t len) {
    char lower[16];
    if (len >= (Py_ssize_t)sizeof(lower)) return 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = name[i];
        if (c >= 0x80) return 0; /* no non-ASCII name lower-cases to a wanted one */
        lower[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    lower[len] = '\0';
    for (const char *const *other = OTHER_SPELLINGS; *other; other++)
        if (strcmp(lower, *other) == 0) return 1;
    return 0;
}

static int wanted_index(const unsigned char *name, Py_ssize_t len) {
    for (int h = 0; h < H_COUNT; h++)
        if ((Py_ssize_t)strlen(SPELLINGS[h]) == len && memcmp(name, SPELLINGS[h], (size_t)len) == 0) return h;
    return -1;
}

typedef struct {
    const unsigned char *start;
    Py_ssize_t len;
} Span;

static PyObject *decode(Span s) { return PyUnicode_DecodeUTF8((const char *)s.start, s.len, "replace"); }

/* Strip as str.strip() would; 0 when the result would need Unicode whitespace rules. */
static int strip_span(Span *s) {
    while (s->len > 0 && is_py_space(s->start[0])) s->start++, s->len--;
    while (s->len > 0 && is_py_space(s->start[s->len - 1])) s->len--;
    return !(s->len > 0 && (s->start[0] >= 0x80 || s->start[s->len - 1] >= 0x80));
}

/* Content-Length as framing._content_length's first branch reads it; -1 when that branch
 * would not decide. */
static long long usual_content_length(const unsigned char *data, Py_ssize_t header_end) {
    static const char NAME[] = "\nContent-Length:";
    const Py_ssize_t n = sizeof(NAME) - 1;
    const unsigned char *usual = find(data, header_end, NAME, n);
    if (!usual) return -1;
    Py_ssize_t after = (usual - data) + n;
    if (find(data + after, header_end - after, "ength", 5) || find(data, header_end, "\nl", 2)) return -1;
    const unsigned char *line_end = memchr(data + after, '\n', (size_t)(header_end - after));
    Py_ssize_t stop = line_end ? line_end - data : header_end;
    Py_ssize_t a = after, b = stop;
    while (a < b && is_bytes_space(data[a])) a++;
    while (b > a && is_bytes_space(data[b - 1])) b--;
    if (a == b || b - a > 18) return -1;
    long long value = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        if (!is_digit(data[i])) return -1;
        value = value * 10 + (data[i] - '0');
    }
    return value;
}

/* The header section data[0:header_end] read line by line: the wanted values, or 0 when
 * the Python path must read it (folding, bare CR, another spelling of a wanted name). */
static int read_headers(const unsigned char *data, Py_ssize_t header_end, Span *first, Span values[H_COUNT],
                        int found[H_COUNT]) {
    const unsigned char *line = data, *stop = data + header_end;
    int is_first = 1;
    while (line <= stop) {
        const unsigned char *nl = memchr(line, '\n', (size_t)(stop - line));
        const unsigned char *end = nl ? nl : stop;
        Py_ssize_t len = end - line;
        if (len > 0 && line[len - 1] == '\r') len--;
        if (memchr(line, '\r', (size_t)len)) return 0; /* a bare CR: Python turns it into a line end */
        if (is_first) {
            first->start = line, first->len = len;
            is_first = 0;
        } else if (len > 0) {
            if (line[0] == ' ' || line[0] == '\t') return 0; /* folded */
            /* ^([^ \t\n:]+)[ \t]*:[ \t]*([^\n]*) */
            Py_ssize_t i = 0;
            while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != ':') i++;
            Py_ssize_t name_len = i;
            while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
            if (name_len > 0 && i < len && line[i] == ':') {
                i++;
                while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
                int h = wanted_index(line, name_len);
                if (h >= 0) {
                    if (!found[h]) {
                        found[h] = 1;
                        values[h].start = line + i, values[h].len = len - i;
                    }
                } else if (is_other_spelling(line, name_len)) {
                    return 0;
                }
            }
        }
        if (!nl) break;
        line = nl + 1;
    }
    return 1;
}

static PyObject *scan_message(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "scan_message() takes bytes");
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(arg);
    const Py_ssize_t size = PyBytes_GET_SIZE(arg);
    if (size == 0 || data[0] == '\r' || data[0] == '\n' || data[0] == ' ' || data[0] == '\t') Py_RETURN_NONE;
    const unsigned char *first_nl = memchr(data, '\n', (size_t)size);
    if (!is_start_line(data, first_nl ? first_nl - data : size)) Py_RETURN_NONE;

    /* the empty line: CRLF CRLF with no other form of it before (framing._blank) */
    const unsigned char *blank = find(data, size, "\r\n\r\n", 4);
    if (!blank) Py_RETURN_NONE;
    Py_ssize_t header_end = blank - data;
    if (find(data, header_end + 1, "\n\n", 2) || find(data, header_end + 1, "\r\r", 2) ||
        find(data, header_end + 2 <= size ? header_end + 2 : size, "\n\r\n", 3))
        Py_RETURN_NONE;
    Py_ssize_t body_start = header_end + 4;
    long long length = usual_content_length(data, header_end);
    if (length < 0 || length > size - body_start) Py_RETURN_NONE;
    Py_ssize_t end = body_start + (Py_ssize_t)length;
    for (Py_ssize_t i = end; i < size; i++) /* only line ends after it: one message */
        if (data[i] != '\r' && data[i] != '\n' && data[i] != ' ' && data[i] != '\t') Py_RETURN_NONE;

    Span first = {0}, values[H_COUNT];
    int found[H_COUNT] = {0};
    if (!read_headers(data, header_end, &first, values, found)) Py_RETURN_NONE;
    for (int h = H_CALL_ID; h <= H_CONTACT; h++)
        if (found[h] && !strip_span(&values[h])) Py_RETURN_NONE;
    /* get("User-Agent") or get("Server"): an empty User-Agent gives way to Server */
    int agent = (found[H_USER_AGENT] && values[H_USER_AGENT].len > 0) ? H_USER_AGENT : H_SERVER;

    PyObject *result = PyTuple_New(14);
    if (!result) return NULL;
    PyTuple_SET_ITEM(result, 0, PyLong_FromSsize_t(end));
    PyTuple_SET_ITEM(result, 1, PyLong_FromSsize_t(header_end));
    PyTuple_SET_ITEM(result, 2, PyLong_FromSsize_t(body_start));
    PyTuple_SET_ITEM(result, 3, PyLong_FromLongLong(length));
    PyTuple_SET_ITEM(result, 4, decode(first));
    static const int ORDER[9] = {H_CALL_ID, H_FROM, H_TO, H_CSEQ, H_VIA, H_CONTACT, -1, H_CONTENT_TYPE, H_REASON};
    for (int k = 0; k < 9; k++) {
        int h = ORDER[k] < 0 ? agent : ORDER[k];
        PyObject *value;
        if (found[h]) {
            value = decode(values[h]);
        } else {
            value = Py_None;
            Py_INCREF(value);
        }
        PyTuple_SET_ITEM(result, 5 + k, value);
    }
    for (Py_ssize_t k = 0; k < 14; k++) {
        if (PyTuple_GET_ITEM(result, k) == NULL) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

static PyMethodDef METHODS[] = {
    {"scan_message", scan_message, METH_O,
     "scan_message(data) -> tuple | None: the usual SIP message read in one pass (see module doc)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_scan", "The usual SIP message read in C.", -1, METHODS};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&MODULE); }
