/*
 * The text spec of an encoder: "in 1x28x28; conv2d 32 k3 p1; bn; relu; ...".
 * Statements are separated by ';', tokens by blanks. Every error names the
 * token at fault and its column (1-based) in the spec.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "encoder_internal.h"

#define MAX_TOKENS 16
#define SPEC_FN "lct_encoder_new_from_spec"

typedef struct tok {
    const char *s;
    size_t len, col;
} tok;

typedef struct stmt {
    tok t[MAX_TOKENS];
    size_t n;
    size_t col, len; /* whole statement */
    const char *text;
} stmt;

static int bad(const tok *t, const char *what)
{
    return lct__fail(LCT_EFORMAT, SPEC_FN, "%s: '%.*s' at column %zu", what, (int)(t->len > 60 ? 60 : t->len), t->s,
                     t->col);
}

static int is(const tok *t, const char *word)
{
    return t->len == strlen(word) && strncmp(t->s, word, t->len) == 0;
}

/* Decimal integer 0..UINT32_MAX from s[0..len). */
static int parse_u32(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_float(const char *s, size_t len, float *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end != '\0' || errno != 0 || !isfinite(v) || !isfinite((float)v)) return -1;
    *out = (float)v;
    return 0;
}

/* Split the statement starting at s (up to ';' or end). */
static int split(const char *spec, const char *s, const char *end, stmt *st)
{
    st->n = 0;
    st->text = s;
    st->col = (size_t)(s - spec) + 1;
    st->len = (size_t)(end - s);
    const char *p = s;
    while (p < end) {
        while (p < end && isspace((unsigned char)*p)) p++;
        if (p >= end) break;
        const char *q = p;
        while (q < end && !isspace((unsigned char)*q)) q++;
        if (st->n == MAX_TOKENS) {
            tok t = {p, (size_t)(q - p), (size_t)(p - spec) + 1};
            return bad(&t, "too many tokens in one layer");
        }
        st->t[st->n++] = (tok){p, (size_t)(q - p), (size_t)(p - spec) + 1};
        p = q;
    }
    return LCT_OK;
}

/* Options of the form <letter><integer> (k3, s2, p1) or key=value, plus the word "nobias". */
typedef struct opts {
    uint32_t k, s, p;
    int has_k, has_s, has_p, nobias, has_momentum, has_eps;
    float momentum, eps;
} spec_opts;

static int parse_opts(const stmt *st, size_t first, const char *allowed, spec_opts *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = first; i < st->n; i++) {
        const tok *t = &st->t[i];
        if (is(t, "nobias") && strchr(allowed, 'b')) {
            if (o->nobias) return bad(t, "repeated option");
            o->nobias = 1;
            continue;
        }
        if (t->len > 9 && strncmp(t->s, "momentum=", 9) == 0 && strchr(allowed, 'm')) {
            if (o->has_momentum) return bad(t, "repeated option");
            if (parse_float(t->s + 9, t->len - 9, &o->momentum)) return bad(t, "malformed number in option");
            o->has_momentum = 1;
            continue;
        }
        if (t->len > 4 && strncmp(t->s, "eps=", 4) == 0 && strchr(allowed, 'e')) {
            if (o->has_eps) return bad(t, "repeated option");
            if (parse_float(t->s + 4, t->len - 4, &o->eps)) return bad(t, "malformed number in option");
            o->has_eps = 1;
            continue;
        }
        char c = t->s[0];
        if ((c == 'k' || c == 's' || c == 'p') && strchr(allowed, c) && t->len > 1) {
            uint32_t v;
            if (parse_u32(t->s + 1, t->len - 1, &v)) return bad(t, "malformed integer in option");
            int *has = c == 'k' ? &o->has_k : c == 's' ? &o->has_s : &o->has_p;
            if (*has) return bad(t, "repeated option");
            *has = 1;
            *(c == 'k' ? &o->k : c == 's' ? &o->s : &o->p) = v;
            continue;
        }
        return bad(t, "unknown option for this layer");
    }
    return LCT_OK;
}

static int need_args(const stmt *st, size_t n)
{
    if (st->n < n + 1) return bad(&st->t[0], n == 1 ? "missing argument after" : "missing arguments after");
    return LCT_OK;
}

