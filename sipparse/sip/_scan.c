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
#include <structmember.h>

/* The header spellings the Python fast path (parser._wanted) looks up, in tuple order. */
enum { H_CALL_ID, H_FROM, H_TO, H_CSEQ, H_VIA, H_CONTACT, H_USER_AGENT, H_SERVER, H_CONTENT_TYPE, H_REASON, H_COUNT };
static const char *const SPELLINGS[H_COUNT] = {
    "Call-ID", "From", "To", "CSeq", "Via", "Contact", "User-Agent", "Server", "Content-Type", "Reason",
};
/* The same in lower case: how parser._Canonical finds a wanted header under another spelling. */
static const char *const LOWER_SPELLINGS[H_COUNT] = {
    "call-id", "from", "to", "cseq", "via", "contact", "user-agent", "server", "content-type", "reason",
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

/* The beginning every start line has, "SIP/d.d +ddd" or "token +uri +SIP/d.d": the index
 * just after it, or -1.  Alone, it is lines.py's _STARTISH (a line that may open a message). */
static Py_ssize_t start_line_head(const unsigned char *c, Py_ssize_t n) {
    Py_ssize_t i = 0;
    if (is_version(c, n)) {
        i = 7;
        if (i >= n || c[i] != ' ') return -1;
        while (i < n && c[i] == ' ') i++;
        return n - i >= 3 && is_digit(c[i]) && is_digit(c[i + 1]) && is_digit(c[i + 2]) ? i + 3 : -1;
    }
    while (i < n && is_token_char(c[i])) i++;
    if (i == 0 || i >= n || c[i] != ' ') return -1;
    while (i < n && c[i] == ' ') i++;
    Py_ssize_t uri = i;
    while (i < n && c[i] != ' ' && c[i] != '\r' && c[i] != '\n') i++;
    if (i == uri || i >= n || c[i] != ' ') return -1;
    while (i < n && c[i] == ' ') i++;
    return is_version(c + i, n - i) ? i + 7 : -1;
}

/* Whether line[0:len] (no line end) matches framing.START_LINE at its start.  Stricter is
 * allowed (the caller then takes the Python path), looser is not. */
static int is_start_line(const unsigned char *line, Py_ssize_t len) {
    if (len > 0 && line[len - 1] == '\r') len--;
    Py_ssize_t i = start_line_head(line, len);
    if (i < 0) return 0;
    if (is_version(line, len)) return i == len || line[i] == ' '; /* SIP/d.d +\d{3}(?: |\r?$) */
    while (i < len && line[i] == ' ') i++;                          /* token +uri +SIP/d.d *\r?$ */
    return i == len;
}

static int wanted_index(const unsigned char *name, Py_ssize_t len) {
    static Py_ssize_t lengths[H_COUNT];
    if (!lengths[0])
        for (int h = 0; h < H_COUNT; h++) lengths[h] = (Py_ssize_t)strlen(SPELLINGS[h]);
    for (int h = 0; h < H_COUNT; h++)
        if (lengths[h] == len && name[0] == (unsigned char)SPELLINGS[h][0] && memcmp(name, SPELLINGS[h], (size_t)len) == 0)
            return h;
    return -1;
}

static unsigned char ascii_lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* The wanted header a name stands for, as parser._Canonical reads names (lower case, the
 * compact forms of RFC 3261 7.3.3 expanded): its index, or -1 for any other header. */
static int canonical_index(const unsigned char *name, Py_ssize_t len) {
    int h = wanted_index(name, len);
    if (h >= 0) return h;
    if (len == 1) {
        switch (ascii_lower(name[0])) {
        case 'i': return H_CALL_ID;
        case 'f': return H_FROM;
        case 't': return H_TO;
        case 'v': return H_VIA;
        case 'm': return H_CONTACT;
        case 'c': return H_CONTENT_TYPE;
        default: return -1;
        }
    }
    /* the lengths of LOWER_SPELLINGS: most header names are ruled out without a compare */
    if (!(len <= 4 || len == 6 || len == 7 || len == 10 || len == 12)) return -1;
    for (h = 0; h < H_COUNT; h++) {
        const char *spelling = LOWER_SPELLINGS[h];
        if ((Py_ssize_t)strlen(spelling) != len) continue;
        Py_ssize_t i = 0;
        while (i < len && ascii_lower(name[i]) == (unsigned char)spelling[i]) i++;
        if (i == len) return h; /* no non-ASCII name lower-cases to one of these */
    }
    return -1;
}

/* Whether a header line is one framing's _CONTENT_LENGTH reads, ^(?:content-length|l)[ \t]*:
 * (any case): the index after its colon, or -1. */
static Py_ssize_t content_length_colon(const unsigned char *line, Py_ssize_t len) {
    static const char NAME[] = "content-length";
    Py_ssize_t i = 0;
    if (len >= 14) {
        while (i < 14 && ascii_lower(line[i]) == (unsigned char)NAME[i]) i++;
        if (i < 14) i = 0;
    }
    if (i == 0 && len >= 1 && ascii_lower(line[0]) == 'l') i = 1;
    if (i == 0) return -1;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    return i < len && line[i] == ':' ? i + 1 : -1;
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

/* int(p[a:b].strip()) for at most 18 digits (what framing and lines.py accept), else -1. */
static long long stripped_number(const unsigned char *p, Py_ssize_t a, Py_ssize_t b) {
    while (a < b && is_bytes_space(p[a])) a++;
    while (b > a && is_bytes_space(p[b - 1])) b--;
    if (a == b || b - a > 18) return -1;
    long long value = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        if (!is_digit(p[i])) return -1;
        value = value * 10 + (p[i] - '0');
    }
    return value;
}

/* What scan() found in a usual message. */
typedef struct {
    Py_ssize_t end, header_end, body_start;
    long long content_length;
    Span first, values[H_COUNT];
    int found[H_COUNT];
    int agent; /* H_USER_AGENT or H_SERVER */
} Scan;

/* One header line (no line end) into the wanted values, names read as parser._headers_of
 * reads them; 0 when the Python path must read the message (a folded line). */
static int header_line(const unsigned char *line, Py_ssize_t len, Scan *out) {
    if (line[0] == ' ' || line[0] == '\t') return 0;
    /* ^([^ \t\n:]+)[ \t]*:[ \t]*([^\n]*) */
    Py_ssize_t i = 0;
    while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != ':') i++;
    Py_ssize_t name_len = i;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (name_len == 0 || i >= len || line[i] != ':') return 1; /* no header: the regex skips it too */
    i++;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    int h = canonical_index(line, name_len);
    if (h >= 0 && !out->found[h]) { /* the first of a repeated header wins, whatever its spelling */
        out->found[h] = 1;
        out->values[h].start = line + i, out->values[h].len = len - i;
    }
    return 1;
}

/* Read data[0:size] as the usual message; 0 when it is not one (the Python path decides).
 *
 * One pass over the header lines, each ending in CRLF with no other CR, up to the first
 * empty one: then the empty line framing._blank finds is that CRLF CRLF, with none of its
 * other forms before it.  The Content-Length is framing._content_length's: the one line
 * named Content-Length or l in any case (several: the Python path). */
static int scan(const unsigned char *data, Py_ssize_t size, Scan *out) {
    if (size == 0 || data[0] == '\r' || data[0] == '\n' || data[0] == ' ' || data[0] == '\t') return 0;
    memset(out, 0, sizeof(*out));
    const unsigned char *line = data, *stop = data + size;
    Py_ssize_t header_end = -1, length_at = -1, length_line_end = -1;
    while (line < stop) {
        const unsigned char *nl = memchr(line, '\n', (size_t)(stop - line));
        if (!nl || nl == line || nl[-1] != '\r') return 0; /* no empty line yet, or a line end without CR */
        Py_ssize_t len = nl - line - 1;
        if (len == 0) {
            header_end = line - data - 2;
            break;
        }
        if (memchr(line, '\r', (size_t)len)) return 0; /* a bare CR: Python turns it into a line end */
        if (line == data) {
            if (!is_start_line(line, len)) return 0;
            out->first.start = line, out->first.len = len;
        } else {
            if (!header_line(line, len, out)) return 0;
            Py_ssize_t colon = content_length_colon(line, len);
            if (colon >= 0) {
                if (length_at >= 0) return 0; /* several: framing notes it, Python reads the message */
                length_at = line - data + colon;
                length_line_end = line - data + len;
            }
        }
        line = nl + 1;
    }
    if (header_end < 0 || length_at < 0) return 0;
    long long length = stripped_number(data, length_at, length_line_end);
    Py_ssize_t body_start = header_end + 4;
    if (length < 0 || length > size - body_start) return 0;
    Py_ssize_t end = body_start + (Py_ssize_t)length;
    for (Py_ssize_t i = end; i < size; i++) /* only line ends after it: one message */
        if (data[i] != '\r' && data[i] != '\n' && data[i] != ' ' && data[i] != '\t') return 0;
    for (int h = H_CALL_ID; h <= H_CONTACT; h++)
        if (out->found[h] && !strip_span(&out->values[h])) return 0;
    /* get("User-Agent") or get("Server"): an empty User-Agent gives way to Server */
    out->agent = (out->found[H_USER_AGENT] && out->values[H_USER_AGENT].len > 0) ? H_USER_AGENT : H_SERVER;
    out->end = end, out->header_end = header_end, out->body_start = body_start, out->content_length = length;
    return 1;
}

/* The nine header values in parser._wanted's order, each a new reference (None if absent). */
static const int WANTED_ORDER[9] = {H_CALL_ID, H_FROM, H_TO, H_CSEQ, H_VIA, H_CONTACT, -1, H_CONTENT_TYPE, H_REASON};

static PyObject *header_value(const Scan *s, int k) {
    int h = WANTED_ORDER[k] < 0 ? s->agent : WANTED_ORDER[k];
    if (!s->found[h]) Py_RETURN_NONE;
    return decode(s->values[h]);
}

