/*
 * The status codes each public function documents, read from the public headers
 * (every .h of include/libcontrast), so that a test can fail when a call returns a code its header
 * does not list.
 *
 * A function's documented codes are those its doc comment names: the text from "@return" to
 * the end of the comment if it has one, else the whole comment; plus the codes of every
 * function that text refers to with "as lct_other()"; plus the codes of the comment that opens
 * a Doxygen group ("@{" ... "@}") around it, which lists the errors common to its members.
 * LCT_OK is always allowed. Header-only: each test program parses the headers once.
 */
#ifndef LCT_DOC_CODES_H
#define LCT_DOC_CODES_H

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libcontrast/common.h>

#define LCT_DOC_MAX_FNS 512
#define LCT_DOC_MAX_REFS 4

typedef struct lct_doc_fn {
    char name[64];
    unsigned codes; /* bit -code for every documented code (bit 0: LCT_OK) */
    char refs[LCT_DOC_MAX_REFS][64];
    int n_refs;
    int returns_int; /* declared as returning int: a status (or a count) */
} lct_doc_fn;

typedef struct lct_doc {
    lct_doc_fn fn[LCT_DOC_MAX_FNS];
    size_t n;
    size_t unknown_tokens; /* LCT_E... words in comments that name no status */
    char first_unknown[64];
    int loaded;            /* 1: parsed; -1: the headers could not be read */
} lct_doc;

static const struct {
    const char *name;
    int code;
} lct_doc_status[] = {
#define LCT_DOC_STATUS(name, value, message) {"LCT_" #name, value},
    LCT_STATUS_MAP(LCT_DOC_STATUS)
#undef LCT_DOC_STATUS
};

/* The first occurrence of needle (nlen bytes) in hay[0..hlen), or NULL. */
static inline const char *lct_doc_find_str(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0) return hay + i;
    return NULL;
}

static inline int lct_doc_is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Codes named in text[0..len) (whole words LCT_OK / LCT_E...); unknown LCT_E words are counted. */
static inline unsigned lct_doc_scan_codes(lct_doc *d, const char *text, size_t len)
{
    unsigned bits = 0;
    for (size_t i = 0; i + 4 <= len; i++) {
        if (strncmp(text + i, "LCT_", 4) != 0 || (i > 0 && lct_doc_is_ident(text[i - 1]))) continue;
        size_t j = i;
        while (j < len && lct_doc_is_ident(text[j])) j++;
        size_t w = j - i;
        /* a status is LCT_OK or LCT_E + capitals (LCT_ENCODER_EVAL and the like are not) */
        int status = w == 6 && strncmp(text + i, "LCT_OK", 6) == 0;
        if (!status && w > 5 && text[i + 4] == 'E') {
            status = 1;
            for (size_t k = i + 5; k < j; k++)
                if (!isupper((unsigned char)text[k])) status = 0;
        }
        if (!status) {
            i = j;
            continue;
        }
        int found = 0;
        for (size_t k = 0; k < sizeof lct_doc_status / sizeof *lct_doc_status; k++)
            if (strlen(lct_doc_status[k].name) == w && strncmp(lct_doc_status[k].name, text + i, w) == 0) {
                bits |= 1u << -lct_doc_status[k].code;
                found = 1;
            }
        if (!found) {
            if (d->unknown_tokens++ == 0) snprintf(d->first_unknown, sizeof d->first_unknown, "%.*s", (int)w, text + i);
        }
        i = j;
    }
    return bits;
}

/* "as lct_name()" references in text[0..len). */
static inline void lct_doc_scan_refs(lct_doc_fn *f, const char *text, size_t len)
{
    for (size_t i = 0; i + 7 < len; i++) {
        if (!((text[i] == 'a' || text[i] == 'A') && text[i + 1] == 's' && text[i + 2] == ' ')) continue;
        if (i > 0 && lct_doc_is_ident(text[i - 1])) continue;
        const char *p = text + i + 3;
        if (p + 4 > text + len || strncmp(p, "lct_", 4) != 0) continue;
        size_t w = 0;
        while (p + w < text + len && lct_doc_is_ident(p[w])) w++;
        if (p + w + 1 < text + len && p[w] == '(' && p[w + 1] == ')' && f->n_refs < LCT_DOC_MAX_REFS && w < 64)
            snprintf(f->refs[f->n_refs++], 64, "%.*s", (int)w, p);
    }
}

