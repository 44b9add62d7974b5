/*
 * sipparse.sip._address: From/To addresses, the topmost Via and the start line, read in C.
 *
 * The message parser reads a From or To value with three regular expressions of the
 * bundled grammar (grok_patterns/sip: SIP_NAME_ADDR, else SIP_ADDR_SPEC; SIP_URI;
 * SIP_TAG_PARAM) and the Via with SIP_VIA_BRANCH. Each dialog's From and To, and each
 * transaction's Via, is new to the parser's caches once, so on a busy log these reads were a
 * fifth of the parsing time. The functions here answer exactly as those expressions do, for
 * values of printable ASCII and tabs (what phones and PBXs write); for any other value they
 * return None and the regular expressions run. The parser uses them only when its grammar
 * holds the bundled expressions (a user's own SIP_* patterns turn them off).
 *
 * How each expression decides, on such a value (no line end in it):
 *   SIP_NAME_ADDR  after leading blanks, either a quoted string ("..." with \-pairs) or
 *                  text up to the first "<" with no '"' in it (its trailing blanks not part
 *                  of the display name); then blanks, "<", the URI up to the first ">", ">",
 *                  and the rest of the value as the parameters.
 *   SIP_ADDR_SPEC  after leading blanks, the URI up to the first ";" (trailing blanks not
 *                  part of it), and from that ";" on the parameters (none without a ";").
 *   SIP_URI        (of the URI stripped) a scheme (a letter, then letters, digits, "+-.")
 *                  and ":"; then, when what follows the longest run of characters other
 *                  than ":@?>" is "@", or is ":" with an "@" somewhere after it, that run
 *                  is the user (";" included: RFC 3261 25.1 user-unreserved); then the host: "[hex digits, colons, dots]", else the
 *                  longest run of characters other than ":;?>" and blanks. A "tel" URI
 *                  (the scheme in any case) without a user has no host: what would be its
 *                  host, the number, is its user (RFC 3966; MessageParser._uri_parts).
 *   SIP_TAG_PARAM, SIP_VIA_BRANCH  the first ";" followed by blanks, the name in any case,
 *                  blanks, "=", blanks and at least one character other than ";," and
 *                  blanks: those characters are the value.
 *
 * The first line of a message (MessageParser._start_line: the line stripped, then
 * SIP_STATUS_LINE when it starts with "SIP/", else SIP_REQUEST_LINE, each anchored at both
 * ends) is read here too: no part of either expression can give back what it took, so each
 * reads the line one way only:
 *   SIP_REQUEST_LINE  the longest run of token characters (the method), spaces, the
 *                  longest run of characters other than a space (the Request-URI), spaces,
 *                  SIP_VERSION, spaces to the end.
 *   SIP_STATUS_LINE   SIP_VERSION, spaces, three digits, and then either the end or a space
 *                  and the reason phrase (the rest of the line, stripped).
 *   SIP_VERSION    "SIP", spaces, "/", spaces, digits, ".", digits.
 * A line neither reads is left to the expressions (None), which then reject it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    const char *text;
    Py_ssize_t len;
} Text;

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* The value's characters, when all are printable ASCII or tabs; else text is NULL. */
static Text plain_text(PyObject *value) {
    Text t = {NULL, 0};
    if (!PyUnicode_Check(value) || PyUnicode_READY(value) < 0 || !PyUnicode_IS_ASCII(value))
        return t;
    const char *s = (const char *)PyUnicode_DATA(value);
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c > 0x7e)
            return t;
    }
    t.text = s;
    t.len = n;
    return t;
}

/* A new str of s[a:b], or None when ``none_if_empty`` and it is empty. */
static PyObject *piece(const char *s, Py_ssize_t a, Py_ssize_t b, int none_if_empty) {
    if (b <= a && none_if_empty)
        Py_RETURN_NONE;
    return PyUnicode_FromStringAndSize(s + a, b > a ? b - a : 0);
}

static Py_ssize_t skip_blanks(const char *s, Py_ssize_t i, Py_ssize_t n) {
    while (i < n && is_blank(s[i]))
        i++;
    return i;
}

static Py_ssize_t trim_blanks(const char *s, Py_ssize_t a, Py_ssize_t b) {
    while (b > a && is_blank(s[b - 1]))
        b--;
    return b;
}