static int build_layer(const stmt *st, lct__layer *l)
{
    memset(l, 0, sizeof *l);
    const tok *kw = &st->t[0];
    spec_opts o;
    int rc;
    uint32_t n = 0;
    if (is(kw, "linear")) {
        if ((rc = need_args(st, 1))) return rc;
        if (parse_u32(st->t[1].s, st->t[1].len, &n)) return bad(&st->t[1], "malformed integer (out_features)");
        if ((rc = parse_opts(st, 2, "b", &o))) return rc;
        l->kind = LCT__L_LINEAR;
        l->units = n;
        l->has_bias = !o.nobias;
    } else if (is(kw, "conv2d") || is(kw, "conv1d")) {
        if ((rc = need_args(st, 2))) return rc;
        if (parse_u32(st->t[1].s, st->t[1].len, &n)) return bad(&st->t[1], "malformed integer (out_channels)");
        if ((rc = parse_opts(st, 2, "kspb", &o))) return rc;
        if (!o.has_k) return bad(kw, "kernel size (k<N>) missing for");
        l->kind = is(kw, "conv2d") ? LCT__L_CONV2D : LCT__L_CONV1D;
        l->units = n;
        l->kernel = o.k;
        l->stride = o.has_s ? o.s : 1;
        l->padding = o.p;
        l->has_bias = !o.nobias;
    } else if (is(kw, "bn") || is(kw, "batchnorm")) {
        if ((rc = parse_opts(st, 1, "me", &o))) return rc;
        l->kind = LCT__L_BATCHNORM;
        l->momentum = o.has_momentum ? o.momentum : 0.1f;
        l->eps = o.has_eps ? o.eps : 1e-5f;
    } else if (is(kw, "maxpool") || is(kw, "avgpool")) {
        if ((rc = need_args(st, 1))) return rc;
        if (parse_u32(st->t[1].s, st->t[1].len, &n)) return bad(&st->t[1], "malformed integer (kernel)");
        if ((rc = parse_opts(st, 2, "s", &o))) return rc;
        l->kind = is(kw, "maxpool") ? LCT__L_MAXPOOL : LCT__L_AVGPOOL;
        l->kernel = n;
        l->stride = o.has_s ? o.s : n;
    } else if (is(kw, "dropout")) {
        if ((rc = need_args(st, 1))) return rc;
        if (parse_float(st->t[1].s, st->t[1].len, &l->p)) return bad(&st->t[1], "malformed number (drop probability)");
        if ((rc = parse_opts(st, 2, "", &o))) return rc;
        l->kind = LCT__L_DROPOUT;
    } else if (is(kw, "l2norm")) {
        if ((rc = parse_opts(st, 1, "e", &o))) return rc;
        l->kind = LCT__L_L2NORM;
        l->eps = o.has_eps ? o.eps : 1e-12f;
    } else if (is(kw, "gru")) {
        if ((rc = need_args(st, 1))) return rc;
        if (parse_u32(st->t[1].s, st->t[1].len, &n)) return bad(&st->t[1], "malformed integer (hidden size)");
        if ((rc = parse_opts(st, 2, "", &o))) return rc;
        l->kind = LCT__L_GRU;
        l->units = n;
    } else if (is(kw, "relu") || is(kw, "flatten") || is(kw, "transpose") || is(kw, "gap")) {
        if ((rc = parse_opts(st, 1, "", &o))) return rc;
        l->kind = is(kw, "relu") ? LCT__L_RELU : is(kw, "flatten") ? LCT__L_FLATTEN
                : is(kw, "transpose") ? LCT__L_TRANSPOSE : LCT__L_GAP;
    } else {
        return bad(kw, "unknown layer");
    }
    return LCT_OK;
}

static int parse_input(const stmt *st, uint32_t *shape, size_t *rank)
{
    if (st->n == 0 || !is(&st->t[0], "in")) {
        tok t = st->n ? st->t[0] : (tok){st->text, 0, st->col};
        return bad(&t, "the spec must start with 'in <shape>', e.g. 'in 1x28x28'; found");
    }
    if (st->n != 2) return bad(st->n < 2 ? &st->t[0] : &st->t[2], st->n < 2 ? "missing shape after" : "unexpected token");
    const tok *t = &st->t[1];
    *rank = 0;
    const char *p = t->s, *end = t->s + t->len;
    while (p <= end) {
        const char *q = p;
        while (q < end && *q != 'x') q++;
        uint32_t v;
        if (*rank == LCT_ENCODER_MAX_RANK) return bad(t, "more than 3 dimensions in shape");
        if (parse_u32(p, (size_t)(q - p), &v) || v == 0) return bad(t, "malformed shape (want e.g. 3x32x32, each >= 1)");
        shape[(*rank)++] = v;
        p = q + 1;
    }
    return LCT_OK;
}

/* Walk the layers after the input statement (which ends at e): each is parsed and shape-checked in order.
 * With enc NULL only checks (and fills plan, if given); otherwise appends each layer to enc. Allocates
 * nothing itself, so a spec can be judged before anything is created from it. */
