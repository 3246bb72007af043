/**
 * @file libcontrast/common.h
 * @brief Export macro, version, status codes and the thread-local error message.
 *
 * Every fallible libcontrast call returns an `int`: ::LCT_OK (0) on success or
 * one of the negative ::lct_status codes. After a failure, lct_error_last()
 * returns a message naming the argument and the value at fault.
 */
#ifndef LIBCONTRAST_COMMON_H
#define LIBCONTRAST_COMMON_H

#include <stddef.h>
#include <stdint.h>

/*
 * LCT_API marks the functions of the API. On Windows the library's own build (LCT_BUILDING_LIBRARY)
 * exports them from the DLL and a program using the DLL imports them (the default); a program that
 * links the static library defines LCT_STATIC (pkg-config --static, CMake's
 * libcontrast::libcontrast_static and Meson's static dependency do). Elsewhere they get default
 * visibility in a library built with -fvisibility=hidden.
 */
#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(LCT_STATIC)
#    define LCT_API
#  elif defined(LCT_BUILDING_LIBRARY)
#    define LCT_API __declspec(dllexport)
#  else
#    define LCT_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define LCT_API __attribute__((visibility("default")))
#else
#  define LCT_API
#endif

#ifdef __cplusplus
#  define LCT_BEGIN_DECLS extern "C" {
#  define LCT_END_DECLS }
#else
#  define LCT_BEGIN_DECLS
#  define LCT_END_DECLS
#endif

/** Release version of the headers. The soname major (1) moves only on an ABI break. */
#define LCT_VERSION_MAJOR 0
#define LCT_VERSION_MINOR 2
#define LCT_VERSION_PATCH 0
/** MAJOR*1000000 + MINOR*1000 + PATCH, comparable with lct_version_number(). */
#define LCT_VERSION_NUMBER (LCT_VERSION_MAJOR * 1000000 + LCT_VERSION_MINOR * 1000 + LCT_VERSION_PATCH)
#define LCT__STR2(x) #x
#define LCT__STR(x) LCT__STR2(x)
#define LCT_VERSION_STRING LCT__STR(LCT_VERSION_MAJOR) "." LCT__STR(LCT_VERSION_MINOR) "." LCT__STR(LCT_VERSION_PATCH)

LCT_BEGIN_DECLS

/**
 * The status codes, one table for the enum, lct_status_string() and the bindings:
 * X(NAME, value, message) gives LCT_NAME = value. The numbers are part of the ABI: they never
 * change meaning, and new codes only ever take new numbers, at the end.
 *
 *  - OK: success
 *  - EINVAL: an argument is invalid (NULL, zero, out of its domain)
 *  - ENOMEM: an allocation failed; nothing was changed
 *  - ESHAPE: buffer shapes or sizes do not match the handle, or a size computed from them
 *    overflows (size_t, 64 bits, or a workspace)
 *  - EIO: a read, write, sync or rename failed
 *  - EFORMAT: input data is malformed (spec text, file contents)
 *  - ENUMERIC: NaN or Inf met in inputs, outputs or gradients
 *  - EVERSION: an option struct or file has a version this library does not know
 *  - ESTATE: the call is not valid in the handle's current state
 *  - ERANGE: a parameter value or an index is outside its documented bounds
 *  - EUNSUPPORTED: the operation is not available in this build or on this CPU
 *  - ECHECKSUM: stored data fails its checksum
 *  - EMISMATCH: handles that must belong together do not (e.g. different runtimes)
 *  - ECOMM: a collective operation of a communicator (lct_comm) failed
 *  - ENOTFOUND: nothing goes by the name or key looked up (a checkpoint section, meta key, counter)
 */
#define LCT_STATUS_MAP(X) \
    X(OK, 0, "success") \
    X(EINVAL, -1, "invalid argument") \
    X(ENOMEM, -2, "out of memory") \
    X(ESHAPE, -3, "shape mismatch") \
    X(EIO, -4, "input/output error") \
    X(EFORMAT, -5, "malformed input") \
    X(ENUMERIC, -6, "non-finite value (NaN or Inf)") \
    X(EVERSION, -7, "unsupported version") \
    X(ESTATE, -8, "invalid state for this call") \
    X(ERANGE, -9, "value out of range") \
    X(EUNSUPPORTED, -10, "not supported") \
    X(ECHECKSUM, -11, "checksum mismatch") \
    X(EMISMATCH, -12, "handles do not belong together") \
    X(ECOMM, -13, "collective communication failed") \
    X(ENOTFOUND, -14, "not found")

#define LCT__STATUS_ENUMERATOR(name, value, message) LCT_##name = value,
/** Status codes: see LCT_STATUS_MAP. */
typedef enum lct_status {
    LCT_STATUS_MAP(LCT__STATUS_ENUMERATOR)
} lct_status;
#undef LCT__STATUS_ENUMERATOR

/** Short English description of a status code; never NULL (unknown codes give "unknown status"). */
LCT_API const char *lct_status_string(int status);

/**
 * The message of the last failure in the calling thread, naming the function,
 * the argument and the value at fault. Valid until the next failing call in the
 * same thread; "" if no call in this thread has failed. Never NULL.
 */
LCT_API const char *lct_error_last(void);

/** Forget the calling thread's last error message. */
LCT_API void lct_error_clear(void);

/**
 * Record @p message (copied, truncated to 511 bytes; NULL records "") as the calling thread's last
 * error and return @p status: for code outside the core library that reports through the same
 * channel, such as a communicator implementation (libcontrast-mpi) or a host's callbacks.
 */
LCT_API int lct_error_set(int status, const char *message);

/** Version of the library actually linked, as LCT_VERSION_NUMBER. */
LCT_API int lct_version_number(void);

/** Version of the library actually linked, as "MAJOR.MINOR.PATCH". */
LCT_API const char *lct_version_string(void);

LCT_END_DECLS

#endif /* LIBCONTRAST_COMMON_H */