static PyObject *scan_message(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "scan_message() takes bytes");
        return NULL;
    }
    Scan s;
    if (!scan((const unsigned char *)PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg), &s)) Py_RETURN_NONE;
    PyObject *result = PyTuple_New(14);
    if (!result) return NULL;
    PyTuple_SET_ITEM(result, 0, PyLong_FromSsize_t(s.end));
    PyTuple_SET_ITEM(result, 1, PyLong_FromSsize_t(s.header_end));
    PyTuple_SET_ITEM(result, 2, PyLong_FromSsize_t(s.body_start));
    PyTuple_SET_ITEM(result, 3, PyLong_FromLongLong(s.content_length));
    PyTuple_SET_ITEM(result, 4, decode(s.first));
    for (int k = 0; k < 9; k++) PyTuple_SET_ITEM(result, 5 + k, header_value(&s, k));
    for (Py_ssize_t k = 0; k < 14; k++) {
        if (PyTuple_GET_ITEM(result, k) == NULL) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

/* ---- the full layout: Asterisk's file channel, read entry by entry ----------------------
 *
 * full_entry_starts() finds where entries begin (a line "[time stamp] ..."), as the bundled
 * ASTERISK_FULL_LINE pattern would; read_full_entries() turns each packet logger entry
 * (prefix, ASTERISK_ORIGIN, ASTERISK_PJSIP_MARKER, the packet) into a SipMessage through the
 * same caches and helpers as parser.MessageParser._complete, and hands every other entry
 * to Python (the ctx's ``slow`` callable), in order.  Both are used only with the bundled
 * patterns (logs/full.py checks), and accept only what those patterns match. */

static int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static int is_alpha(unsigned char c) { return is_upper(c) || is_lower(c); }

static int all_digits(const unsigned char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (!is_digit(p[i])) return 0;
    return 1;
}

/* An optional fraction at t[i]: one of `marks` then digits; the index after it, or -1. */
static Py_ssize_t fraction_end(const unsigned char *t, Py_ssize_t i, Py_ssize_t n, const char *marks) {
    if (i >= n || !t[i] || !strchr(marks, t[i])) return i;
    Py_ssize_t f = ++i;
    while (i < n && is_digit(t[i])) i++;
    return i == f ? -1 : i;
}

/* "HH:MM:SS" then an optional fraction after one of `marks`, from t[i]; the index after it, or -1. */
static Py_ssize_t clock_time(const unsigned char *t, Py_ssize_t i, Py_ssize_t n, const char *marks) {
    if (n - i < 8 || !all_digits(t + i, 2) || t[i + 2] != ':' || !all_digits(t + i + 3, 2) || t[i + 5] != ':' ||
        !all_digits(t + i + 6, 2))
        return -1;
    return fraction_end(t, i + 8, n, marks);
}

/* "[A-Z][a-z]{2} +[0-9]{1,2} HH:MM:SS" and a fraction after one of `marks`, at t[i]: the
 * traditional syslog stamp; the index after it, or -1. */
static Py_ssize_t month_day_time_end(const unsigned char *t, Py_ssize_t i, Py_ssize_t n, const char *marks) {
    if (n - i < 4 || !is_upper(t[i]) || !is_lower(t[i + 1]) || !is_lower(t[i + 2]) || t[i + 3] != ' ') return -1;
    Py_ssize_t j = i + 3;
    while (j < n && t[j] == ' ') j++;
    Py_ssize_t day = j;
    while (j < n && is_digit(t[j])) j++;
    if (j - day < 1 || j - day > 2 || j >= n || t[j] != ' ') return -1;
    return clock_time(t, j + 1, n, marks);
}

/* [A-Z][a-z]{2} +[0-9]{1,2} HH:MM:SS(?:[.,][0-9]+)?(?: [0-9]{4})?  -- the whole of t */
static int is_syslog_stamp(const unsigned char *t, Py_ssize_t n) {
    Py_ssize_t i = month_day_time_end(t, 0, n, ".,");
    if (i < 0) return 0;
    if (i < n && t[i] == ' ') {
        if (n - i != 5 || !all_digits(t + i + 1, 4)) return 0;
        i += 5;
    }
    return i == n;
}

/* [0-9]{4}-[0-9]{2}-[0-9]{2}[ T]HH:MM:SS(?:[.,][0-9]+)?  -- the whole of t */
static int is_plain_iso_stamp(const unsigned char *t, Py_ssize_t n) {
    if (n < 19 || !all_digits(t, 4) || t[4] != '-' || !all_digits(t + 5, 2) || t[7] != '-' ||
        !all_digits(t + 8, 2) || (t[10] != ' ' && t[10] != 'T'))
        return 0;
    return clock_time(t, 11, n, ".,") == n;
}

/* ASTERISK_ANY_LEVEL then "[LWP]" at d[i]: a level of any name ([A-Za-z0-9_]+), and its LWP. */
static int any_level_and_lwp(const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t name = i;
    while (i < n && (is_alpha(d[i]) || is_digit(d[i]) || d[i] == '_')) i++;
    if (i == name || i >= n || d[i] != '[') return 0;
    Py_ssize_t lwp = ++i;
    while (i < n && is_digit(d[i])) i++;
    return i > lwp && i < n && d[i] == ']';
}

/* ASTERISK_BANNER at d[i]: "Asterisk VERSION built by ", a file channel's first line. */
static int is_banner(const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    static const char opening[] = "Asterisk ", closing[] = " built by ";
    Py_ssize_t o = (Py_ssize_t)sizeof(opening) - 1, c = (Py_ssize_t)sizeof(closing) - 1;
    if (n - i < o || memcmp(d + i, opening, (size_t)o)) return 0;
    Py_ssize_t version = i += o;
    while (i < n && d[i] != ' ' && d[i] != '\n') i++;
    return i > version && n - i >= c && !memcmp(d + i, closing, (size_t)c);
}

/* Whether line (n bytes to the end of the data, line[0] == '[') begins with the bundled
 * ASTERISK_FULL_LINE: 1 yes, 0 no, -1 cannot tell (an ISO 8601 form only the regex knows).
 * *close is set to the index of the ']' after the time stamp. */
static int full_prefix(const unsigned char *line, Py_ssize_t n, Py_ssize_t *close) {
    Py_ssize_t i = 1;
    while (i < n && line[i] != ']' && line[i] != '\n') i++;
    /* no time stamp form holds ']' or a line end, so the first ']' closes it */
    if (i >= n || line[i] != ']' || i + 1 >= n || line[i + 1] != ' ' || i == 1) return 0;
    *close = i;
    const unsigned char *t = line + 1;
    Py_ssize_t tn = i - 1;
    if (is_upper(t[0]) && is_syslog_stamp(t, tn)) return 1;
    if (is_digit(t[0]) && is_plain_iso_stamp(t, tn)) return 1;
    /* ASTERISK_OTHER_DATEFORMAT: any other dateformat's stamp (no "[" in it), before a level and LWP */
    if (!memchr(t, '[', (size_t)tn) && (any_level_and_lwp(line, i + 2, n) || is_banner(line, i + 2, n))) return 1;
    /* the other ASTERISK_TIMESTAMP forms: the syslog one (read above) or ISO 8601, which starts
     * with a digit and only the regex knows whole */
    return is_digit(t[0]) ? -1 : 0;
}

#define FULL_ENTRY_STARTS_DOC \
    "full_entry_starts(buf, final=False) -> list[int] | None: offsets of the lines that begin a log entry, " \
    "and of the packet logger entries glued to a cut line (not those, nor lines, inside the packet its marker " \
    "announces before them), or None when a time stamp needs the regex to decide."

static Py_ssize_t match_origin(const unsigned char *d, Py_ssize_t i, Py_ssize_t n);

/* Where the entry whose packet logger marker is at d[marker] begins, on the line that begins
 * at d[line]: the '[' of its prefix, the origin between them ending at the marker.  line when
 * the marker is the line's own entry's (or no prefix is found), -1 when only the regex can tell.
 * An entry begins inside a line when the line before it was cut without its LF.  `own` is where
 * the text of the line's own entry begins (-1 when no entry begins the line): an origin there
 * with its own time stamp is that entry's (read_full_entries leaves it to Python). */
static Py_ssize_t entry_of_marker(const unsigned char *d, Py_ssize_t line, Py_ssize_t own, Py_ssize_t marker,
                                  Py_ssize_t n) {
    if (own >= 0 && match_origin(d, own, n) == marker) return line; /* the usual line, found at once */
    for (Py_ssize_t b = marker - 1; b > own && b > line; b--) {
        Py_ssize_t close;
        if (d[b] != '[') continue;
        int found = full_prefix(d + b, n - b, &close);
        if (found && match_origin(d, b + close + 2, n) == marker) return found < 0 ? -1 : b;
    }
    return line;
}

static int announced_packet(const unsigned char *d, Py_ssize_t own, Py_ssize_t inside, Py_ssize_t n, int final);

static Py_ssize_t announced_end(const unsigned char *d, Py_ssize_t marker, Py_ssize_t n);

static int starts_with(const unsigned char *d, Py_ssize_t i, Py_ssize_t n, const char *word);

static int append_offset(PyObject *list, Py_ssize_t offset) {
    PyObject *at = PyLong_FromSsize_t(offset);
    int failed = !at || PyList_Append(list, at) < 0;
    Py_XDECREF(at);
    return failed ? -1 : 0;
}

/* Appends to `starts` the entries without a marker whose prefix and origin begin in d[from:line_end]
 * (after the text of the line's own entry): glued to a cut line, as logs/full.py's
 * _plain_entries_inside_lines finds, but those in a whole packet (announced_packet).  A '[' is rare
 * in a line, so this costs a memchr per line.  -1 when only the regex can tell or on error (an
 * exception set), else 0; `entry_text` follows the last entry found. */
static int plain_entries_inside(const unsigned char *d, Py_ssize_t from, Py_ssize_t line_end, Py_ssize_t n,
                                int final, PyObject *starts, Py_ssize_t *entry_text) {
    Py_ssize_t close, appended = 0;
    for (const unsigned char *b = from < line_end ? memchr(d + from, '[', (size_t)(line_end - from)) : NULL; b;
         b = b + 1 < d + line_end ? memchr(b + 1, '[', (size_t)(d + line_end - b - 1)) : NULL) {
        Py_ssize_t at = b - d;
        int found = full_prefix(b, n - at, &close);
        Py_ssize_t origin_end = found ? match_origin(d, at + close + 2, n) : -1;
        /* no entry whatever its stamp, or a packet logger one (entry_of_marker's) */
        if (origin_end < 0 || starts_with(d, origin_end, n, "<--- ")) continue;
        if (found < 0) return -1;
        if (*entry_text >= 0 && announced_packet(d, *entry_text, at, n, final)) continue;
        if (append_offset(starts, at) < 0) return -1;
        *entry_text = at + close + 2;
        appended = 1;
    }
    /* a packet logger entry found on this line may come after one found here */
    if (appended && PyList_Sort(starts) < 0) return -1;
    return 0;
}

static PyObject *full_entry_starts(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *data;
    Py_ssize_t size, close;
    int final = 0;
    if (!PyArg_ParseTuple(args, "y#|p", &data, &size, &final)) return NULL;
    PyObject *starts = PyList_New(0);
    if (!starts) return NULL;
    Py_ssize_t pos = 0, entry_text = -1; /* where the text of the last entry found begins */
    Py_ssize_t packet_end = -1; /* where the packet of that entry ends as announced, when it has one */
    const unsigned char *marker = memmem(data, (size_t)size, "<--- ", 5);
    while (pos < size) {
        Py_ssize_t own = -1;
        if (data[pos] == '[') {
            int found = full_prefix(data + pos, size - pos, &close);
            if (found < 0) goto undecided;
            /* a line inside the whole packet of the entry before it is that packet's text (a
             * MESSAGE quoting a log entry), however it looks: no entry of its own */
            if (found && pos < packet_end && announced_packet(data, entry_text, pos, size, final)) found = 0;
            if (found && append_offset(starts, pos) < 0) goto failed;
            if (found) own = entry_text = pos + close + 2, packet_end = -1;
        }
        const unsigned char *nl = memchr(data + pos, '\n', (size_t)(size - pos));
        Py_ssize_t line_end = nl ? nl - data : size;
        for (; marker && marker - data < line_end; marker = memmem(marker + 5, (size_t)(size - (marker + 5 - data)),
                                                                   "<--- ", 5)) {
            Py_ssize_t glued = entry_of_marker(data, pos, own, marker - data, size);
            if (glued < 0) goto undecided;
            if (glued == pos && own >= 0 && entry_text == own) packet_end = announced_end(data, marker - data, size);
            if (glued > pos && !(entry_text >= 0 && announced_packet(data, entry_text, glued, size, final))) {
                if (append_offset(starts, glued) < 0) goto failed;
                entry_text = glued + 1, packet_end = -1;
                if (full_prefix(data + glued, size - glued, &close) > 0) entry_text = glued + close + 2;
            }
        }
        Py_ssize_t text_before = entry_text;
        int plain = plain_entries_inside(data, own >= 0 ? own : pos + 1, line_end, size, final, starts, &entry_text);
        if (plain < 0) goto plain_failed;
        if (entry_text != text_before) packet_end = -1;
        if (!nl) break;
        pos = line_end + 1;
    }
    return starts;
plain_failed:
    if (PyErr_Occurred()) goto failed;
undecided:
    Py_DECREF(starts);
    Py_RETURN_NONE;
failed:
    Py_DECREF(starts);
    return NULL;
}

static int starts_with(const unsigned char *d, Py_ssize_t i, Py_ssize_t n, const char *word) {
    size_t len = strlen(word);
    return (Py_ssize_t)len <= n - i && memcmp(d + i, word, len) == 0;
}

static int is_module_char(unsigned char c) {
    return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '-';
}

/* ASTERISK_ORIGIN at d[i]: the index after it, or -1 (then Python decides). */
static Py_ssize_t match_origin(const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    /* the level names by their first letter (most lines start with none of them) */
    const char *level;
    switch (i < n ? d[i] : 0) {
    case 'V': level = "VERBOSE"; break;
    case 'N': level = "NOTICE"; break;
    case 'W': level = "WARNING"; break;
    case 'E': level = "ERROR"; break;
    case 'D': level = i + 1 < n && d[i + 1] == 'T' ? "DTMF" : "DEBUG"; break;
    case 'S': level = "SECURITY"; break;
    case 'T': level = "TRACE"; break;
    case 'F': level = "FATAL"; break;
    default: return -1;
    }
    if (!starts_with(d, i, n, level)) return -1;
    i += (Py_ssize_t)strlen(level);
    if (i >= n || d[i] != '[') return -1;
    Py_ssize_t lwp = ++i;
    while (i < n && is_digit(d[i])) i++;
    if (i == lwp || i >= n || d[i] != ']') return -1;
    i++;
    if (i < n && d[i] == '[') { /* [channel] */
        i++;
        while (i < n && d[i] != ']' && d[i] != '\n') i++;
        if (i >= n || d[i] != ']') return -1;
        i++;
    }
    if (i < n && d[i] == ':') i++;
    if (i >= n || d[i] != ' ') return -1;
    Py_ssize_t module = ++i;
    while (i < n && is_module_char(d[i])) i++;
    if (i == module || i >= n || d[i] != ':') return -1;
    if (i + 1 < n && d[i + 1] == ' ') return i + 2;
    /* :LINE in FUNCTION: (syslog channel) or :LINE FUNCTION: (the "plain" formatter) */
    Py_ssize_t j = i + 1, digits = j;
    while (j < n && is_digit(d[j])) j++;
    if (j == digits || j >= n || d[j] != ' ') return -1;
    Py_ssize_t k = j + 1, func = k;
    while (k < n && d[k] != ':' && d[k] != '\n') k++;
    if (k == func || k + 1 >= n || d[k] != ':' || d[k + 1] != ' ') return -1;
    return k + 2;
}

typedef struct {
    int received;
    Py_ssize_t transport, transport_end, peer, peer_end, size_start, size_end, end;
} Marker;

/* ASTERISK_PJSIP_MARKER at d[i]; 0 when it is not there. */
static int match_marker(const unsigned char *d, Py_ssize_t i, Py_ssize_t n, Marker *m) {
    if (i >= n || d[i] != '<') return 0;
    if (!starts_with(d, i, n, "<--- ")) return 0;
    i += 5;
    if (starts_with(d, i, n, "Received")) m->received = 1, i += 8;
    else if (starts_with(d, i, n, "Transmitting")) m->received = 0, i += 12;
    else return 0;
    if (!starts_with(d, i, n, " SIP ")) return 0;
    i += 5;
    if (starts_with(d, i, n, "request")) i += 7;
    else if (starts_with(d, i, n, "response")) i += 8;
    else return 0;
    if (!starts_with(d, i, n, " (")) return 0;
    i += 2;
    m->size_start = i;
    while (i < n && is_digit(d[i])) i++;
    m->size_end = i;
    if (i == m->size_start || !starts_with(d, i, n, " bytes) ")) return 0;
    i += 8;
    if (starts_with(d, i, n, "from ")) i += 5;
    else if (starts_with(d, i, n, "to ")) i += 3;
    else return 0;
    m->transport = i;
    while (i < n && is_alpha(d[i])) i++;
    m->transport_end = i;
    if (i == m->transport || i >= n || d[i] != ':') return 0;
    m->peer = ++i;
    while (i < n && d[i] != ' ' && d[i] != '\n') i++;
    m->peer_end = i;
    if (i == m->peer || !starts_with(d, i, n, " --->")) return 0;
    m->end = i + 5;
    return 1;
}

/* The read_full_entries context, in the order logs/full.py builds it. */
enum {
    CX_SOURCE, CX_DIALECT, CX_MESSAGES, CX_MESSAGE_TYPE, CX_STARTS, CX_START_OF, CX_CSEQS, CX_CSEQ_OF, CX_VIAS,
    CX_VIA_OF, CX_ADDRESSES, CX_ADDRESS_OF, CX_Q850_OF, CX_SDP_OF, CX_TIMES, CX_TIME_OF, CX_SLOW, CX_ADDRESS_C,
    CX_VIA_C, CX_START_C, CX_CACHE_LIMIT, CX_COUNT
};

#define MAX_MESSAGE (1 << 20)

/* Whether d[inside] lies in the packet of the packet logger entry whose text begins at d[own],
 * whole: the size its marker announces, then Asterisk's LF and the next entry (or the end of the
 * data).  A prefix there is the packet's text, not an entry glued to a cut line (logs/full.py's
 * _announced, which says why; `final`: no more data will come). */
static int announced_packet(const unsigned char *d, Py_ssize_t own, Py_ssize_t inside, Py_ssize_t n, int final) {
    Py_ssize_t origin_end = match_origin(d, own, n), close;
    Marker mk;
    if (origin_end < 0 || !match_marker(d, origin_end, n, &mk) || mk.size_end - mk.size_start > 9) return 0;
    const unsigned char *nl = memchr(d + mk.end, '\n', (size_t)(n - mk.end));
    if (!nl) return 0;
    Py_ssize_t size = 0;
    for (Py_ssize_t k = mk.size_start; k < mk.size_end; k++) size = size * 10 + (d[k] - '0');
    Py_ssize_t end = nl - d + 1 + size;
    const unsigned char *inside_nl = memchr(d + inside, '\n', (size_t)(n - inside));
    if (size > MAX_MESSAGE || (inside_nl && inside_nl - d >= end)) return 0;
    if (end >= n) { /* a line after inside's that begins an entry before the end: the packet was cut */
        for (const unsigned char *lf = inside_nl; lf && lf + 1 < d + n; lf = memchr(lf + 1, '\n', (size_t)(d + n - lf - 1)))
            if (lf[1] == '[' && full_prefix(lf + 1, d + n - lf - 1, &close) != 0) return 0;
        return end == n || !final;
    }
    if (d[end] != '\n') return 0;
    /* the next line not whole yet: only its prefix, once whole, tells */
    if (end + 1 < n && !final && !memchr(d + end + 1, '\n', (size_t)(n - end - 1))) return 1;
    return end + 1 == n || (d[end + 1] == '[' && full_prefix(d + end + 1, n - end - 1, &close) > 0);
}

/* Where the packet after the packet logger marker at d[marker] ends, as the marker announces
 * it (the end of the line after it when it announces no size a packet has: -1 when unread). */
static Py_ssize_t announced_end(const unsigned char *d, Py_ssize_t marker, Py_ssize_t n) {
    Marker mk;
    if (!match_marker(d, marker, n, &mk) || mk.size_end - mk.size_start > 9) return -1;
    const unsigned char *nl = memchr(d + mk.end, '\n', (size_t)(n - mk.end));
    if (!nl) return -1;
    Py_ssize_t size = 0;
    for (Py_ssize_t k = mk.size_start; k < mk.size_end; k++) size = size * 10 + (d[k] - '0');
    return nl - d + 1 + size;
}

#define MESSAGE_FIELDS 40

/* cache.get(key) when it is there and true: a new reference; else NULL, with an exception
 * set only on error. */
static PyObject *cache_hit(PyObject *cache, PyObject *key) {
    PyObject *found = PyDict_GetItemWithError(cache, key);
    return found && PyObject_IsTrue(found) == 1 ? Py_NewRef(found) : NULL;
}

/* cache.get(key) or miss(key): a new reference, NULL on error. */
static PyObject *cached(PyObject *cache, PyObject *miss, PyObject *key) {
    PyObject *found = cache_hit(cache, key);
    return found || PyErr_Occurred() ? found : PyObject_CallOneArg(miss, key);
}

/* The parser's cache of a str key, or what its C reader (``fast``: _address.parse_address,
 * via_branch or start_line; None when the parser does not use it) finds, remembered as the parser's
 * _remember does; else the parser's own ``miss`` (which tries the C reader first too). */
static PyObject *cached_c(PyObject *const *ctx, int cache, int fast, int miss, PyObject *key) {
    PyObject *found = cache_hit(ctx[cache], key);
    if (found || PyErr_Occurred()) return found;
    if (ctx[fast] == Py_None || !PyUnicode_CheckExact(key)) return PyObject_CallOneArg(ctx[miss], key);
    PyObject *value = PyObject_CallOneArg(ctx[fast], key);
    if (value == Py_None) {
        Py_DECREF(value);
        return PyObject_CallOneArg(ctx[miss], key);
    }
    Py_ssize_t limit = PyLong_AsSsize_t(ctx[CX_CACHE_LIMIT]);
    if (!value || (limit == -1 && PyErr_Occurred())) {
        Py_XDECREF(value);
        return NULL;
    }
    if (PyDict_GET_SIZE(ctx[cache]) >= limit) PyDict_Clear(ctx[cache]);
    if (PyDict_SetItem(ctx[cache], key, value) < 0) Py_CLEAR(value);
    return value;
}

/* TimestampParser's cache (which also holds None for unreadable stamps), else the parser. */
static PyObject *cached_time(PyObject *const *ctx, PyObject *stamp) {
    PyObject *found = PyDict_GetItemWithError(ctx[CX_TIMES], stamp);
    if (found) return Py_NewRef(found);
    if (PyErr_Occurred()) return NULL;
    return PyObject_CallOneArg(ctx[CX_TIME_OF], stamp);
}

static PyObject *bytes_at(const unsigned char *d, Py_ssize_t a, Py_ssize_t b) {
    return PyBytes_FromStringAndSize((const char *)d + a, b - a);
}

/* Where a message was logged: the fields of a SipMessage that do not come from its text. */
typedef struct {
    Py_ssize_t offset, end;     /* in the file */
    PyObject *stamp;            /* the time stamp text (bytes), a key of the TimestampParser */
    const unsigned char *line;  /* the buffer the marker offsets point into, or NULL: no marker */
    Marker marker;
    PyObject *host, *pid;       /* borrowed; None when the dialect has none */
} Envelope;

/* str(t[0:n]).upper() of ASCII letters (a marker's transport: [A-Za-z]+). */
static PyObject *upper_ascii(const unsigned char *t, Py_ssize_t n) {
    char buf[32];
    if (n > (Py_ssize_t)sizeof(buf)) {
        PyObject *text = PyUnicode_DecodeASCII((const char *)t, n, "replace");
        PyObject *upper = text ? PyObject_CallMethod(text, "upper", NULL) : NULL;
        Py_XDECREF(text);
        return upper;
    }
    for (Py_ssize_t i = 0; i < n; i++) buf[i] = (char)(is_lower(t[i]) ? t[i] - 32 : t[i]);
    return PyUnicode_FromStringAndSize(buf, n);
}

/* The slots of the message type, by field, once known: a SipMessage is made by filling them
 * as its dataclass __init__ would, without running that __init__'s Python code (40 stores,
 * a sizeable part of a message's cost).  Only for a type that is a plain slots dataclass
 * whose __slots__ are its fields, in order, with no __post_init__; else the type is called. */
static PyTypeObject *slot_type = NULL; /* the type slot_offsets describe (a strong reference) */
static int slot_type_usable = 0;
static Py_ssize_t slot_offsets[MESSAGE_FIELDS];

static int learn_slots(PyTypeObject *type) {
    Py_XSETREF(slot_type, (PyTypeObject *)Py_NewRef(type));
    slot_type_usable = 0;
    PyObject *fields = PyObject_GetAttrString((PyObject *)type, "__dataclass_fields__");
    PyObject *slots = fields ? PyObject_GetAttrString((PyObject *)type, "__slots__") : NULL;
    int usable = slots && PyDict_Check(fields) && PyTuple_Check(slots) && PyTuple_GET_SIZE(slots) == MESSAGE_FIELDS &&
                 PyDict_GET_SIZE(fields) == MESSAGE_FIELDS && !PyObject_HasAttrString((PyObject *)type, "__post_init__") &&
                 type->tp_alloc == PyType_GenericAlloc && (type->tp_flags & Py_TPFLAGS_HEAPTYPE);
    Py_ssize_t k = 0;
    PyObject *name, *value;
    for (Py_ssize_t pos = 0; usable && PyDict_Next(fields, &pos, &name, &value); k++) {
        PyObject *descr = PyDict_GetItemWithError(type->tp_dict, name);
        usable = descr && Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                 PyUnicode_Compare(name, PyTuple_GET_ITEM(slots, k)) == 0 &&
                 ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (usable) slot_offsets[k] = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    Py_XDECREF(fields);
    Py_XDECREF(slots);
    PyErr_Clear(); /* an attribute the type lacks only means: call it */
    slot_type_usable = usable && k == MESSAGE_FIELDS;
    return slot_type_usable;
}

/* type(*args) for the MESSAGE_FIELDS args (borrowed): a new reference, NULL on error. */
static PyObject *new_message(PyObject *type, PyObject *const *args) {
    PyTypeObject *t = (PyTypeObject *)type;
    if (!PyType_Check(type) || (t != slot_type ? !learn_slots(t) : !slot_type_usable))
        return PyObject_Vectorcall(type, args, MESSAGE_FIELDS, NULL);
    PyObject *message = t->tp_alloc(t, 0);
    if (!message) return NULL;
    for (int k = 0; k < MESSAGE_FIELDS; k++) *(PyObject **)((char *)message + slot_offsets[k]) = Py_NewRef(args[k]);
    return message;
}

/* Whether a Content-Type value (a str) is application/sdp as sdp.sdp_text reads it: its part
 * before any ";", stripped, lower-cased.  Only ASCII values are judged here. */
static int is_plain_sdp_type(PyObject *value) {
    if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_ASCII(value)) return 0;
    const char *t = (const char *)PyUnicode_DATA(value);
    Py_ssize_t a = 0, b = PyUnicode_GET_LENGTH(value);
    const char *semicolon = memchr(t, ';', (size_t)b);
    if (semicolon) b = semicolon - t;
    while (a < b && is_py_space((unsigned char)t[a])) a++;
    while (b > a && is_py_space((unsigned char)t[b - 1])) b--;
    static const char SDP[] = "application/sdp";
    if (b - a != (Py_ssize_t)sizeof(SDP) - 1) return 0;
    for (Py_ssize_t k = 0; k < b - a; k++)
        if (ascii_lower((unsigned char)t[a + k]) != (unsigned char)SDP[k]) return 0;
    return 1;
}

/* sdp._as_text of a body (None when empty): CRLF and lone CR as LF, no LF at the end,
 * decoded as UTF-8 with replacement.  A CR is ASCII, never part of a multi-byte sequence,
 * so turning it into LF before decoding gives the text the Python code makes after. */
static PyObject *sdp_text_of(const unsigned char *body, Py_ssize_t n) {
    if (n <= 0) Py_RETURN_NONE;
    unsigned char *out = PyMem_Malloc((size_t)n);
    if (!out) return PyErr_NoMemory();
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (body[i] != '\r') {
            out[m++] = body[i];
        } else {
            out[m++] = '\n';
            if (i + 1 < n && body[i + 1] == '\n') i++;
        }
    }
    while (m > 0 && out[m - 1] == '\n') m--;
    PyObject *text = m ? PyUnicode_DecodeUTF8((const char *)out, m, "replace") : Py_NewRef(Py_None);
    PyMem_Free(out);
    return text;
}

