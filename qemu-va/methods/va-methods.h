/*
 * qemu-va - what the method files share: their tables and helpers
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each domain (va-m-*.c) exports one VAMethodDomain: a table of xmlrpc-c
 * methods and, when it keeps state, hooks to set it up and tear it down.
 * guest-rpc.c walks the list of domains; a new method touches only its
 * domain's file.
 */
#ifndef QEMU_VA_METHODS_H
#define QEMU_VA_METHODS_H

#include "qemu-va/guest-rpc.h"

/* The method may block (disk, subprocess): run it in the thread pool. */
#define VA_M_SLOW 1u
/* Allowed while the filesystems are frozen (qemu-ga's few). */
#define VA_M_FROZEN_OK 2u

/*
 * The method's answer written as a whole methodResponse document into
 * @out, for qemu-va's executor: bulk base64 encoded in one pass rather
 * than through xmlrpc-c's values and serializer. False with @env set
 * on a fault.
 */
typedef bool VAMethodXml(xmlrpc_env *env, xmlrpc_value *params,
                         VAGuestRpc *rpc, void *call_info, GString *out);

/*
 * A method with a data stream takes its job in the channel's thread and
 * answers it itself (va_server_job_set_response() or _set_fault(), then
 * va_channel_job_executed()), at once or when its data is done.
 */
typedef void VAMethodStart(xmlrpc_value *params, VAGuestRpc *rpc,
                           VAChannel *ch, VAServerJob *job);

typedef struct VAMethod {
    struct xmlrpc_method_info3 info;
    unsigned flags;
    VAMethodXml *xml;       /* optional */
    VAMethodStart *start;   /* the method streams; info's function faults */
} VAMethod;

typedef struct VAMethodDomain {
    const char *name;
    const VAMethod *methods;            /* ended by a NULL methodName */
    void (*init)(VAGuestRpc *rpc);
    void (*cleanup)(VAGuestRpc *rpc);
    /* The channel was reset: state tied to the session goes. */
    void (*session_end)(VAGuestRpc *rpc);
} VAMethodDomain;

extern const VAMethodDomain va_m_agent;
extern const VAMethodDomain va_m_system;
extern const VAMethodDomain va_m_files;
extern const VAMethodDomain va_m_power;
extern const VAMethodDomain va_m_net;
extern const VAMethodDomain va_m_users;
extern const VAMethodDomain va_m_process;
extern const VAMethodDomain va_m_fs;
extern const VAMethodDomain va_m_hw;
extern const VAMethodDomain va_m_data;

/* Faults 1008 with "@what: errno text (ENAME)". */
void va_fault_errno(xmlrpc_env *env, const char *what, int err);

/*
 * Logs the call (with -v) and faults unless @params holds between @min
 * and @max arguments; returns their number, or -1.
 */
int va_check_args(xmlrpc_env *env, const char *method, xmlrpc_value *params,
                  int min, int max);
/* Exactly @count arguments. */
bool va_check_count(xmlrpc_env *env, const char *method,
                    xmlrpc_value *params, int count);

/* Argument @idx as an integer; int and i8 are both accepted. */
bool va_param_int(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                  const char *name, int64_t *out);
/* Argument @idx as a string without NULs; free it with g_free(). */
char *va_param_string(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                      const char *name);
bool va_param_bool(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                   const char *name, bool *out);
/* Argument @idx as base64: its bytes, to free() with free(). */
bool va_param_base64(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                     const char *name, const unsigned char **data,
                     size_t *len);
/* Argument @idx as a struct (a new reference). */
xmlrpc_value *va_param_struct(xmlrpc_env *env, xmlrpc_value *params,
                              unsigned idx, const char *name);
/* Argument @idx as an array of strings without NULs, at most @max. */
GStrv va_param_strv(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                    const char *name, int max);

/*
 * Members of an options struct; each returns false with @env set when the
 * member has the wrong type, true when it is absent (out left alone).
 * Members other than @known are refused, so a misspelt option is not
 * silently ignored.
 */
