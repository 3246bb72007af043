/**
 * @file libcontrast/encoder.h
 * @brief (module under construction: no declarations yet)
 */
#ifndef LIBCONTRAST_ENCODER_H
#define LIBCONTRAST_ENCODER_H

#include "runtime.h"

LCT_BEGIN_DECLS

LCT_END_DECLS

#endif /* LIBCONTRAST_ENCODER_H */
