/**
 * @file libcontrast/optimizer.h
 * @brief (module under construction: no declarations yet)
 */
#ifndef LIBCONTRAST_OPTIMIZER_H
#define LIBCONTRAST_OPTIMIZER_H

#include "runtime.h"

LCT_BEGIN_DECLS

LCT_END_DECLS

#endif /* LIBCONTRAST_OPTIMIZER_H */
