/*
 * va-call - typed arguments in, printable answers out
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_VA_VA_CALL_ARGS_H
#define QEMU_VA_VA_CALL_ARGS_H

#include <stdbool.h>
#include <xmlrpc-c/base.h>

/*
 * One command-line argument as an XML-RPC value:
 *   i:42  int     I:42  i8 (64-bit)   d:1.5  double   b:true  boolean
 *   s:text  string   n:  nil   6:aGk=  base64 (given encoded)
 *   j:JSON, or anything starting with [ or {: JSON, read by xmlrpc-c
 *   (integers become int, or i8 when larger; null becomes nil; a trailing
 *   comma is forgiven)
 *   anything else: a string, as it is.
 * Faults @env (code VA_FAULT_INVALID_ARGS) with a message on bad input.
 */
xmlrpc_value *va_call_parse_arg(xmlrpc_env *env, const char *arg);

/*
 * @v as JSON (base64 as its encoded text, dates as ISO 8601 strings);
 * with @raw_string, a string at the top is printed as it is.
 */
char *va_call_format(xmlrpc_env *env, xmlrpc_value *v, bool raw_string);

#endif