/* A SipMessage of the usual message p[0:s->end] appended to ctx's list: 1 done, 0 not
 * for this path (a Reject: Python writes it, nothing has changed), -1 error.  It computes
 * what parser.MessageParser._complete does, through the same caches and helpers. */
static int emit_record(const unsigned char *p, const Scan *sc, const Envelope *env, PyObject *const *ctx) {
    const Scan s = *sc;
    const Marker mk = env->marker;
    const unsigned char *d = env->line;
    PyObject *values[9] = {0}, *args[MESSAGE_FIELDS] = {0};
    PyObject *first = NULL, *start_line = NULL, *cseq = NULL, *via = NULL, *from = NULL, *to = NULL, *notes = NULL;
    int status = -1;
    first = decode(s.first);
    if (!first) goto done;
    start_line = cached_c(ctx, CX_STARTS, CX_START_C, CX_START_OF, first);
    if (!start_line) goto done;
    if (start_line == Py_None || !PyTuple_Check(start_line) || PyTuple_GET_SIZE(start_line) != 5) {
        status = 0; /* not a start line the grammar reads: a Reject, which Python writes */
        goto done;
    }
    for (int k = 0; k < 9; k++)
        if (!(values[k] = header_value(&s, k))) goto done;
    if (values[0] == Py_None || PyUnicode_GET_LENGTH(values[0]) == 0) {
        status = 0; /* no Call-ID: a Reject */
        goto done;
    }
    cseq = cached(ctx[CX_CSEQS], ctx[CX_CSEQ_OF], values[3]);
    if (!cseq) goto done;
    if (!PyTuple_Check(cseq) || PyTuple_GET_SIZE(cseq) != 3) {
        PyErr_SetString(PyExc_TypeError, "cseq cache: a 3-tuple expected");
        goto done;
    }
    if (PyObject_IsTrue(values[4]) == 1) {
        if (!(via = cached_c(ctx, CX_VIAS, CX_VIA_C, CX_VIA_OF, values[4]))) goto done;
    } else {
        via = PyTuple_Pack(2, Py_None, Py_None);
    }
    from = cached_c(ctx, CX_ADDRESSES, CX_ADDRESS_C, CX_ADDRESS_OF, values[1]);
    to = from ? cached_c(ctx, CX_ADDRESSES, CX_ADDRESS_C, CX_ADDRESS_OF, values[2]) : NULL;
    if (!via || !from || !to || !PyTuple_Check(via) || PyTuple_GET_SIZE(via) != 2 || !PyTuple_Check(from) ||
        PyTuple_GET_SIZE(from) != 4 || !PyTuple_Check(to) || PyTuple_GET_SIZE(to) != 4) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "address or via cache: a tuple expected");
        goto done;
    }
    long long announced = 0;
    if (d)
        for (Py_ssize_t i = mk.size_start; i < mk.size_end; i++) announced = announced * 10 + (d[i] - '0');
    if (!(notes = PyList_New(0))) goto done;
    if (d && announced != (long long)s.end) {
        PyObject *note = PyUnicode_FromFormat("marker announced %lld bytes, message has %zd", announced, s.end);
        if (!note || PyList_Append(notes, note) < 0) {
            Py_XDECREF(note);
            goto done;
        }
        Py_DECREF(note);
    }
    PyObject *problem = PyTuple_GET_ITEM(cseq, 2);
    if (problem != Py_None && PyList_Append(notes, problem) < 0) goto done;

    int a = 0;
    args[a++] = Py_NewRef(ctx[CX_SOURCE]);
    args[a++] = PyLong_FromSsize_t(env->offset);
    args[a++] = PyLong_FromSsize_t(env->end);
    args[a++] = bytes_at(p, 0, s.end);
    args[a++] = cached_time(ctx, env->stamp);
    for (int k = 0; k < 5; k++) args[a++] = Py_NewRef(PyTuple_GET_ITEM(start_line, k));
    args[a++] = Py_NewRef(values[0]);
    args[a++] = Py_NewRef(values[1]);
    for (int k = 0; k < 4; k++) args[a++] = Py_NewRef(PyTuple_GET_ITEM(from, k));
    args[a++] = Py_NewRef(values[2]);
    for (int k = 0; k < 4; k++) args[a++] = Py_NewRef(PyTuple_GET_ITEM(to, k));
    args[a++] = Py_NewRef(PyTuple_GET_ITEM(cseq, 0));
    args[a++] = Py_NewRef(PyTuple_GET_ITEM(cseq, 1));
    args[a++] = Py_NewRef(PyTuple_GET_ITEM(via, 0));
    args[a++] = Py_NewRef(PyTuple_GET_ITEM(via, 1));
    args[a++] = Py_NewRef(values[5]); /* contact */
    args[a++] = Py_NewRef(values[6]); /* user agent */
    args[a++] = Py_NewRef(values[7]); /* content type */
    args[a++] = PyLong_FromLongLong(s.content_length);
    if (PyObject_IsTrue(values[8]) == 1 && args[3]) { /* reason, and its Q.850 cause */
        PyObject *reason = PyObject_CallFunctionObjArgs(ctx[CX_Q850_OF], values[8], args[3], NULL);
        if (reason && PyTuple_Check(reason) && PyTuple_GET_SIZE(reason) == 2) {
            args[a++] = Py_NewRef(PyTuple_GET_ITEM(reason, 0));
            args[a++] = Py_NewRef(PyTuple_GET_ITEM(reason, 1));
        } else {
            if (reason && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "reason reader: a pair expected");
            a += 2;
        }
        Py_XDECREF(reason);
    } else {
        args[a++] = Py_NewRef(values[8]);
        args[a++] = Py_NewRef(Py_None);
    }
    if (is_plain_sdp_type(values[7])) {
        args[a++] = sdp_text_of(p + s.body_start, s.end - s.body_start);
    } else if (PyObject_IsTrue(values[7]) == 1) {
        PyObject *payload = bytes_at(p, s.body_start, s.end);
        args[a++] = payload ? PyObject_CallFunctionObjArgs(ctx[CX_SDP_OF], values[7], payload, NULL) : NULL;
        Py_XDECREF(payload);
    } else {
        args[a++] = Py_NewRef(Py_None);
    }
    if (d) {
        static PyObject *directions[2] = {NULL, NULL}; /* "out", "in": made once, kept */
        if (!directions[mk.received]) directions[mk.received] = PyUnicode_InternFromString(mk.received ? "in" : "out");
        args[a++] = Py_XNewRef(directions[mk.received]);
        args[a++] = upper_ascii(d + mk.transport, mk.transport_end - mk.transport);
        args[a++] = decode((Span){d + mk.peer, mk.peer_end - mk.peer});
        args[a++] = PyLong_FromLongLong(announced);
    } else {
        for (int k = 0; k < 4; k++) args[a++] = Py_NewRef(Py_None);
    }
    args[a++] = Py_NewRef(env->host);
    args[a++] = Py_NewRef(env->pid);
    args[a++] = Py_NewRef(ctx[CX_DIALECT]);
    args[a++] = Py_NewRef(notes);
    for (int k = 0; k < a; k++)
        if (!args[k]) goto done;
    PyObject *message = new_message(ctx[CX_MESSAGE_TYPE], args);
    if (!message) goto done;
    status = PyList_Append(ctx[CX_MESSAGES], message) < 0 ? -1 : 1;
    Py_DECREF(message);
