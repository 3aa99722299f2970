/*
 * virtagent - HMP commands
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Included by monitor/hmp-target.c (through the hook patch), whose command
 * tables name these handlers.
 */
#ifndef MONITOR_VIRTAGENT_HMP_CMDS_H
#define MONITOR_VIRTAGENT_HMP_CMDS_H

#include "qemu/coroutine.h"

void coroutine_fn hmp_va_ping(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_capabilities(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_info(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_shutdown(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_getfile(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_putfile(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_getdmesg(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_call(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_exec(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_fsfreeze(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_netif(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_time(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_users(Monitor *mon, const QDict *qdict);
void coroutine_fn hmp_va_fsinfo(Monitor *mon, const QDict *qdict);
void hmp_va_cancel(Monitor *mon, const QDict *qdict);
void hmp_info_virtagent(Monitor *mon, const QDict *qdict);

#endif