static Py_ssize_t find_char(const char *s, Py_ssize_t i, Py_ssize_t n, char c) {
    const char *p = i < n ? memchr(s + i, c, (size_t)(n - i)) : NULL;
    return p ? p - s : -1;
}

/* The value of the first ";name=value" parameter of s[a:b] (SIP_TAG_PARAM, SIP_VIA_BRANCH):
 * 1 found (*start, *end), 0 not. */
static int parameter(const char *s, Py_ssize_t a, Py_ssize_t b, const char *name, Py_ssize_t *start,
                     Py_ssize_t *end) {
    size_t name_len = strlen(name);
    for (Py_ssize_t semi = find_char(s, a, b, ';'); semi >= 0; semi = find_char(s, semi + 1, b, ';')) {
        Py_ssize_t i = skip_blanks(s, semi + 1, b);
        if (b - i < (Py_ssize_t)name_len || PyOS_strnicmp(s + i, name, name_len) != 0)
            continue;
        i = skip_blanks(s, i + (Py_ssize_t)name_len, b);
        if (i >= b || s[i] != '=')
            continue;
        i = skip_blanks(s, i + 1, b);
        Py_ssize_t j = i;
        while (j < b && s[j] != ';' && s[j] != ',' && !is_blank(s[j]))
            j++;
        if (j > i) {
            *start = i;
            *end = j;
            return 1;
        }
    }
    return 0;
}

static int is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_scheme_char(char c) {
    return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
}
static int is_hex_or_colon_or_dot(char c) {
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f') || c == ':' || c == '.';
}

/* SIP_URI on s[a:b] stripped: the user and host spans (empty when absent, as `or None` makes
 * them None); 0 when the URI does not match at all. */
static int uri_parts(const char *s, Py_ssize_t a, Py_ssize_t b, Py_ssize_t user[2], Py_ssize_t host[2]) {
    a = skip_blanks(s, a, b);
    b = trim_blanks(s, a, b);
    user[0] = user[1] = host[0] = host[1] = 0;
    if (a >= b || !is_alpha(s[a]))
        return 0;
    Py_ssize_t i = a + 1;
    while (i < b && is_scheme_char(s[i]))
        i++;
    if (i >= b || s[i] != ':')
        return 0;
    int tel = i - a == 3 && (s[a] | 0x20) == 't' && (s[a + 1] | 0x20) == 'e' && (s[a + 2] | 0x20) == 'l';
    i++;
    Py_ssize_t run = i;
    while (run < b && !strchr(":@?>", s[run]))
        run++;
    Py_ssize_t at = run < b && s[run] == ':' ? find_char(s, run + 1, b, '@') : run;  /* past a password */
    if (at >= 0 && at < b && s[at] == '@') {
        user[0] = i;
        user[1] = run;
        i = at + 1;
    }
    Py_ssize_t *part = tel && user[1] <= user[0] ? user : host;
    if (i < b && s[i] == '[') {
        Py_ssize_t j = i + 1;
        while (j < b && is_hex_or_colon_or_dot(s[j]))
            j++;
        if (j > i + 1 && j < b && s[j] == ']') {
            part[0] = i;
            part[1] = j + 1;
            return 1;
        }
    }
    Py_ssize_t j = i;
    while (j < b && !strchr(":;?>", s[j]) && !is_blank(s[j]))
        j++;
    part[0] = i;
    part[1] = j;
    return 1;
}

/* SIP_NAME_ADDR: 1 matched (the display, uri and params spans), 0 not. */
static int name_addr(const char *s, Py_ssize_t n, Py_ssize_t display[2], Py_ssize_t uri[2], Py_ssize_t *params) {
    Py_ssize_t i = skip_blanks(s, 0, n), lt;
    if (i < n && s[i] == '"') {
        Py_ssize_t j = i + 1;
        while (j < n && s[j] != '"')
            j += s[j] == '\\' ? 2 : 1;
        if (j >= n)
            return 0;
        display[0] = i;
        display[1] = j + 1;
        lt = skip_blanks(s, j + 1, n);
        if (lt >= n || s[lt] != '<')
            return 0;
    } else {
        lt = find_char(s, i, n, '<');
        if (lt < 0)
            return 0;
        Py_ssize_t quote = find_char(s, i, lt, '"');
        if (quote >= 0)
            return 0;
        display[0] = i;
        display[1] = trim_blanks(s, i, lt);
    }
    Py_ssize_t gt = find_char(s, lt + 1, n, '>');
    if (gt < 0)
        return 0;
    uri[0] = lt + 1;
    uri[1] = gt;
    *params = gt + 1;
    return 1;
}