done:
    for (int k = 0; k < MESSAGE_FIELDS; k++) Py_XDECREF(args[k]);
    for (int k = 0; k < 9; k++) Py_XDECREF(values[k]);
    Py_XDECREF(first);
    Py_XDECREF(start_line);
    Py_XDECREF(cseq);
    Py_XDECREF(via);
    Py_XDECREF(from);
    Py_XDECREF(to);
    Py_XDECREF(notes);
    return status;
}

static int holds_late_marker(const unsigned char *c, Py_ssize_t n);
static int opens_chan_sip_dump(const unsigned char *d, Py_ssize_t i, Py_ssize_t n);

/* One packet logger entry of the full layout as a SipMessage: 1 done, 0 Python reads it, -1 error. */
static int read_entry(const unsigned char *d, Py_ssize_t n, Py_ssize_t start, Py_ssize_t end, Py_ssize_t base,
                      PyObject *const *ctx, Py_ssize_t *skipped) {
    Py_ssize_t close;
    if (full_prefix(d + start, n - start, &close) != 1) return 0;
    close += start;
    Py_ssize_t origin_end = match_origin(d, close + 2, n);
    Envelope env = {.offset = base + start, .end = base + end, .line = d, .host = Py_None, .pid = Py_None};
    Marker *mk = &env.marker;
    int marked = origin_end >= 0 && match_marker(d, origin_end, n, mk);
    if (!marked) {
        /* a marker the patterns do not read (another origin, another shape): Python rejects it */
        const unsigned char *eol = memchr(d + start, '\n', (size_t)(end - start));
        if (holds_late_marker(d + start, (eol ? eol - d : end) - start)) return 0;
        /* chan_sip's packet dump, its marker on the entry's second line: Python rejects it, named */
        if (eol && opens_chan_sip_dump(d, eol - d + 1, end)) return 0;
    }
    if (!marked && (origin_end >= 0 || (close + 2 < n && d[close + 2] != '['))) {
        /* no packet logger marker (a dialplan line...): full.py skips the entry, counting its
         * lines.  Without a "[" that may open an origin's own time stamp, ASTERISK_ORIGIN's
         * regex reads what match_origin reads, and the marker's what match_marker reads. */
        Py_ssize_t lines = 0;
        for (const unsigned char *c = d + start, *e = d + end; (c = memchr(c, '\n', (size_t)(e - c))); c++) lines++;
        *skipped += lines > 1 ? lines : 1;
        return 1;
    }
    if (!marked || mk->size_end - mk->size_start > 18) return 0;
    const unsigned char *nl = memchr(d + mk->end, '\n', (size_t)(end > mk->end ? end - mk->end : 0));
    Py_ssize_t body = nl ? nl - d + 1 : end;
    Py_ssize_t stop = (end > body && d[end - 1] == '\n') ? end - 1 : end;
    if (stop - body > MAX_MESSAGE) return 0;
    Scan s;
    if (!scan(d + body, stop - body, &s)) return 0;
    if (!(env.stamp = bytes_at(d, start + 1, close))) return -1;
    int status = emit_record(d + body, &s, &env, ctx);
    Py_DECREF(env.stamp);
    return status;
}

