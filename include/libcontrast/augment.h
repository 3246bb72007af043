/**
 * @file libcontrast/augment.h
 * @brief (module under construction: no declarations yet)
 */
#ifndef LIBCONTRAST_AUGMENT_H
#define LIBCONTRAST_AUGMENT_H

#include "runtime.h"

LCT_BEGIN_DECLS

LCT_END_DECLS

#endif /* LIBCONTRAST_AUGMENT_H */