static inline void lct_doc_parse(lct_doc *d, const char *s, size_t n)
{
    unsigned group = 0;
    const char *doc = NULL, *doc_end = NULL;
    for (size_t i = 0; i < n;) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
            const char *end = strstr(s + i + 2, "*/");
            size_t stop = end ? (size_t)(end - s) + 2 : n;
            const char *c = s + i;
            size_t clen = stop - i;
            int opens = lct_doc_find_str(c, clen, "@{", 2) != NULL, closes = lct_doc_find_str(c, clen, "@}", 2) != NULL;
            if (opens) group = lct_doc_scan_codes(d, c, clen);
            if (closes) group = 0;
            if (!opens && !closes && clen > 3 && c[2] == '*') {
                doc = c;
                doc_end = s + stop;
            } else {
                doc = NULL;
            }
            i = stop;
            continue;
        }
        if (s[i] == '#' && (i == 0 || s[i - 1] == '\n')) { /* preprocessor lines (the LCT_API definitions) */
            while (i < n && s[i] != '\n') i++;
            continue;
        }
        if (strncmp(s + i, "LCT_API", 7) == 0 && (i == 0 || !lct_doc_is_ident(s[i - 1])) && !lct_doc_is_ident(s[i + 7])) {
            const char *paren = memchr(s + i, '(', n - i);
            if (paren == NULL) break;
            const char *q = paren;
            while (q > s + i && isspace((unsigned char)q[-1])) q--;
            const char *e = q;
            while (q > s + i && lct_doc_is_ident(q[-1])) q--;
            int has_doc = 0;
            if (doc) {
                has_doc = 1;
                for (const char *b = doc_end; b < s + i; b++)
                    if (!isspace((unsigned char)*b)) has_doc = 0;
            }
            if ((size_t)(e - q) < 64 && strncmp(q, "lct_", 4) == 0 && d->n < LCT_DOC_MAX_FNS) {
                lct_doc_fn *f = &d->fn[d->n++];
                memset(f, 0, sizeof *f);
                snprintf(f->name, sizeof f->name, "%.*s", (int)(e - q), q);
                for (const char *t = s + i + 7; t + 3 <= q; t++)
                    if (strncmp(t, "int", 3) == 0 && !lct_doc_is_ident(t[-1]) && !lct_doc_is_ident(t[3])) f->returns_int = 1;
                f->codes = 1u | group;
                if (has_doc) {
                    size_t len = (size_t)(doc_end - doc);
                    const char *ret = lct_doc_find_str(doc, len, "@return", 7);
                    const char *from = ret ? ret : doc;
                    len -= (size_t)(from - doc);
                    f->codes |= lct_doc_scan_codes(d, from, len);
                    lct_doc_scan_refs(f, from, len);
                }
            }
            const char *semi = memchr(paren, ';', n - (size_t)(paren - s));
            i = semi ? (size_t)(semi - s) + 1 : n;
            doc = NULL;
            continue;
        }
        if (!isspace((unsigned char)s[i])) {
            /* anything else between a comment and a declaration detaches the comment */
            if (doc && s + i >= doc_end) doc = NULL;
        }
        i++;
    }
}

/* Parse every .h of dir (e.g. LCT_SOURCE_ROOT "/include/libcontrast"); 0 on success. */
static inline int lct_doc_load(lct_doc *d, const char *dir)
{
    memset(d, 0, sizeof *d);
    d->loaded = -1;
    DIR *dh = opendir(dir);
    if (dh == NULL) return -1;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".h") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *fp = fopen(path, "rb");
        if (fp == NULL) continue;
        fseek(fp, 0, SEEK_END);
        long size = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        char *buf = malloc((size_t)size + 1);
        if (buf && fread(buf, 1, (size_t)size, fp) == (size_t)size) {
            buf[size] = '\0';
            lct_doc_parse(d, buf, (size_t)size);
        }
        free(buf);
        fclose(fp);
    }
    closedir(dh);
    d->loaded = d->n > 0 ? 1 : -1;
    return d->loaded == 1 ? 0 : -1;
}

static inline const lct_doc_fn *lct_doc_find(const lct_doc *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->fn[i].name, name) == 0) return &d->fn[i];
    return NULL;
}

/* The documented codes of name with its references resolved (bit -code); 0 if name is not documented. */
static inline unsigned lct_doc_codes(const lct_doc *d, const char *name, int depth)
{
    const lct_doc_fn *f = lct_doc_find(d, name);
    if (f == NULL || depth > 8) return 0;
    unsigned bits = f->codes;
    for (int r = 0; r < f->n_refs; r++) bits |= lct_doc_codes(d, f->refs[r], depth + 1);
    return bits;
}

/* The public function a call expression's value comes from: the last operand of a parenthesised comma
 * expression, and through wrappers that are not library functions (e.g. keep_enc(lct_encoder_new(...))). */
static inline void lct_doc_call_name(const char *text, char *out, size_t cap)
{
    const char *p = text;
    out[0] = '\0';
    for (int guard = 0; guard < 16; guard++) {
        while (isspace((unsigned char)*p)) p++;
        if (*p == '(') {
            int depth = 0;
            const char *last = p + 1;
            for (const char *q = p; *q; q++) {
                if (*q == '(') depth++;
                else if (*q == ')' && --depth == 0) break;
                else if (*q == ',' && depth == 1) last = q + 1;
            }
            p = last;
            continue;
        }
        size_t w = 0;
        while (lct_doc_is_ident(p[w])) w++;
        if (w == 0) return;
        if (w > 4 && strncmp(p, "lct_", 4) == 0) {
            snprintf(out, cap, "%.*s", (int)w, p);
            return;
        }
        p += w;
        while (isspace((unsigned char)*p)) p++;
        if (*p != '(') return;
        p++;
    }
}

#endif