#define READ_FULL_ENTRIES_DOC \
    "read_full_entries(buf, base, starts, count, last_end, ctx) -> skipped lines: read entries 0..count-1 " \
    "(entry i ends where entry i+1 starts, the last at last_end); see logs/full.py."

static PyObject *read_full_entries(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *data;
    Py_ssize_t size, base, count, last_end;
    PyObject *starts, *ctx;
    if (!PyArg_ParseTuple(args, "y#nO!nnO!", &data, &size, &base, &PyList_Type, &starts, &count, &last_end,
                          &PyTuple_Type, &ctx))
        return NULL;
    if (PyTuple_GET_SIZE(ctx) != CX_COUNT || count > PyList_GET_SIZE(starts) || last_end > size) {
        PyErr_SetString(PyExc_ValueError, "read_full_entries: bad arguments");
        return NULL;
    }
    PyObject *const *cx = &PyTuple_GET_ITEM(ctx, 0);
    Py_ssize_t skipped = 0; /* lines of entries that hold no packet */
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t start = PyLong_AsSsize_t(PyList_GET_ITEM(starts, i));
        Py_ssize_t end = i + 1 < count ? PyLong_AsSsize_t(PyList_GET_ITEM(starts, i + 1)) : last_end;
        if (PyErr_Occurred()) return NULL;
        if (start < 0 || end < start || end > size) {
            PyErr_SetString(PyExc_ValueError, "read_full_entries: entry out of the buffer");
            return NULL;
        }
        int done = read_entry(data, size, start, end, base, cx, &skipped);
        if (done < 0) return NULL;
        if (done == 0) {
            PyObject *r = PyObject_CallFunction(cx[CX_SLOW], "nn", start, end);
            if (!r) return NULL;
            Py_DECREF(r);
        }
    }
    return PyLong_FromSsize_t(skipped);
}


