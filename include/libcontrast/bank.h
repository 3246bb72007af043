/**
 * @file libcontrast/bank.h
 * @brief (module under construction: no declarations yet)
 */
#ifndef LIBCONTRAST_BANK_H
#define LIBCONTRAST_BANK_H

#include "runtime.h"

LCT_BEGIN_DECLS

LCT_END_DECLS

#endif /* LIBCONTRAST_BANK_H */
