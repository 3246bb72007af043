/**
 * @file libcontrast/loss.h
 * @brief (module under construction: no declarations yet)
 */
#ifndef LIBCONTRAST_LOSS_H
#define LIBCONTRAST_LOSS_H

#include "runtime.h"

LCT_BEGIN_DECLS

LCT_END_DECLS

#endif /* LIBCONTRAST_LOSS_H */