/* ---- the syslog layout: one message of one stream, read at once ---------------------------
 *
 * read_syslog_message() reads, from a line with the bundled ASTERISK_SYSLOG_LINE prefix that
 * begins a message, the lines of that message as logs/lines.py SyslogLayout would when no
 * other message is open: each next line with the same stream and prefix shape, up to the
 * one that completes the body by Content-Length.  Anything else on the way (another stream,
 * a line without prefix, a CR, an Asterisk line, a line that could start a message, a
 * message that does not end in the data) and it declines before changing anything.  Between
 * messages it also skips the dialplan lines (Asterisk's own lines without a marker), as
 * lines.py does. */

/* A bundled syslog prefix at d[i] (line end at n): the spans of its groups. */
typedef struct {
    Py_ssize_t stamp_end, host, host_end, program, program_end, pid, pid_end, end;
} SyslogPrefix;

enum { SYSLOG_TRADITIONAL, SYSLOG_RFC5424 };

/* Two digits at t, as a number within [low, high]. */
static int two_digits(const unsigned char *t, int low, int high) {
    if (!is_digit(t[0]) || !is_digit(t[1])) return 0;
    int value = (t[0] - '0') * 10 + (t[1] - '0');
    return value >= low && value <= high;
}

/* The usual RFC 3339 stamp, YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM], at d[i]: the index after
 * it, or -1.  Only forms TIMESTAMP_ISO8601 matches whole (other forms: the regex decides). */
static Py_ssize_t rfc3339_stamp_end(const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    const unsigned char *t = d + i;
    if (n - i < 19 || !all_digits(t, 4) || t[4] != '-' || !two_digits(t + 5, 1, 12) || t[7] != '-' ||
        !two_digits(t + 8, 1, 31) || t[10] != 'T' || !two_digits(t + 11, 0, 23) || t[13] != ':' ||
        !two_digits(t + 14, 0, 59) || t[16] != ':' || !two_digits(t + 17, 0, 60))
        return -1;
    Py_ssize_t j = fraction_end(d, i + 19, n, ".,");
    if (j < 0) return -1;
    if (j < n && d[j] == 'Z') {
        j++;
    } else if (j < n && (d[j] == '+' || d[j] == '-')) {
        if (n - j < 6 || !two_digits(d + j + 1, 0, 23) || d[j + 3] != ':' || !two_digits(d + j + 4, 0, 59)) return -1;
        j += 6;
    }
    return j;
}

/* ASTERISK_SYSLOG_LINE or ASTERISK_RFC5424_LINE at d[i]; 0 when this reader cannot say
 * it is there. */
static int match_syslog_prefix(int kind, const unsigned char *d, Py_ssize_t i, Py_ssize_t n, SyslogPrefix *p) {
    /* ASTERISK_SYSLOG_LINE's stamp: a fraction after "." only */
    Py_ssize_t j = kind == SYSLOG_RFC5424 ? rfc3339_stamp_end(d, i, n) : month_day_time_end(d, i, n, ".");
    if (j < 0) return 0;
    p->stamp_end = j;
    /* " (?<host>[^ \n]+) %{SYSLOG_TAG}%{SYSLOG_BOM}": program, pid, then ": ?" or " " */
    if (j >= n || d[j] != ' ') return 0;
    p->host = ++j;
    while (j < n && d[j] != ' ' && d[j] != '\n') j++;
    p->host_end = j;
    if (j == p->host || j >= n || d[j] != ' ') return 0;
    p->program = ++j;
    while (j < n && d[j] != ' ' && d[j] != '[' && d[j] != '\n' && d[j] != ':') j++;
    p->program_end = j;
    if (j == p->program || j >= n) return 0;
    p->pid = p->pid_end = -1;
    if (d[j] == '[') {
        Py_ssize_t k = j + 1;
        while (k < n && is_digit(d[k])) k++;
        if (k == j + 1 || k >= n || d[k] != ']') return 0;
        p->pid = j + 1, p->pid_end = k;
        j = k + 1;
    }
    if (j < n && d[j] == ':') { /* the tag's colon, or a space where rsyslog wrote an RFC 5424 tag */
        j++;
        if (j < n && d[j] == ' ') j++;
    } else if (j < n && d[j] == ' ' && (kind == SYSLOG_TRADITIONAL || p->pid >= 0)) { /* SYSLOG_TAG_AFTER_RFC3339 */
        j++;
    } else {
        return 0;
    }
    if (n - j >= 3 && memcmp(d + j, "\xEF\xBB\xBF", 3) == 0) j += 3; /* SYSLOG_BOM */
    p->end = j;
    return 1;
}

static int same_span(const unsigned char *d, Py_ssize_t a, Py_ssize_t a_end, Py_ssize_t b, Py_ssize_t b_end) {
    return a_end - a == b_end - b && (a < 0 || memcmp(d + a, d + b, (size_t)(a_end - a)) == 0);
}

/* Whether two prefixes name the same stream (host, program, pid): lines.py's key. */
static int same_stream(const unsigned char *d, const SyslogPrefix *a, const SyslogPrefix *b) {
    return same_span(d, a->host, a->host_end, b->host, b->host_end) &&
           same_span(d, a->program, a->program_end, b->program, b->program_end) &&
           (a->pid < 0) == (b->pid < 0) && same_span(d, a->pid, a->pid_end, b->pid, b->pid_end);
}

/* A line starting as framing.START_LINE could (lines.py _STARTISH): a superset of start lines. */
static int is_startish(const unsigned char *c, Py_ssize_t n) { return start_line_head(c, n) >= 0; }

/* Whether a line's text may be Asterisk's own (an origin, a marker) or open a message:
 * where lines.py stops reading a run, and where this reader declines. */
static int is_stop(const unsigned char *c, Py_ssize_t n) {
    if (n > 0 && c[0] == '[') return 1; /* an origin with its own time stamp: only the regex can tell */
    Marker mk;
    return match_origin(c, 0, n) >= 0 || match_marker(c, 0, n, &mk) || is_startish(c, n);
}

/* Whether d[i:n] begins as chan_sip's packet dump does ("sip set debug on"), as full.py's
 * CHAN_SIP_DUMP: "<--- SIP read from UDP:...", "<--- (Reliably )Transmitting (NAT) to ...". */
static int opens_chan_sip_dump(const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    return starts_with(d, i, n, "<--- SIP read from ") || starts_with(d, i, n, "<--- Transmitting (")
        || starts_with(d, i, n, "<--- Reliably Transmitting (");
}

/* Whether a line's text holds "<--- " after its first byte: perhaps the marker of an entry
 * Asterisk wrote after one it cut, which lines.py's _glued_at decides. */
static int holds_late_marker(const unsigned char *c, Py_ssize_t n) {
    for (Py_ssize_t i = 1; i + 5 <= n; i++) {
        const unsigned char *lt = memchr(c + i, '<', (size_t)(n - i));
        if (!lt) return 0;
        i = lt - c;
        if (i + 5 <= n && memcmp(lt, "<--- ", 5) == 0) return 1;
    }
    return 0;
}

/* Whether a line's text d[i:n] holds, after its first byte, a time of day behind which a
 * prefix begins: perhaps a line glued to this one, cut short, which lines.py's _glued_line
 * decides.  The stamp's date is 7 bytes before its time ("Nov 29 "), or 11 ("2026-11-29T"). */
static int holds_glued_prefix(int kind, const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t date = kind == SYSLOG_RFC5424 ? 11 : 7;
    const unsigned char *c = memchr(d + i, ':', (size_t)(n - i));
    for (; c; c = memchr(c + 1, ':', (size_t)(d + n - c - 1))) {
        Py_ssize_t at = c - d; /* the first colon of HH:MM:SS */
        if (at - 2 - date <= i || n - at < 6 || !all_digits(d + at - 2, 2) || !all_digits(d + at + 1, 2) ||
            d[at + 3] != ':' || !all_digits(d + at + 4, 2))
            continue;
        SyslogPrefix p;
        if (match_syslog_prefix(kind, d, at - 2 - date, n, &p)) return 1;
    }
    return 0;
}

/* Content-Length of a header line as lines._content_length reads it: -2 not such a line,
 * -1 unreadable, else the value. */
static long long content_length_line(const unsigned char *c, Py_ssize_t n) {
    const unsigned char *colon = memchr(c, ':', (size_t)n);
    if (!colon) return -2;
    Py_ssize_t a = 0, b = colon - c;
    while (a < b && is_bytes_space(c[a])) a++;
    while (b > a && is_bytes_space(c[b - 1])) b--;
    static const char NAME[] = "content-length";
    int is_name = (b - a == 1 && (c[a] | 0x20) == 'l');
    if (b - a == (Py_ssize_t)sizeof(NAME) - 1) {
        is_name = 1;
        for (Py_ssize_t k = 0; k < b - a; k++)
            if ((c[a + k] >= 'A' && c[a + k] <= 'Z' ? c[a + k] + 32 : c[a + k]) != NAME[k]) is_name = 0;
    }
    if (!is_name) return -2;
    Py_ssize_t v = colon - c + 1, w = n;
    if (w - v >= 4 && memcmp(c + w - 4, "#015", 4) == 0) w -= 4;
    return stripped_number(c, v, w);
}