bool va_opts_check(xmlrpc_env *env, xmlrpc_value *opts,
                   const char *const *known);
bool va_opt_int(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                int64_t *out);
bool va_opt_bool(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                 bool *out);
bool va_opt_string(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                   char **out);
bool va_opt_strv(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                 int max, GStrv *out);
bool va_opt_base64(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                   size_t max, GBytes **out);

/* Sets @key of @st; each faults @env on failure. */
void va_struct_set_text(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                        const char *text);
void va_struct_set_i8(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                      int64_t i);
void va_struct_set_int(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                       int i);
void va_struct_set_bool(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                        bool b);
/* Appends and drops the reference to @item (NULL: nothing). */
void va_array_append_take(xmlrpc_env *env, xmlrpc_value *array,
                          xmlrpc_value *item);
void va_struct_set_take(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                        xmlrpc_value *v);

/* @path under the configured system root; free with g_free(). */
char *va_sys_path(const VAGuestRpc *rpc, const char *path);
/*
 * The lines of @file under the system root, or NULL when it cannot be
 * read, with a fault in @env unless @env is NULL (a file that may lack).
 */
GStrv va_sys_lines(const VAGuestRpc *rpc, xmlrpc_env *env, const char *file);

/*
 * Adds to @os the os-release(5) keys named keys[i][0], as keys[i][1];
 * keys the file lacks are left out.
 */
void va_os_release_to_struct(const VAGuestRpc *rpc, xmlrpc_env *env,
                             xmlrpc_value *os, const char *const keys[][2],
                             size_t nkeys);

/* Whether va.fsfreeze_freeze has frozen the filesystems; never waits. */
bool va_fs_frozen(VAGuestRpc *rpc);

/* qsort(3)/g_ptr_array_sort() order of char * elements. */
int va_strv_cmp(const void *a, const void *b);
/* The same for gint64 elements. */
int va_int64_cmp(const void *a, const void *b);

/* Reads up to @len bytes at @offset; -1 with errno on failure. */
ssize_t va_read_at(int fd, uint8_t *buf, size_t len, int64_t offset);

/*
 * A methodResponse written directly (va-m-files.c): begin, members of
 * its struct, end. @text goes in as it is: plain ASCII only.
 */
void va_xml_begin(GString *out);
void va_xml_member(GString *out, const char *name, const char *type,
                   const char *text);
void va_xml_member_i8(GString *out, const char *name, int64_t v);
void va_xml_end(GString *out);

/*
 * A file written through a temporary beside @path (va.putfile's, also
 * va.putfile_data's): va_put_begin() creates it and lists it for the
 * session (two references: the list's and the caller's); it is written
 * through va_put_fd() and renamed into place by va_put_commit() (sync,
 * mode, owner). The list's reference goes with va_put_forget() or the
 * session; the temporary goes with the last reference unless committed.
 */
typedef struct VAPut VAPut;
VAPut *va_put_begin(xmlrpc_env *env, VAGuestRpc *rpc, const char *path,
                    void *call_info);
/* @mode -1: the old file's, else 0644; @owner NULL: likewise. */
bool va_put_set_attrs(xmlrpc_env *env, VAPut *p, int64_t mode,
                      const char *owner);
int va_put_fd(VAPut *p);
bool va_put_commit(xmlrpc_env *env, VAPut *p);
void va_put_forget(VAGuestRpc *rpc, VAPut *p);
void va_put_unref(VAPut *p);
/*
 * Removes the temporaries recorded in @statedir by a qemu-va that died
 * before finishing their transfers (only ".NAME.va-XXXXXX" files), and
 * their records; how many. Run at start, with the pidfile held.
 */
unsigned va_put_reclaim(const char *statedir);

/* Drops @v when @env holds a fault; returns what the method returns. */
xmlrpc_value *va_result(xmlrpc_env *env, xmlrpc_value *v);

#endif
