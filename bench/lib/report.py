#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
"""The report of bench/run.sh: reads WORKDIR/results.tsv, facts.env and
the profiles, prints Markdown (readable as plain text) with every target
marked PASS or MISS.

    report.py WORKDIR
"""

import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cgdiff  # noqa: E402

w = sys.argv[1]


def facts():
    f = {}
    for line in open(os.path.join(w, "facts.env")):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            f[k] = v
    return f


F = facts()
HZ = float(F["hz"])
DUR = float(F["duration"])

rows = []
with open(os.path.join(w, "results.tsv")) as fh:
    head = fh.readline().rstrip("\n").split("\t")
    for line in fh:
        rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))

order = []
by = {}          # contender -> round -> row
for r in rows:
    c = r["contender"]
    if c not in by:
        order.append(c)
        by[c] = {}
    r["rps"] = float(r["rps"])
    r["requests"] = int(r["requests"])
    r["non2xx"] = int(r["non2xx"])
    for k in ("p50_ms", "p99_ms", "max_ms"):
        r[k] = float(r[k])
    r["cpu_us"] = (int(r["cpu_ticks"]) / HZ * 1e6 / r["requests"]
                   if r["requests"] else float("nan"))
    r["busy"] = int(r["cpu_ticks"]) / HZ / DUR
    r["wrk_busy"] = float(r.get("wrk_cpu_s") or "nan") / DUR
    r["other"] = int(r.get("other_ticks") or 0) / HZ / DUR
    by[c][r["round"]] = r

rounds = sorted(by["plain"].keys(), key=int)
med = statistics.median


def m(c, field):
    return med([by[c][k][field] for k in rounds])


def ratio(a, b, field="rps"):
    """median over rounds of a/b within the round"""
    return med([by[a][k][field] / by[b][k][field] for k in rounds])


def quiet(c, k):
    return by[c][k]["other"] <= 0.10


def qratio(a, b):
    """ratio() over the rounds where neither run was disturbed by other
    work on the machine: "-" when there is none"""
    ks = [k for k in rounds if quiet(a, k) and quiet(b, k)]
    if not ks:
        return "-"
    return "%.3f (%d)" % (med([by[a][k]["rps"] / by[b][k]["rps"]
                               for k in ks]), len(ks))


def over(a, b):
    """median over rounds of the CPU time per request of a minus b's"""
    return med([by[a][k]["cpu_us"] - by[b][k]["cpu_us"] for k in rounds])


def ok(c):
    """the responses were the expected ones in every round"""
    for k in rounds:
        r = by[c][k]
        if r["expect"] == "200" and r["non2xx"]:
            return False
        if r["expect"] != "200" and r["non2xx"] != r["requests"]:
            return False
    return True


def verdict(v, target, ge=True):
    good = v >= target if ge else v <= target
    return "PASS" if good else "MISS"


fmt_int = cgdiff.fmt_int


def code_block(path):
    """a perf listing as a fenced block, without perf's empty columns"""
    p("```")
    for line in open(path):
        p(re.sub(r"\s+-\s+-\s*$", "", line.rstrip()))
    p("```")
    p("")


out = []
p = out.append

p("## Results (%s mode: %s rounds x %s s per contender, interleaved, "
  "wrk -t1 -c%s)"
  % (F["mode"], F["rounds"], F["duration"], F.get("conns", "32")))
p("")
p("Machine: %s CPUs, %s; kernel %s; %s; wrk %s; Redis %s; load average "
  "at the end %s; commit %s; %s; scheduling: %s."
  % (F["nproc"], F["cpu"], F["kernel"], F["nginx"], F["wrk"], F["redis"],
     F["loadavg"], F["commit"], F["date"],
     "SCHED_FIFO" if F.get("sched") == "fifo"
     else "nice %s" % F.get("nice", "0")))
p("")

# --- throughput table ---------------------------------------------------------

