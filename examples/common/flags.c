/* Table-driven command-line parser. */
#include "flags.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idx.h"

void example_args_defaults(example_args *a)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    memset(a, 0, sizeof *a);
    a->epochs = 1;
    a->batch = 256;
    a->threads = cpus < 1 ? 1 : cpus > 256 ? 256 : (int)cpus;
    a->seed = 1;
    a->out = "out";
    a->save = NULL;
    a->resume = NULL;
    a->data = FMNIST_DEFAULT_DIR;
}

static const char *prog_name(int argc, char **argv)
{
    if (argc < 1 || !argv[0]) return "program";
    const char *slash = strrchr(argv[0], '/');
    return slash ? slash + 1 : argv[0];
}

static const char *metavar(flag_type t)
{
    switch (t) {
    case FLAG_INT:
    case FLAG_U64: return " N";
    case FLAG_FLOAT: return " X";
    case FLAG_STRING: return " TEXT";
    default: return "";
    }
}

static void format_value(const flag *f, char *buf, size_t size)
{
    switch (f->type) {
    case FLAG_INT: snprintf(buf, size, "%d", *(const int *)f->ptr); break;
    case FLAG_U64: snprintf(buf, size, "%" PRIu64, *(const uint64_t *)f->ptr); break;
    case FLAG_FLOAT: snprintf(buf, size, "%g", (double)*(const float *)f->ptr); break;
    case FLAG_STRING: {
        const char *s = *(const char *const *)f->ptr;
        snprintf(buf, size, s ? "%s" : "none", s);
        break;
    }
    case FLAG_BOOL: snprintf(buf, size, "%s", *(const int *)f->ptr ? "on" : "off"); break;
    }
}

void flags_print_help(const flag *table, size_t n, const char *prog, const char *summary, FILE *out)
{
    fprintf(out, "usage: %s [flags]\n", prog);
    if (summary) fprintf(out, "%s\n", summary);
    fprintf(out, "\nflags:\n");
    size_t width = strlen("--help");
    for (size_t i = 0; i < n; i++) {
        size_t w = strlen(table[i].name) + 2 + strlen(metavar(table[i].type));
        if (w > width) width = w;
    }
    for (size_t i = 0; i < n; i++) {
        char left[128], value[256];
        snprintf(left, sizeof left, "--%s%s", table[i].name, metavar(table[i].type));
        format_value(&table[i], value, sizeof value);
        fprintf(out, "  %-*s  %s (default: %s)\n", (int)width, left, table[i].help ? table[i].help : "", value);
    }
    fprintf(out, "  %-*s  %s\n", (int)width, "--help", "show this list and exit");
}

/* Levenshtein distance, for "did you mean" (names are short). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const flag *find(const flag *table, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0) return &table[i];
    return NULL;
}

static int has_range(const flag *f)
{
    return f->min < f->max;
}

/* Parse text into the flag's variable; 0 or FLAGS_ERROR with the message recorded. */
static int set_value(const flag *f, const char *text)
{
    char *end;
    if (f->type == FLAG_STRING) {
        if (!text[0]) return ex_fail(FLAGS_ERROR, "--%s needs a non-empty value", f->name);
        *(const char **)f->ptr = text;
        return 0;
    }
    if (f->type == FLAG_BOOL) {
        static const char *const on[] = {"1", "true", "yes", "on"}, *const off[] = {"0", "false", "no", "off"};
        for (int i = 0; i < 4; i++) {
            int is_on = strcmp(text, on[i]) == 0, is_off = strcmp(text, off[i]) == 0;
            if (is_on || is_off) {
                *(int *)f->ptr = is_on;
                return 0;
            }
        }
        return ex_fail(FLAGS_ERROR, "--%s: '%s' is not a yes/no value (1, 0, true, false, yes, no, on, off)",
                       f->name, text);
    }
    errno = 0;
    if (f->type == FLAG_INT) {
        long v = strtol(text, &end, 10);
        if (end == text || *end || errno == ERANGE || v < INT_MIN || v > INT_MAX)
            return ex_fail(FLAGS_ERROR, "--%s: '%s' is not an integer%s", f->name, text,
                           errno == ERANGE || (end != text && !*end) ? " in the int range" : "");
        if (has_range(f) && (v < f->min || v > f->max))
            return ex_fail(FLAGS_ERROR, "--%s: %ld is outside %.0f..%.0f", f->name, v, f->min, f->max);
        *(int *)f->ptr = (int)v;
        return 0;
    }
    if (f->type == FLAG_U64) {
        const char *s = text;
        while (*s == ' ' || *s == '\t') s++;
        unsigned long long v = strtoull(text, &end, 10);
        if (*s == '-' || *s == '+' || end == text || *end || errno == ERANGE)
            return ex_fail(FLAGS_ERROR, "--%s: '%s' is not an unsigned integer below 2^64", f->name, text);
        if (has_range(f) && ((double)v < f->min || (double)v > f->max))
            return ex_fail(FLAGS_ERROR, "--%s: %llu is outside %.0f..%.0f", f->name, v, f->min, f->max);
        *(uint64_t *)f->ptr = (uint64_t)v;
        return 0;
    }
    if (f->type == FLAG_FLOAT) {
        float v = strtof(text, &end);
        if (end == text || *end || !isfinite(v) || errno == ERANGE)
            return ex_fail(FLAGS_ERROR, "--%s: '%s' is not a finite number", f->name, text);
        if (has_range(f) && (v < f->min || v > f->max))
            return ex_fail(FLAGS_ERROR, "--%s: %g is outside %g..%g", f->name, (double)v, f->min, f->max);
        *(float *)f->ptr = v;
        return 0;
    }
    return ex_fail(FLAGS_ERROR, "--%s has an unknown type %d", f->name, (int)f->type);
}

