/* Small file-system helpers of the examples: output folders and paths inside them. */
#ifndef LCT_EXAMPLES_FILES_H
#define LCT_EXAMPLES_FILES_H

#include <stddef.h>

#include "error.h"

/* Create the folder and its missing parents (like mkdir -p). 0, LCT_EINVAL (NULL or empty
 * path, path too long) or LCT_EIO (a component exists and is not a folder, or mkdir failed). */
int make_dirs(const char *path);

/* buf = dir + "/" + name. 0, or LCT_EINVAL when an argument is NULL or the result does not fit. */
int join_path(char *buf, size_t size, const char *dir, const char *name);

#endif