/* _display of a name-addr's display span: NULL with no error set when it needs the Python
 * code (a quoted-pair to undo). */
static PyObject *display_name(const char *s, Py_ssize_t a, Py_ssize_t b) {
    a = skip_blanks(s, a, b);
    b = trim_blanks(s, a, b);
    if (b - a >= 2 && s[a] == '"' && s[b - 1] == '"') {
        a++;
        b--;
        if (memchr(s + a, '\\', (size_t)(b - a)) != NULL)
            return NULL;
    }
    return piece(s, a, b, 1);
}

/* parse_address(value): (display, user, host, tag) as MessageParser._parse_address gives
 * them, or None for a value it leaves to the regular expressions. */
static PyObject *parse_address(PyObject *self, PyObject *value) {
    Text t = plain_text(value);
    if (t.text == NULL)
        Py_RETURN_NONE;
    const char *s = t.text;
    Py_ssize_t n = t.len, display[2] = {0, 0}, uri[2], params, user[2], host[2], tag[2];
    PyObject *shown;
    int named = name_addr(s, n, display, uri, &params);
    if (named) {
        shown = display_name(s, display[0], display[1]);
        if (shown == NULL)
            Py_RETURN_NONE;
    } else {  /* SIP_ADDR_SPEC, which matches any such value */
        shown = Py_NewRef(Py_None);
        uri[0] = skip_blanks(s, 0, n);
        Py_ssize_t semi = find_char(s, uri[0], n, ';');
        uri[1] = trim_blanks(s, uri[0], semi >= 0 ? semi : n);
        params = semi >= 0 ? semi : n;
    }
    PyObject *user_text, *host_text, *tag_text;
    if (uri_parts(s, uri[0], uri[1], user, host)) {
        user_text = piece(s, user[0], user[1], 1);
        host_text = piece(s, host[0], host[1], 1);
    } else {
        user_text = Py_NewRef(Py_None);
        host_text = Py_NewRef(Py_None);
    }
    if (parameter(s, params, n, "tag", &tag[0], &tag[1]))
        tag_text = piece(s, tag[0], tag[1], 0);
    else
        tag_text = Py_NewRef(Py_None);
    if (user_text == NULL || host_text == NULL || tag_text == NULL) {
        Py_DECREF(shown);
        Py_XDECREF(user_text);
        Py_XDECREF(host_text);
        Py_XDECREF(tag_text);
        return NULL;
    }
    return Py_BuildValue("(NNNN)", shown, user_text, host_text, tag_text);
}

/* via_branch(value): (topmost Via, its branch) as MessageParser._via gives them, or None for
 * a value it leaves to the regular expression. */
static PyObject *via_branch(PyObject *self, PyObject *value) {
    Text t = plain_text(value);
    if (t.text == NULL)
        Py_RETURN_NONE;
    const char *s = t.text;
    Py_ssize_t n = t.len, a = 0, b = n, branch[2];
    PyObject *top;
    Py_ssize_t comma = find_char(s, 0, n, ',');
    if (comma >= 0) {  /* the first of the list, stripped */
        b = comma;
        a = skip_blanks(s, 0, b);
        b = trim_blanks(s, a, b);
        top = piece(s, a, b, 0);
    } else {
        top = Py_NewRef(value);
    }
    if (top == NULL)
        return NULL;
    if (b > a && parameter(s, a, b, "branch", &branch[0], &branch[1]))
        return Py_BuildValue("(NN)", top, piece(s, branch[0], branch[1], 0));
    return Py_BuildValue("(NO)", top, Py_None);
}

/* SIP_TOKEN's characters: letters, digits and -.!%*_+`'~ */
static int is_token_char(char c) {
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("-.!%*_+`'~", c) != NULL);
}

