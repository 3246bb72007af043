/**
 * @file libcontrast/checkpoint.h
 * @brief (module under construction: no declarations yet)
 */
#ifndef LIBCONTRAST_CHECKPOINT_H
#define LIBCONTRAST_CHECKPOINT_H

#include "runtime.h"

LCT_BEGIN_DECLS

LCT_END_DECLS

#endif /* LIBCONTRAST_CHECKPOINT_H */