static int walk(const char *spec, const char *e, const uint32_t *shape, size_t rank, lct_encoder *enc,
                lct__spec_plan *plan)
{
    lct__shape cur = {{0}, (uint32_t)rank};
    for (size_t i = 0; i < rank; i++) cur.d[i] = shape[i];
    size_t n = 0;
    int rc;
    while (*e == ';') {
        const char *s = e + 1;
        e = strchr(s, ';');
        if (e == NULL) e = s + strlen(s);
        stmt st;
        lct__layer proto;
        if ((rc = split(spec, s, e, &st))) return rc;
        if (st.n == 0) {
            if (*e == '\0') break; /* a trailing ';' */
            tok t = {s, 0, (size_t)(s - spec) + 1};
            return bad(&t, "empty layer between ';'");
        }
        if ((rc = build_layer(&st, &proto))) return rc;
        n++;
        if (enc) {
            if ((rc = lct__encoder_add(enc, &proto, SPEC_FN))) return rc;
            continue;
        }
        lct__layer tmp = proto;
        if ((rc = lct__layer_init(&tmp, &cur, SPEC_FN))) {
            char msg[400];
            const char *m = lct_error_last();
            size_t skip = strlen(SPEC_FN ": ");
            snprintf(msg, sizeof msg, "%s", strncmp(m, SPEC_FN ": ", skip) == 0 ? m + skip : m);
            const tok *t = &st.t[0];
            size_t len = st.len - (size_t)(t->s - st.text);
            while (len > 0 && isspace((unsigned char)t->s[len - 1])) len--;
            return lct__fail(rc, SPEC_FN, "layer %zu '%.*s' at column %zu: %s", n, (int)(len > 60 ? 60 : len), t->s,
                             t->col, msg);
        }
        cur = tmp.out;
        if (plan) {
            lct__tensor_desc desc[LCT__MAX_LAYER_TENSORS];
            size_t nt = lct__layer_tensors(&tmp, desc), store = lct__layer_store_floats(&tmp);
            char name[48];
            for (size_t k = 0; k < nt; k++) {
                int len = snprintf(name, sizeof name, "%zu.%s.%s", n - 1, lct__layer_kind_name(tmp.kind),
                                   desc[k].suffix);
                if (desc[k].count > SIZE_MAX - plan->values)
                    return lct__fail(LCT_ESHAPE, SPEC_FN, "the spec's parameters overflow");
                plan->values += desc[k].count;
                plan->name_bytes += (size_t)len;
            }
            if (store > SIZE_MAX - plan->store) return lct__fail(LCT_ESHAPE, SPEC_FN, "the spec's parameters overflow");
            plan->store += store;
            plan->tensors += nt;
        }
    }
    if (plan) plan->layers = n;
    return LCT_OK;
}

/* The input statement of spec: its shape, and where it ends. */
static int parse_head(const char *spec, uint32_t *shape, size_t *rank, const char **end)
{
    if (strlen(spec) > 65536) return lct__fail(LCT_EFORMAT, SPEC_FN, "spec is %zu characters long; the limit is 65536",
                                               strlen(spec));
    const char *e = strchr(spec, ';');
    if (e == NULL) e = spec + strlen(spec);
    stmt st;
    int rc = split(spec, spec, e, &st);
    if (rc == LCT_OK) rc = parse_input(&st, shape, rank);
    *end = e;
    return rc;
}

int lct__encoder_plan(const char *spec, lct__spec_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    const char *e;
    int rc = parse_head(spec, plan->shape, &plan->rank, &e);
    if (rc == LCT_OK) rc = walk(spec, e, plan->shape, plan->rank, NULL, plan);
    return rc;
}

int lct_encoder_new_from_spec(lct_encoder **out, lct_runtime *rt, const char *spec, const lct_encoder_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    LCT__REQUIRE(spec);
    lct_encoder_options local;
    LCT__OPTIONS_COPY(LCT__OPT_ENCODER, lct_encoder_options_init, local, opts);
    /* Check everything first: a bad spec must not consume a random stream, nor allocate. */
    uint32_t shape[LCT_ENCODER_MAX_RANK];
    size_t rank = 0;
    const char *e;
    int rc = parse_head(spec, shape, &rank, &e);
    if (rc == LCT_OK) rc = walk(spec, e, shape, rank, NULL, NULL);
    if (rc) return rc;
    lct_encoder *enc;
    if ((rc = lct_encoder_new(&enc, rt, shape, rank, opts))) return rc;
    if ((rc = walk(spec, e, shape, rank, enc, NULL))) {
        lct_encoder_free(enc);
        return rc;
    }
    *out = enc;
    return LCT_OK;
}