targets = {
    "x-secret-key": 0.97, "bearer": 0.97, "rate-limit": 0.97,
    "unknown-key": 0.99,
}

p("| contender | req/s | vs plain | vs plain, undisturbed rounds (n) "
  "| nginx CPU µs/req | µs over plain "
  "| CPU-bound ratio | nginx / wrk CPU busy | other processes "
  "| p99 ms | target | |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for c in order:
    rps = m(c, "rps")
    rat = ratio(c, "plain")
    us = m(c, "cpu_us")
    ovr = "" if c == "plain" else "%+.2f" % over(c, "plain")
    busy = "%.0f%% / %.0f%%" % (100 * m(c, "busy"), 100 * m(c, "wrk_busy"))
    foreign = "%.0f%%" % (100 * m(c, "other"))
    p99 = "%.2f" % m(c, "p99_ms")
    tgt, res = "", ""
    if c in targets:
        tgt = "≥ %.2f" % targets[c]
        res = verdict(rat, targets[c])
    if not ok(c):
        res = (res + " ERR: unexpected statuses").strip()
    cpur = med([by["plain"][k]["cpu_us"] / by[c][k]["cpu_us"]
                for k in rounds])
    p("| %s | %s | %.3f | %s | %.2f | %s | %.3f | %s | %s | %s | %s | %s |"
      % (c, fmt_int(rps), rat, "" if c == "plain" else qratio(c, "plain"),
         us, ovr, cpur, busy, foreign, p99, tgt, res))
disturbed = [r for r in rows if r["other"] > 0.10]
p("")
p("CPU percentages are of one CPU; \"other processes\" is the CPU time of "
  "every process that is not the bench's, during the wrk run.  Runs during "
  "which other processes took more than 10 %% of a CPU: "
  "%d of %d%s." % (len(disturbed), len(rows),
                   (" (" + ", ".join("%s in round %s" % (r["contender"],
                                                         r["round"])
                                     for r in disturbed[:12])
                    + (", ..." if len(disturbed) > 12 else "") + ")")
                   if disturbed else ""))
p("")

# --- targets ------------------------------------------------------------------

p("| target | measured | |")
p("|---|---|---|")
for c in ("x-secret-key", "bearer", "rate-limit"):
    v = ratio(c, "plain")
    p("| module/plain req/s, valid key (%s) ≥ 0.97 | %.3f (undisturbed "
      "rounds: %s) | %s |" % (c, v, qratio(c, "plain"), verdict(v, 0.97)))
v = ratio("unknown-key", "plain")
p("| module/plain req/s, unknown key ≥ 0.99 | %.3f (undisturbed rounds: "
  "%s) | %s |" % (v, qratio("unknown-key", "plain"), verdict(v, 0.99)))

if "proxy-module" in by and "proxy-plain" in by:
    v = ratio("proxy-module", "proxy-plain")
    p("| (no target) behind proxy_pass: module / the same proxy without it, "
      "req/s | %.3f (undisturbed rounds: %s; CPU per request %+.2f µs; "
      "CPU-bound ratio %.3f) | |"
      % (v, qratio("proxy-module", "proxy-plain"),
         over("proxy-module", "proxy-plain"),
         med([by["proxy-plain"][k]["cpu_us"] / by["proxy-module"][k]["cpu_us"]
              for k in rounds])))

v = ratio("x-secret-key", "lua")
lua_over, mod_over = over("lua", "plain"), over("x-secret-key", "plain")
p("| module ≥ 1.5 × Lua, req/s | %.3f (undisturbed rounds: %s; check "
  "cost: Lua %+.2f µs, module %+.2f µs over plain) | %s |"
  % (v, qratio("x-secret-key", "lua"), lua_over, mod_over,
     verdict(v, 1.5)))

for c, what in (("1M-hot1k", "1,000 of them in use"),
                ("1M-random", "%s of them in use"
                 % fmt_int(min(100000, int(F["nbig"]))))):
    v = ratio(c, "1k-random")
    p("| %s keys ≥ 0.98 × 1k keys, req/s (random valid keys, %s) | %.3f "
      "(undisturbed rounds: %s; CPU per request %+.2f µs) | %s |"
      % (fmt_int(int(F["nbig"])), what, v, qratio(c, "1k-random"),
         over(c, "1k-random"), verdict(v, 0.98)))

nbig = int(F["nbig"])
per_key = (int(F["big_used"]) - int(F["empty_used"])) / float(nbig)
p("| zone bytes per key at %s keys ≤ 200 | %.1f (used %s − empty %s; "
  "total used / keys %.1f) | %s |"
  % (fmt_int(nbig), per_key, fmt_int(int(F["big_used"])),
     fmt_int(int(F["empty_used"])), int(F["big_used"]) / float(nbig),
     verdict(per_key, 200, ge=False)))

loads = [int(x) for x in F.get("load_sync_ms", "").split(",") if x]
worst = max(loads + [int(F["idle_sync_ms"]), int(F["first_sync_ms"])])
p("| full sync of %s keys ≤ 5 s | first load %s ms, idle re-sync %s ms, "
  "%d re-syncs under load: median %s ms, max %s ms | %s |"
  % (fmt_int(nbig), F["first_sync_ms"], F["idle_sync_ms"], len(loads),
     fmt_int(med(loads)) if loads else "-",
     fmt_int(max(loads)) if loads else "-", verdict(worst, 5000, ge=False)))

sp99 = float(F["sync_p99"])
p("| p99 ≤ 5 ms during full re-syncs | p99 %.2f ms (p50 %.2f, max %.1f; "
  "%s req/s, %s s, %s full syncs, non-2xx %s; the same load without "
  "re-syncs: p99 %.2f ms, max %.1f, %s req/s) | %s |"
  % (sp99, float(F["sync_p50"]), float(F["sync_max"]),
     fmt_int(float(F["sync_rps"])), F["sync_dur"], F["during_syncs"],
     F["sync_non2xx"], float(F["nosync_p99"]), float(F["nosync_max"]),
     fmt_int(float(F["nosync_rps"])), verdict(sp99, 5.0, ge=False)))

rp99 = float(F["rv_p99"])
p("| revocation, PUBLISH to first 401, p99 ≤ 50 ms | p99 %.2f ms (p50 %.2f, "
  "p90 %.2f, max %.2f; %s tries) | %s |"
  % (rp99, float(F["rv_p50"]), float(F["rv_p90"]), float(F["rv_max"]),
     F["rv_tries"], verdict(rp99, 50.0, ge=False)))
p("")

# --- callgrind ----------------------------------------------------------------

cg_plain = os.path.join(w, "cg-plain.self.txt")
cg_mod = os.path.join(w, "cg-mod.self.txt")
if F.get("profile") == "1" and os.path.exists(cg_mod):
    n = float(F["cg_reqs"])
    p("### Instructions per request (callgrind, %s keep-alive requests, "
      "valid key in X-Secret-Key)" % fmt_int(n))
    p("")
    for line in cgdiff.table(cg_plain, cg_mod, n):
        p(line)
    p("")

perf_top = os.path.join(w, "perf-top.txt")
perf_dso = os.path.join(w, "perf-dso.txt")
if F.get("profile") == "1" and os.path.exists(perf_top):
    p("### perf (cpu-clock samples of the module's worker, X-Secret-Key)")
    p("")
    p("By object:")
    p("")
    code_block(perf_dso)
    p("Top symbols (self):")
    p("")
    code_block(perf_top)

perf_sync = os.path.join(w, "perf-sync.txt")
if F.get("profile") == "1" and os.path.exists(perf_sync):
    p("### perf (the %s-key worker during an idle full re-sync)"
      % fmt_int(nbig))
    p("")
    code_block(perf_sync)

print("\n".join(out))
