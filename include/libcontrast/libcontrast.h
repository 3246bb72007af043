/**
 * @file libcontrast/libcontrast.h
 * @brief Umbrella header: includes every public libcontrast header.
 */
#ifndef LIBCONTRAST_H
#define LIBCONTRAST_H

#include "common.h"
#include "runtime.h"
#include "params.h"
#include "encoder.h"
#include "optimizer.h"
#include "bank.h"
#include "knn.h"
#include "augment.h"
#include "loss.h"
#include "checkpoint.h"
#include "comm.h"
#include "replay.h"

#endif /* LIBCONTRAST_H */