/* rsyslog's #NNN escape at c (escapes.py): the byte, or -1. */
static int escaped_byte(const unsigned char *c, Py_ssize_t n) {
    if (n < 4 || c[0] != '#') return -1;
    int a = c[1] - '0', b = c[2] - '0', e = c[3] - '0';
    if (a < 0 || a > 3 || b < 0 || b > 7 || e < 0 || e > 7) return -1;
    int value = a * 64 + b * 8 + e;
    return (value < 32 || value >= 127) ? value : -1;
}

/* The length of c[0:n] once its escapes are decoded, as escapes.decoded_length(). */
static Py_ssize_t decoded_length(const unsigned char *c, Py_ssize_t n) {
    Py_ssize_t length = n;
    for (const unsigned char *p = c, *e = c + n; (p = memchr(p, '#', (size_t)(e - p))); p++)
        if (escaped_byte(p, e - p) >= 0) length -= 3, p += 3;
    return length;
}

/* The packet of lines contents as lines.SyslogLayout._close builds it: joined by LF with a
 * final LF, escapes decoded, every line end CRLF. */
static PyObject *packet_of(const unsigned char *d, const Py_ssize_t *starts, const Py_ssize_t *ends, Py_ssize_t count,
                           Py_ssize_t size) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, 2 * size + 2 * count);
    if (!out) return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out), *o0 = o;
    int pending_cr = 0; /* a CR just written, which a following LF joins */
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t i = starts[k], end = ends[k];
        while (1) {
            /* the bytes up to the next "#" are copied as they are */
            const unsigned char *hash = memchr(d + i, '#', (size_t)(end - i));
            Py_ssize_t run = (hash ? hash - d : end) - i;
            if (run > 0) {
                memcpy(o, d + i, (size_t)run);
                o += run, i += run;
                pending_cr = o[-1] == '\r';
            }
            int byte;
            if (i == end) byte = '\n';
            else if ((byte = escaped_byte(d + i, end - i)) >= 0) i += 3;
            else byte = d[i];
            if (byte == '\n') {
                if (!pending_cr) *o++ = '\r';
                *o++ = '\n';
                pending_cr = 0;
            } else {
                *o++ = (unsigned char)byte;
                pending_cr = byte == '\r';
            }
            if (i++ == end) break;
        }
    }
    if (_PyBytes_Resize(&out, o - o0) < 0) return NULL;
    return out;
}

#define MAX_LINES 4096

/* Whether a line's text is one this reader leaves to Python at a message's start: Asterisk's
 * own (an origin, a marker, or a '[' that may begin either). */
static int is_asterisk_text(const unsigned char *c, Py_ssize_t n) {
    Marker mk;
    return (n > 0 && c[0] == '[') || match_origin(c, 0, n) >= 0 || match_marker(c, 0, n, &mk);
}

/* The next line at d[at] (before limit) if it is one of the stream of `first`: its prefix in
 * *p and its end; -1 when it is not (or this reader cannot tell). */
static Py_ssize_t stream_line(int kind, const unsigned char *d, Py_ssize_t at, Py_ssize_t limit, Py_ssize_t pos,
                              const SyslogPrefix *first, SyslogPrefix *p) {
    if (at >= limit) return -1;
    const unsigned char *nl = memchr(d + at, '\n', (size_t)(limit - at));
    if (!nl) return -1;
    Py_ssize_t end = nl - d;
    if (memchr(d + at, '\r', (size_t)(end - at))) return -1;
    if (kind == SYSLOG_RFC5424) {
        return match_syslog_prefix(kind, d, at, end, p) && same_stream(d, first, p) ? end : -1;
    }
    /* the traditional stamp has a fixed shape: the same shape and the same text after it
     * (host, program, pid and ": ") is the same stream, as lines.py's run of lines has it */
    Py_ssize_t width = first->end - pos, stamp_len = first->stamp_end - pos;
    if (end - at < width || memcmp(d + at + stamp_len, d + pos + stamp_len, (size_t)(width - stamp_len)))
        return -1;
    for (Py_ssize_t k = memcmp(d + at, d + pos, (size_t)stamp_len) ? 0 : stamp_len; k < stamp_len; k++) {
        unsigned char a = d[at + k], b = d[pos + k];
        if (is_upper(b) ? !is_upper(a) : is_lower(b) ? !is_lower(a) : is_digit(b) ? !is_digit(a) : a != b) return -1;
    }
    *p = *first;
    p->end = at + width;
    /* a byte order mark where the first line had none: SYSLOG_BOM takes it, lines.py's _line decides */
    if (end - p->end >= 3 && memcmp(d + p->end, "\xEF\xBB\xBF", 3) == 0) return -1;
    return end;
}

/* (direction, transport, peer, size) of a marker, as logs/full.py marker_of() makes them. */
static PyObject *marker_tuple(const unsigned char *d, const Marker *mk) {
    long long size = 0;
    for (Py_ssize_t i = mk->size_start; i < mk->size_end; i++) size = size * 10 + (d[i] - '0');
    PyObject *upper = upper_ascii(d + mk->transport, mk->transport_end - mk->transport);
    if (!upper) return NULL;
    return Py_BuildValue("sNNL", mk->received ? "in" : "out", upper,
                         decode((Span){d + mk->peer, mk->peer_end - mk->peer}), size);
}

/* Where the marker of a line's text d[i:n] is, when the text is Asterisk's own (an origin,
 * perhaps with its own time stamp, as imfile forwards the file channel; or a bare marker):
 * its index; -1 the text is not Asterisk's; -2 it is, but no marker follows, or the regex
 * alone can tell (Python reads the line). */
static Py_ssize_t asterisk_marker_at(const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t at = i;
    if (i < n && d[i] == '[') {
        Py_ssize_t close;
        if (full_prefix(d + i, n - i, &close) != 1) return -2;
        if ((at = match_origin(d, i + close + 2, n)) < 0) return -2;
    } else {
        Py_ssize_t origin = match_origin(d, i, n);
        if (origin >= 0) at = origin;
    }
    Marker mk;
    if (match_marker(d, at, n, &mk)) return at;
    return at == i ? -1 : -2;
}

/* Whether a line's text d[i:n] begins with Asterisk's origin (perhaps behind its own time stamp,
 * as imfile forwards the file channel): a dialplan line, which ends the rest of a segment as
 * a marker does (lines.py's _asterisk_parts). */
static int is_origin_line(const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    if (i < n && d[i] == '[') {
        Py_ssize_t close;
        if (full_prefix(d + i, n - i, &close) != 1) return 0;
        i += close + 2;
    }
    return match_origin(d, i, n) >= 0;
}

/* Whether a marker announces a TCP (TLS, WebSocket) packet: not UDP, as packets.Marker.stream. */
static int is_stream_marker(const unsigned char *d, const Marker *mk) {
    if (mk->transport_end - mk->transport != 3) return 1;
    return ascii_lower(d[mk->transport]) != 'u' || ascii_lower(d[mk->transport + 1]) != 'd' ||
           ascii_lower(d[mk->transport + 2]) != 'p';
}

/* The stream's next line after d[at] (before limit), past empty lines and the whole lines of
 * other streams, which lines.py reads without touching this stream's state (two PBXs in one
 * file interleave their lines): its prefix in *p and its end; -1 when it is not there or this
 * reader cannot tell (a line without a prefix, a CR, a line perhaps glued to a cut one, the
 * stream under another stamp shape, more than OTHER_LINES lines of others). */
#define OTHER_LINES 256
static Py_ssize_t next_stream_line(int kind, const unsigned char *d, Py_ssize_t at, Py_ssize_t limit, Py_ssize_t pos,
                                   const SyslogPrefix *first, SyslogPrefix *p) {
    for (int others = 0; others <= OTHER_LINES; others++) {
        while (at < limit && d[at] == '\n') at++;
        Py_ssize_t end = stream_line(kind, d, at, limit, pos, first, p);
        if (end >= 0 || at >= limit) return end;
        const unsigned char *nl = memchr(d + at, '\n', (size_t)(limit - at));
        if (!nl) return -1;
        end = nl - d;
        SyslogPrefix other;
        if (memchr(d + at, '\r', (size_t)(end - at)) || !match_syslog_prefix(kind, d, at, end, &other) ||
            same_stream(d, first, &other) || holds_glued_prefix(kind, d, other.end, end))
            return -1;
        at = end + 1;
    }
    return -1;
}

/* Whether a message of a TCP segment, complete by its Content-Length, is read whole here as
 * lines.py reads it: the bytes its marker announced (lines.py's _as_announced), and the next
 * line of its stream (after empty lines and other streams' lines) a marker.  Else the segment may go on with the next
 * message, or its rest is to be skipped (lines.py's _segment_rest): Python reads it. */
static int segment_ends(const unsigned char *d, const Py_ssize_t *starts, const Py_ssize_t *ends, Py_ssize_t count,
                        const Marker *mk, int kind, Py_ssize_t at, Py_ssize_t limit, Py_ssize_t pos,
                        const SyslogPrefix *first) {
    long long size = 0, announced = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t n = ends[k] - starts[k];
        size += decoded_length(d + starts[k], n >= 4 && memcmp(d + ends[k] - 4, "#015", 4) == 0 ? n - 4 : n) + 2;
    }
    for (Py_ssize_t i = mk->size_start; i < mk->size_end; i++) announced = announced * 10 + (d[i] - '0');
    if (size != announced) return 0;
    SyslogPrefix next;
    Py_ssize_t end = next_stream_line(kind, d, at, limit, pos, first, &next);
    return end >= 0 && (asterisk_marker_at(d, next.end, end) >= 0 || is_origin_line(d, next.end, end));
}

/* A message read whole: where the data goes on, the prefixed lines it took, and the packet
 * Python must frame (a new reference) or NULL when its record was emitted here. */
typedef struct {
    Py_ssize_t next, lines, skipped;
    PyObject *pending;
} SyslogRead;

/* Whether a line's text d[i:n], outside any message, is an Asterisk line without a packet
 * logger marker (a dialplan line: its origin, perhaps behind its own time stamp, and no
 * "<--- " anywhere, so neither the marker's pattern nor LOOSE_MARKER reads one): lines.py
 * skips it as a line without SIP (_asterisk_line, then _skip). */