static Py_ssize_t skip_spaces(const char *s, Py_ssize_t i, Py_ssize_t n) {
    while (i < n && s[i] == ' ')
        i++;
    return i;
}

/* The end of SIP_VERSION at s[i], or -1. */
static Py_ssize_t sip_version(const char *s, Py_ssize_t i, Py_ssize_t n) {
    if (n - i < 3 || memcmp(s + i, "SIP", 3) != 0)
        return -1;
    i = skip_spaces(s, i + 3, n);
    if (i >= n || s[i] != '/')
        return -1;
    i = skip_spaces(s, i + 1, n);
    Py_ssize_t digits = i;
    while (i < n && is_digit(s[i]))
        i++;
    if (i == digits || i >= n || s[i] != '.')
        return -1;
    digits = ++i;
    while (i < n && is_digit(s[i]))
        i++;
    return i == digits ? -1 : i;
}

static PyObject *status_line(const char *s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t i = sip_version(s, a, b);
    if (i < 0 || i >= b || s[i] != ' ')
        Py_RETURN_NONE;
    i = skip_spaces(s, i, b);
    if (b - i < 3 || !is_digit(s[i]) || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) || (i + 3 < b && s[i + 3] != ' '))
        Py_RETURN_NONE;
    int code = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
    Py_ssize_t phrase = i + 3 < b ? skip_blanks(s, i + 4, b) : b;  /* b is already past the trailing blanks */
    if (phrase == b)
        return Py_BuildValue("(NOOiO)", piece(s, i, i + 3, 0), Py_None, Py_None, code, Py_None);
    PyObject *reason = piece(s, phrase, b, 0);
    if (reason == NULL)
        return NULL;
    /* sip_method: the code, a space and the phrase stripped */
    PyObject *shown = phrase == i + 4 ? piece(s, i, b, 0) : PyUnicode_FromFormat("%.3s %U", s + i, reason);
    if (shown == NULL) {
        Py_DECREF(reason);
        return NULL;
    }
    return Py_BuildValue("(NOOiN)", shown, Py_None, Py_None, code, reason);
}

static PyObject *request_line(const char *s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t i = a;
    while (i < b && is_token_char(s[i]))
        i++;
    Py_ssize_t method_end = i;
    if (method_end == a || i >= b || s[i] != ' ')
        Py_RETURN_NONE;
    Py_ssize_t uri = i = skip_spaces(s, i, b);
    while (i < b && s[i] != ' ')
        i++;
    Py_ssize_t uri_end = i;
    if (uri_end == uri || i >= b)
        Py_RETURN_NONE;
    i = sip_version(s, skip_spaces(s, i, b), b);
    if (i < 0 || skip_spaces(s, i, b) != b)
        Py_RETURN_NONE;
    PyObject *method = piece(s, a, method_end, 0);
    if (method == NULL)
        return NULL;
    return Py_BuildValue("(ONNOO)", method, method, piece(s, uri, uri_end, 0), Py_None, Py_None);
}

/* start_line(line): (sip_method, method, request_uri, status_code, reason_phrase) as
 * MessageParser._start_line gives them, or None for a line it leaves to the expressions. */
static PyObject *start_line(PyObject *self, PyObject *value) {
    Text t = plain_text(value);
    if (t.text == NULL)
        Py_RETURN_NONE;
    const char *s = t.text;
    Py_ssize_t a = skip_blanks(s, 0, t.len), b = trim_blanks(s, a, t.len);
    if (b - a >= 4 && memcmp(s + a, "SIP/", 4) == 0)
        return status_line(s, a, b);
    return request_line(s, a, b);
}

static PyMethodDef METHODS[] = {
    {"start_line", start_line, METH_O,
     "(sip_method, method, request_uri, status_code, reason_phrase) of a first line as the bundled SIP "
     "grammar reads it, or None"},
    {"parse_address", parse_address, METH_O,
     "(display, user, host, tag) of a From/To value as the bundled SIP grammar reads it, or None"},
    {"via_branch", via_branch, METH_O,
     "(topmost Via, branch) of a Via value as the bundled SIP grammar reads it, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_address", NULL, -1, METHODS, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__address(void) { return PyModule_Create(&MODULE); }
