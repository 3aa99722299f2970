/*
 * qemu-va - network: interfaces with their addresses, and routes
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As qemu-ga's guest-network-get-interfaces and -get-route, with the same
 * field names: addresses from getifaddrs(3), MAC addresses from its
 * AF_PACKET entries, counters and routes from /proc/net.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <string.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

/* /proc/net/dev's columns, in its order, as qemu-ga names them. */
static const char *const va_netdev_fields[16] = {
    "rx-bytes", "rx-packets", "rx-errs", "rx-dropped", NULL, NULL, NULL,
    NULL, "tx-bytes", "tx-packets", "tx-errs", "tx-dropped", NULL, NULL,
    NULL, NULL,
};

/* Interface name -> its statistics struct, from /proc/net/dev. */
static GHashTable *va_netdev_stats(const VAGuestRpc *rpc, xmlrpc_env *env)
{
    g_auto(GStrv) lines = va_sys_lines(rpc, NULL, "/proc/net/dev");
    GHashTable *stats = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free,
                                              (GDestroyNotify)xmlrpc_DECREF);
    int i;

    if (!lines) {
        return stats;
    }
    for (i = 0; lines[i] && !env->fault_occurred; i++) {
        char *colon = strchr(lines[i], ':');
        g_auto(GStrv) cols = NULL;
        xmlrpc_value *st;
        int k, col = 0;

        if (!colon || strchr(lines[i], '|')) {
            continue;
        }
        *colon = '\0';
        cols = g_strsplit_set(colon + 1, " \t", -1);
        st = xmlrpc_struct_new(env);
        for (k = 0; cols[k] && !env->fault_occurred; k++) {
            char *end;
            guint64 n;

            if (!cols[k][0]) {
                continue;
            }
            n = g_ascii_strtoull(cols[k], &end, 10);
            if (col < 16 && va_netdev_fields[col] && !*end) {
                va_struct_set_i8(env, st, va_netdev_fields[col], n);
            }
            col++;
        }
        g_hash_table_replace(stats, g_strdup(g_strstrip(lines[i])), st);
    }
    return stats;
}

typedef struct VANetIf {
    char *name;
    char *mac;
    xmlrpc_value *addrs;
} VANetIf;

static void va_netif_free(gpointer p)
{
    VANetIf *nif = p;

    g_free(nif->name);
    g_free(nif->mac);
    if (nif->addrs) {
        xmlrpc_DECREF(nif->addrs);
    }
    g_free(nif);
}