static int is_plain_asterisk_line(int kind, const unsigned char *d, Py_ssize_t i, Py_ssize_t n) {
    if (!is_origin_line(d, i, n) || holds_glued_prefix(kind, d, i, n)) return 0;
    for (const unsigned char *c = d + i, *e = d + n; (c = memchr(c, '<', (size_t)(e - c))); c++)
        if (e - c >= 5 && memcmp(c, "<--- ", 5) == 0) return 0;
    return 1;
}

static int read_syslog_message(const unsigned char *d, Py_ssize_t pos, Py_ssize_t limit, Py_ssize_t base,
                               PyObject *ctx, int kind, SyslogRead *out);

/* The arguments are read without PyArg_ParseTuple, whose format parsing costs as much as the
 * lines of a short message.
 *
 * read_syslog_message() again and again, over the empty lines between messages, until a
 * message is not read whole or one is left to Python: (next, lines, skipped, pending), where next
 * is where Python goes on, lines the prefixed lines read, skipped those of them that hold no SIP
 * (dialplan lines between messages) and pending the packet of the last message read, if Python
 * must frame it. A turn of Python's loop per message cost as much again as the
 * C reader's call itself. */
static PyObject *syslog_messages(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6 || !PyTuple_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "syslog_messages(buf, pos, limit, base, ctx: tuple, rfc5424)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]), limit = PyLong_AsSsize_t(args[2]), base = PyLong_AsSsize_t(args[3]);
    int rfc5424 = PyObject_IsTrue(args[5]);
    if (PyErr_Occurred() || rfc5424 < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *d = view.buf;
    if (limit > view.len || pos < 0 || pos > limit || PyTuple_GET_SIZE(args[4]) != CX_COUNT) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "syslog_messages: bad arguments");
        return NULL;
    }
    int kind = rfc5424 ? SYSLOG_RFC5424 : SYSLOG_TRADITIONAL;
    Py_ssize_t lines = 0, skipped = 0;
    SyslogRead read = {.pending = NULL};
    int status = 1;
    while (pos < limit && read.pending == NULL) {
        if (d[pos] == '\n') { /* an empty line: it cannot begin a message, Python skips it too */
            pos++;
            continue;
        }
        status = read_syslog_message(d, pos, limit, base, args[4], kind, &read);
        if (status <= 0) break;
        pos = read.next;
        lines += read.lines;
        skipped += read.skipped;
    }
    PyBuffer_Release(&view);
    if (status < 0) return NULL;
    return Py_BuildValue("nnnN", pos, lines, skipped, read.pending ? read.pending : Py_NewRef(Py_None));
}

/* 1 with ``out`` filled when the message at d[pos] was read whole, 0 when it is left to
 * Python's reading line by line, -1 with an exception set. */
static int read_syslog_message(const unsigned char *d, Py_ssize_t pos, Py_ssize_t limit, Py_ssize_t base,
                               PyObject *ctx, int kind, SyslogRead *out) {
    const unsigned char *nl = memchr(d + pos, '\n', (size_t)(limit - pos));
    if (!nl) return 0;
    Py_ssize_t line_end = nl - d;
    SyslogPrefix first, line;
    if (memchr(d + pos, '\r', (size_t)(line_end - pos)) || !match_syslog_prefix(kind, d, pos, line_end, &first) ||
        (kind == SYSLOG_TRADITIONAL && d[first.end - 1] != ' '))
        return 0;

    if (is_plain_asterisk_line(kind, d, first.end, line_end)) {
        out->next = line_end + 1, out->lines = 1, out->skipped = 1, out->pending = NULL;
        return 1;
    }
    Envelope env = {.offset = base + pos, .line = NULL, .host = NULL, .pid = NULL};
    Py_ssize_t count = 0, prefixed = 1, at = line_end + 1;
    const unsigned char *text = d + first.end;
    Py_ssize_t text_len = line_end - first.end, text_start = first.end;
    Py_ssize_t marker_at = asterisk_marker_at(d, first.end, line_end);
    if (marker_at == -2) return 0;
    if (marker_at >= 0) {
        /* a marker line with nothing after it: the message is on the next lines */
        Marker *mk = &env.marker;
        if (!match_marker(d, marker_at, line_end, mk) || mk->size_end - mk->size_start > 18) return 0;
        for (Py_ssize_t k = mk->end; k < line_end; k++)
            if (!is_bytes_space(d[k])) return 0;
        env.line = d;
        line_end = stream_line(kind, d, at, limit, pos, &first, &line);
        if (line_end < 0) return 0;
        text_start = line.end, text = d + text_start, text_len = line_end - text_start;
        prefixed++;
        at = line_end + 1;
    }
    /* lines.py reads the start line without the CR (#015) it may end with */
    Py_ssize_t bare_len = text_len >= 4 && memcmp(text + text_len - 4, "#015", 4) == 0 ? text_len - 4 : text_len;
    if (is_asterisk_text(text, text_len) || !is_start_line(text, bare_len) ||
        holds_glued_prefix(kind, d, text_start, text_start + text_len))
        return 0;

    /* the lines of the message: contents [starts[k], ends[k]) */
    Py_ssize_t starts[MAX_LINES], ends[MAX_LINES];
    starts[count] = text_start, ends[count++] = text_start + text_len;
    Py_ssize_t total = text_len + 1;
    int in_body = 0, closed = 0;
    long long length = -1, body = 0;
    while (!closed) {
        Py_ssize_t end = count < MAX_LINES ? stream_line(kind, d, at, limit, pos, &first, &line) : -1;
        if (end < 0) return 0;
        const unsigned char *c = d + line.end;
        Py_ssize_t n = end - line.end;
        if (is_stop(c, n) || holds_late_marker(c, n) || holds_glued_prefix(kind, d, line.end, end)) return 0;
        starts[count] = line.end, ends[count++] = end;
        prefixed++;
        total += n + 1;
        if (in_body) {
            body += decoded_length(c, n >= 4 && memcmp(c + n - 4, "#015", 4) == 0 ? n - 4 : n) + 2;
            closed = body >= length;
        } else if (n == 0 || (n == 4 && memcmp(c, "#015", 4) == 0)) {
            in_body = 1;
            length = -1;
            for (Py_ssize_t k = 0; k < count; k++) {
                long long found = content_length_line(d + starts[k], ends[k] - starts[k]);
                if (found != -2) {
                    length = found;
                    break;
                }
            }
            if (length < 0) return 0; /* no readable Content-Length: the message ends elsewhere */
            closed = length == 0;
        }
        if (!closed && total > MAX_MESSAGE) return 0;
        at = end + 1;
    }
    if (env.line && is_stream_marker(d, &env.marker) &&
        !segment_ends(d, starts, ends, count, &env.marker, kind, at, limit, pos, &first))
        return 0;
    env.end = base + at;

    PyObject *packet = packet_of(d, starts, ends, count, total);
    if (!packet) return -1;
    env.stamp = bytes_at(d, pos, first.stamp_end);
    env.host = PyUnicode_DecodeUTF8((const char *)d + first.host, first.host_end - first.host, "replace");
    if (first.pid >= 0 && first.pid_end - first.pid <= 18) {
        long long pid = 0;
        for (Py_ssize_t k = first.pid; k < first.pid_end; k++) pid = pid * 10 + (d[k] - '0');
        env.pid = PyLong_FromLongLong(pid);
    } else {
        env.pid = Py_NewRef(Py_None);
    }
    int result = -1;
    if (env.stamp && env.host && env.pid) {
        Scan s;
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(packet);
        int status = scan(p, PyBytes_GET_SIZE(packet), &s) ? emit_record(p, &s, &env, &PyTuple_GET_ITEM(ctx, 0)) : 0;
        out->next = at, out->lines = prefixed, out->skipped = 0, out->pending = NULL;
        if (status == 1)
            result = 1;
        else if (status == 0) { /* Python frames the packet (several messages, a Reject...) */
            out->pending = Py_BuildValue("(NnnONOO)", Py_NewRef(packet), env.offset, env.end, env.stamp,
                                         env.line ? marker_tuple(d, &env.marker) : Py_NewRef(Py_None), env.host,
                                         env.pid);
            result = out->pending ? 1 : -1;
        }
    }
    Py_DECREF(packet);
    Py_XDECREF(env.stamp);
    Py_XDECREF(env.host);
    Py_XDECREF(env.pid);
    return result;
}

/* The SDP helpers of emit_record, for tests to hold against sdp.py. */
static PyObject *py_is_plain_sdp_type(PyObject *self, PyObject *value) {
    (void)self;
    return PyBool_FromLong(is_plain_sdp_type(value));
}

static PyObject *py_sdp_text_of(PyObject *self, PyObject *body) {
    (void)self;
    if (!PyBytes_Check(body)) {
        PyErr_SetString(PyExc_TypeError, "sdp_text_of: bytes expected");
        return NULL;
    }
    return sdp_text_of((const unsigned char *)PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body));
}

static PyMethodDef METHODS[] = {
    {"is_plain_sdp_type", py_is_plain_sdp_type, METH_O,
     "is_plain_sdp_type(content_type) -> bool: an ASCII application/sdp, as sdp.sdp_text reads it."},
    {"sdp_text_of", py_sdp_text_of, METH_O, "sdp_text_of(body) -> str | None: sdp._as_text of a non-empty body."},
    {"scan_message", scan_message, METH_O,
     "scan_message(data) -> tuple | None: the usual SIP message read in one pass (see module doc)."},
    {"full_entry_starts", full_entry_starts, METH_VARARGS, FULL_ENTRY_STARTS_DOC},
    {"read_full_entries", read_full_entries, METH_VARARGS, READ_FULL_ENTRIES_DOC},
    {"syslog_messages", (PyCFunction)(void (*)(void))syslog_messages, METH_FASTCALL,
     "syslog_messages(buf, pos, limit, base, ctx, rfc5424) -> (next, lines, skipped, pending): see logs/lines.py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, .m_name = "_scan", .m_doc = "The usual SIP message read in C.", .m_size = -1, .m_methods = METHODS,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&MODULE); }