static int parse(const flag *table, size_t n, int argc, char **argv)
{
    for (size_t i = 0; i < n; i++) {
        if (!table[i].name || !table[i].name[0] || !table[i].ptr || (unsigned)table[i].type > FLAG_BOOL)
            return ex_fail(FLAGS_ERROR, "flag table entry %zu is malformed (name, type or pointer)", i);
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return FLAGS_HELP;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return ex_fail(FLAGS_ERROR, "unexpected argument '%s' (flags start with --)", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const flag *f = find(table, n, name, len);
        if (!f && len > 3 && strncmp(name, "no-", 3) == 0) {
            const flag *neg = find(table, n, name + 3, len - 3);
            if (neg && neg->type == FLAG_BOOL && !eq) {
                *(int *)neg->ptr = 0;
                continue;
            }
        }
        if (!f) {
            char wanted[64];
            snprintf(wanted, sizeof wanted, "%.*s", (int)(len < 63 ? len : 63), name);
            const char *best = NULL;
            size_t best_d = 3; /* suggest only close names: at most 2 edits, or a prefix */
            for (size_t k = 0; k < n; k++) {
                size_t d = distance(wanted, table[k].name);
                if (d < best_d) {
                    best_d = d;
                    best = table[k].name;
                }
            }
            for (size_t k = 0; k < n && !best; k++)
                if (strlen(wanted) >= 2 && strncmp(table[k].name, wanted, strlen(wanted)) == 0) best = table[k].name;
            if (best) return ex_fail(FLAGS_ERROR, "unknown flag '--%s' (did you mean --%s?)", wanted, best);
            return ex_fail(FLAGS_ERROR, "unknown flag '--%s'", wanted);
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (f->type == FLAG_BOOL) {
            value = "1";
        } else {
            if (i + 1 >= argc) return ex_fail(FLAGS_ERROR, "--%s needs a value", f->name);
            value = argv[++i];
        }
        if (set_value(f, value)) return FLAGS_ERROR;
    }
    return FLAGS_OK;
}

int flags_parse(const flag *table, size_t n, int argc, char **argv, const char *summary, FILE *out, FILE *err)
{
    const char *prog = prog_name(argc, argv);
    if (!table && n) {
        ex_fail(FLAGS_ERROR, "flag table is NULL");
    } else {
        int rc = parse(table, n, argc, argv);
        if (rc == FLAGS_OK) return FLAGS_OK;
        if (rc == FLAGS_HELP) {
            flags_print_help(table, n, prog, summary, out ? out : stdout);
            return FLAGS_HELP;
        }
    }
    err = err ? err : stderr;
    fprintf(err, "%s: %s\nTry '%s --help' for the list of flags.\n", prog, ex_error(), prog);
    return FLAGS_ERROR;
}

void flags_parse_or_exit(const flag *table, size_t n, int argc, char **argv, const char *summary)
{
    int rc = flags_parse(table, n, argc, argv, summary, NULL, NULL);
    if (rc == FLAGS_HELP) exit(0);
    if (rc == FLAGS_ERROR) exit(FLAGS_ERROR);
}

int flags_find(const char *value, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (value && strcmp(value, names[i]) == 0) return (int)i;
    return -1;
}

int flags_pick2(const char *prog, const char *name, const char *value, const char *a, const char *b)
{
    const char *names[2] = {a, b};
    int i = flags_find(value, names, 2);
    if (i >= 0) return i;
    fprintf(stderr, "%s: --%s must be %s or %s, not '%s'\n", prog, name, a, b, value ? value : "");
    exit(FLAGS_ERROR);
}