static int va_prefix_len(const struct sockaddr *mask)
{
    const uint8_t *b;
    size_t len, i;
    int bits = 0;

    if (!mask) {
        return -1;
    }
    if (mask->sa_family == AF_INET) {
        b = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
        len = 4;
    } else {
        b = (const uint8_t *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
        len = 16;
    }
    for (i = 0; i < len; i++) {
        bits += __builtin_popcount(b[i]);
    }
    return bits;
}

static void va_netif_add_addr(xmlrpc_env *env, VANetIf *nif,
                              const struct ifaddrs *ifa)
{
    char buf[INET6_ADDRSTRLEN];
    const void *addr;
    bool v4 = ifa->ifa_addr->sa_family == AF_INET;
    int prefix = va_prefix_len(ifa->ifa_netmask);
    xmlrpc_value *a;

    addr = v4 ? (const void *)&((struct sockaddr_in *)ifa->ifa_addr)->sin_addr
              : (const void *)&((struct sockaddr_in6 *)
                                ifa->ifa_addr)->sin6_addr;
    if (!inet_ntop(ifa->ifa_addr->sa_family, addr, buf, sizeof(buf))) {
        return;
    }
    a = xmlrpc_struct_new(env);
    va_struct_set_text(env, a, "ip-address-type", v4 ? "ipv4" : "ipv6");
    va_struct_set_text(env, a, "ip-address", buf);
    if (prefix >= 0) {
        va_struct_set_int(env, a, "prefix", prefix);
    }
    va_array_append_take(env, nif->addrs, a);
}

static xmlrpc_value *va_rpc_network_get_interfaces(xmlrpc_env *env,
                                                   xmlrpc_value *params,
                                                   void *server_info,
                                                   void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autoptr(GHashTable) stats = NULL;
    g_autoptr(GPtrArray) ifs = NULL;
    struct ifaddrs *list, *ifa;
    xmlrpc_value *ret;
    guint i;

    if (!va_check_count(env, "va.network_get_interfaces", params, 0)) {
        return NULL;
    }
    if (getifaddrs(&list) < 0) {
        va_fault_errno(env, "getifaddrs", errno);
        return NULL;
    }
    /* In the order the kernel lists them, each name once. */
    ifs = g_ptr_array_new_with_free_func(va_netif_free);
    for (ifa = list; ifa && !env->fault_occurred; ifa = ifa->ifa_next) {
        VANetIf *nif = NULL;
        int family = ifa->ifa_addr ? ifa->ifa_addr->sa_family : AF_UNSPEC;

        for (i = 0; i < ifs->len; i++) {
            VANetIf *n = g_ptr_array_index(ifs, i);

            if (strcmp(n->name, ifa->ifa_name) == 0) {
                nif = n;
                break;
            }
        }
        if (!nif) {
            nif = g_new0(VANetIf, 1);
            nif->name = g_strdup(ifa->ifa_name);
            nif->addrs = xmlrpc_array_new(env);
            g_ptr_array_add(ifs, nif);
        }
        if (family == AF_PACKET) {
            const struct sockaddr_ll *ll = (void *)ifa->ifa_addr;
            GString *mac = g_string_new(NULL);
            int k;

            for (k = 0; k < ll->sll_halen && k < 8; k++) {
                g_string_append_printf(mac, "%s%02x", k ? ":" : "",
                                       ll->sll_addr[k]);
            }
            g_free(nif->mac);
            nif->mac = g_string_free(mac, false);
        } else if (family == AF_INET || family == AF_INET6) {
            va_netif_add_addr(env, nif, ifa);
        }
    }
    freeifaddrs(list);

    stats = va_netdev_stats(rpc, env);
    ret = xmlrpc_array_new(env);
    for (i = 0; i < ifs->len && !env->fault_occurred; i++) {
        VANetIf *nif = g_ptr_array_index(ifs, i);
        xmlrpc_value *st = xmlrpc_struct_new(env);
        xmlrpc_value *s = g_hash_table_lookup(stats, nif->name);

        va_struct_set_text(env, st, "name", nif->name);
        /* Interfaces without a link-layer address (tun) have none. */
        if (nif->mac && nif->mac[0]) {
            va_struct_set_text(env, st, "hardware-address", nif->mac);
        }
        if (!env->fault_occurred) {
            xmlrpc_struct_set_value(env, st, "ip-addresses", nif->addrs);
        }
        if (s && !env->fault_occurred) {
            xmlrpc_struct_set_value(env, st, "statistics", s);
        }
        va_array_append_take(env, ret, st);
    }
    return va_result(env, ret);
}

/* A 32-bit address as /proc/net/route gives it: hex, in host order. */
static bool va_route_ipv4(const char *hex, char *buf)
{
    char *end;
    guint64 v = g_ascii_strtoull(hex, &end, 16);
    struct in_addr a;

    if (end == hex || *end || v > G_MAXUINT32) {
        return false;
    }
    a.s_addr = (uint32_t)v;
    return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN) != NULL;
}

static bool va_route_int(const char *s, int base, int64_t *out)
{
    char *end;

    *out = g_ascii_strtoll(s, &end, base);
    return end != s && !*end;
}

/* 32 hex digits, network order, as /proc/net/ipv6_route gives them. */
static bool va_route_ipv6(const char *hex, char *buf)
{
    struct in6_addr a;
    int k;

    if (strlen(hex) != 32) {
        return false;
    }
    for (k = 0; k < 16; k++) {
        int hi = g_ascii_xdigit_value(hex[2 * k]);
        int lo = g_ascii_xdigit_value(hex[2 * k + 1]);

        if (hi < 0 || lo < 0) {
            return false;
        }
        a.s6_addr[k] = hi << 4 | lo;
    }
    return inet_ntop(AF_INET6, &a, buf, INET6_ADDRSTRLEN) != NULL;
}

/* A routing table of /proc/net: where its columns are. */
typedef struct VARouteTable {
    const char *file;
    int version;
    int header_lines;           /* lines naming the columns */
    guint ncols;
    int iface_col;
    bool (*addr)(const char *hex, char *buf);
    struct {
        const char *name;
        int col;
    } addrs[3];
    struct {
        const char *name;       /* NULL: the end */
        int col;
        int base;
    } ints[8];
} VARouteTable;

