/*
 * Replays a fuzz corpus as an ordinary test: every file of the folders given on the command
 * line goes once through LLVMFuzzerTestOneInput (the same entry point libFuzzer drives).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, size = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (size == cap) buf = realloc(buf, cap *= 2);
        size_t n = fread(buf + size, 1, cap - size, f);
        if (n == 0) break;
        size += n;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            if (run_file(argv[i]) != 0) return 1;
            files++;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (run_file(path) != 0) return 1;
            files++;
        }
        closedir(d);
    }
    printf("%d corpus files replayed without a crash\n", files);
    return files > 0 ? 0 : 1;
}
