/*
 * virtagent - error domains and fault codes
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VIRTAGENT_ERRORS_H
#define VIRTAGENT_ERRORS_H

#include <glib.h>

/* Local failures of a call: GError domain VA_ERROR, codes below. */
#define VA_ERROR (va_error_quark())
/* Faults answered by the peer: domain VA_FAULT, code = faultCode. */
#define VA_FAULT (va_fault_quark())

typedef enum VAErrorCode {
    VA_ERROR_DISCONNECTED,  /* the channel was reset while the call waited */
    VA_ERROR_TIMEOUT,       /* no answer within the call's timeout */
    VA_ERROR_CANCELLED,     /* the caller cancelled it */
    VA_ERROR_QUEUE_FULL,    /* too many calls waiting to be sent */
    VA_ERROR_TOO_BIG,       /* the message exceeds the body limit */
    VA_ERROR_PROTOCOL,      /* the answer was not valid XML-RPC */
    VA_ERROR_INVALID,       /* bad argument from the embedder */
} VAErrorCode;

/*
 * Fault codes of our own, answered to the peer (docs/protocol.md). Codes
 * from -500 to -599 come from xmlrpc-c itself (parse errors, unknown
 * method, wrong parameter types).
 */
typedef enum VAFaultCode {
    VA_FAULT_MALFORMED = 1001,    /* the frame was malformed or truncated */
    VA_FAULT_TOO_LARGE = 1002,    /* body over the receiver's limit */
    VA_FAULT_UNSAFE_XML = 1003,   /* DTD, entity or nesting over the limit */
    VA_FAULT_BUSY = 1004,         /* too many calls in progress */
    VA_FAULT_RATE_LIMITED = 1005, /* calls arrive faster than allowed */
    VA_FAULT_DISABLED = 1006,     /* method blocked by policy */
    VA_FAULT_INVALID_ARGS = 1007, /* wrong argument count, type or value */
    VA_FAULT_FAILED = 1008,       /* the operation failed (errno text) */
} VAFaultCode;

GQuark va_error_quark(void);
GQuark va_fault_quark(void);

#endif