static const VARouteTable va_route_v4 = {
    .file = "/proc/net/route",
    .version = 4,
    .header_lines = 1,
    .ncols = 11,
    .iface_col = 0,
    .addr = va_route_ipv4,
    .addrs = { { "destination", 1 }, { "gateway", 2 }, { "mask", 7 } },
    .ints = {
        { "flags", 3, 16 }, { "refcnt", 4, 10 }, { "use", 5, 10 },
        { "metric", 6, 10 }, { "mtu", 8, 10 }, { "window", 9, 10 },
        { "irtt", 10, 10 },
    },
};

static const VARouteTable va_route_v6 = {
    .file = "/proc/net/ipv6_route",
    .version = 6,
    .header_lines = 0,
    .ncols = 10,
    .iface_col = 9,
    .addr = va_route_ipv6,
    .addrs = { { "destination", 0 }, { "source", 2 }, { "nexthop", 4 } },
    .ints = {
        { "desprefixlen", 1, 16 }, { "srcprefixlen", 3, 16 },
        { "metric", 5, 16 }, { "refcnt", 6, 16 }, { "use", 7, 16 },
        { "flags", 8, 16 },
    },
};

/* The non-empty fields of @line; their number in @n. */
static GStrv va_route_cols(const char *line, guint *n)
{
    GStrv c = g_strsplit_set(line, " \t", -1);
    guint i, j = 0;

    for (i = 0; c[i]; i++) {
        if (c[i][0]) {
            c[j++] = c[i];
        } else {
            g_free(c[i]);
        }
    }
    c[j] = NULL;
    *n = j;
    return c;
}

static void va_routes(const VAGuestRpc *rpc, xmlrpc_env *env,
                      xmlrpc_value *ret, const VARouteTable *t)
{
    g_auto(GStrv) lines = va_sys_lines(rpc, NULL, t->file);
    int i;

    for (i = 0; lines && lines[i] && !env->fault_occurred; i++) {
        g_auto(GStrv) cols = NULL;
        char addr[G_N_ELEMENTS(t->addrs)][INET6_ADDRSTRLEN];
        xmlrpc_value *r;
        bool ok;
        guint n;
        size_t k;

        if (i < t->header_lines) {
            continue;
        }
        cols = va_route_cols(g_strstrip(lines[i]), &n);
        ok = n >= t->ncols;
        for (k = 0; ok && k < G_N_ELEMENTS(t->addrs); k++) {
            ok = t->addr(cols[t->addrs[k].col], addr[k]);
        }
        if (!ok) {
            continue;
        }
        r = xmlrpc_struct_new(env);
        va_struct_set_text(env, r, "iface", cols[t->iface_col]);
        for (k = 0; k < G_N_ELEMENTS(t->addrs); k++) {
            va_struct_set_text(env, r, t->addrs[k].name, addr[k]);
        }
        for (k = 0; t->ints[k].name; k++) {
            int64_t v;

            if (va_route_int(cols[t->ints[k].col], t->ints[k].base, &v)) {
                va_struct_set_i8(env, r, t->ints[k].name, v);
            }
        }
        va_struct_set_int(env, r, "version", t->version);
        va_array_append_take(env, ret, r);
    }
}

static xmlrpc_value *va_rpc_network_get_route(xmlrpc_env *env,
                                              xmlrpc_value *params,
                                              void *server_info,
                                              void *call_info)
{
    VAGuestRpc *rpc = server_info;
    xmlrpc_value *ret;

    if (!va_check_count(env, "va.network_get_route", params, 0)) {
        return NULL;
    }
    ret = xmlrpc_array_new(env);
    va_routes(rpc, env, ret, &va_route_v4);
    va_routes(rpc, env, ret, &va_route_v6);
    return va_result(env, ret);
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.network_get_interfaces",
            .methodFunction = va_rpc_network_get_interfaces,
            .signatureString = "A:",
            .help = "Returns [{name, hardware-address, ip-addresses: "
                    "[{ip-address-type: ipv4|ipv6, ip-address, prefix}], "
                    "statistics: {rx-bytes, rx-packets, rx-errs, "
                    "rx-dropped, tx-bytes, tx-packets, tx-errs, "
                    "tx-dropped}}], as qemu-ga.",
        },
    }, {
        .info = {
            .methodName = "va.network_get_route",
            .methodFunction = va_rpc_network_get_route,
            .signatureString = "A:",
            .help = "Returns the routing tables of /proc/net: [{iface, "
                    "destination, version: 4|6, metric, flags, refcnt, "
                    "use; IPv4: gateway, mask, mtu, window, irtt; IPv6: "
                    "desprefixlen, source, srcprefixlen, nexthop}].",
        },
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_net = {
    .name = "network",
    .methods = methods,
};
