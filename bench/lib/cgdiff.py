#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
"""Instructions per request from two callgrind_annotate self-cost listings
(plain nginx, and nginx with the module), as Markdown.

    cgdiff.py PLAIN.self.txt MOD.self.txt REQUESTS [TOP]

Used by bench/callgrind.sh and, as a module, by bench/lib/report.py.
"""

import os
import re
import sys

line_re = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)\s*(\[(.*)\])?$")


def self_costs(path):
    """function -> self Ir, summed over callgrind_annotate's file:function
    entries (self costs partition the total; inclusive ones would not)"""
    costs, total = {}, None
    for line in open(path):
        mm = line_re.match(line)
        if not mm:
            continue
        n = int(mm.group(1).replace(",", ""))
        name = mm.group(2)
        if name == "PROGRAM TOTALS":
            total = n
            continue
        obj = os.path.basename(mm.group(4) or "")
        fn = name.rsplit(":", 1)[-1]
        if fn.startswith("0x"):
            fn = "(unnamed %s)" % (obj or "?")
        elif obj:
            fn = "%s (%s)" % (fn, obj)
        costs[fn] = costs.get(fn, 0) + n
    return total, merge_objless(costs)


def merge_objless(costs):
    """entries without an object name belong to the same function with one"""
    named = {}
    for k, v in costs.items():
        base = k.split(" (", 1)[0]
        named.setdefault(base, []).append(k)
    out = {}
    for base, keys in named.items():
        full = [k for k in keys if " (" in k]
        key = full[0] if full else base
        out[key] = sum(costs[k] for k in keys)
    return out


def fmt_int(v):
    return "{:,.0f}".format(v)


def table(plain, mod, n, top=15):
    """the Markdown lines: the totals, then the top differences"""
    tp, cp = self_costs(plain)
    tm, cm = self_costs(mod)
    out = ["plain nginx %s Ir/request, with the module %s Ir/request: "
           "%s (%+.1f%%)."
           % (fmt_int(tp / n), fmt_int(tm / n), "%+d" % round((tm - tp) / n),
              100.0 * (tm - tp) / tp),
           "",
           "Where the difference goes (self cost per request, module run "
           "minus plain run, top %d):" % top,
           "",
           "| function | Ir/request (module) | Δ vs plain |",
           "|---|---:|---:|"]
    diffs = []
    for k in set(cp) | set(cm):
        diffs.append(((cm.get(k, 0) - cp.get(k, 0)) / n, cm.get(k, 0) / n, k))
    diffs.sort(reverse=True)
    for d, v, k in diffs[:top]:
        out.append("| %s | %s | %+.0f |" % (k.replace("|", "/"), fmt_int(v), d))
    return out


if __name__ == "__main__":
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    print("\n".join(table(sys.argv[1], sys.argv[2], float(sys.argv[3]), top)))
