#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
"""CPU ticks of other processes, for bench/run.sh's "other work" column.

    procticks.py snap FILE            utime+stime of every process -> FILE
    procticks.py delta BEFORE AFTER [PID...]
        ticks that processes other than PID... (and their threads) used
        between the two snapshots: processes alive at both contribute
        their difference, processes that started in between all of theirs
        (processes that ended in between are lost)
"""

import os
import sys


def snap():
    out = {}
    me = str(os.getpid())
    for d in os.listdir("/proc"):
        if not d.isdigit() or d == me:
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        # rest[0] is the state (field 3): utime, stime are fields 14, 15
        out[int(d)] = int(rest[11]) + int(rest[12])
    return out


def load(path):
    with open(path) as f:
        return {int(a): int(b) for a, b in (l.split() for l in f)}


def main():
    if sys.argv[1] == "snap":
        with open(sys.argv[2], "w") as f:
            for pid, t in snap().items():
                f.write("%d %d\n" % (pid, t))
    else:
        before, after = load(sys.argv[2]), load(sys.argv[3])
        ours = {int(p) for p in sys.argv[4:]}
        total = 0
        for pid, t in after.items():
            if pid in ours:
                continue
            total += t - before.get(pid, 0)
        print(max(0, total))


if __name__ == "__main__":
    main()
