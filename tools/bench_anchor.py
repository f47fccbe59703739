#!/usr/bin/env python3
"""tools/bench_anchor.py: the table `make bench` prints for moescope against llama.cpp.

Reads the records tools/bench.sh wrote, one JSON object a line:
  {"model": M, "path": P, "engine": "moescope", "round": R, "pp64": .., "pp512": ..,
   "tg": .., "p50": .., "p99": .., "floor_ratio": .., "rss_mib": .., "rss_budget_mib": ..}
  {"model": M, "path": P, "engine": "llama.cpp", "round": R, "pp64": .., "pp512": .., "tg": ..}
and prints, per (model, path), the median over the rounds of each engine's figures and
their ratio (moescope / llama.cpp; above 1 means moescope is faster)."""
import json
import statistics
import sys


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec="8.1f"):
    return format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0]))


def main(path):
    groups = {}
    order = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            k = (r["model"], r["path"])
            if k not in groups:
                groups[k] = {"moescope": [], "llama.cpp": []}
                order.append(k)
            groups[k][r["engine"]].append(r)
    print(f"{'model':<22} {'path':<7} {'engine':<9} {'pp64':>8} {'pp512':>8} {'tg':>8}"
          f" {'p99/p50':>8} {'x floor':>8} {'RSS MiB':>14}")
    for k in order:
        g = groups[k]
        m, l = g["moescope"], g["llama.cpp"]
        ours = {key: med(m, key) for key in ("pp64", "pp512", "tg", "p50", "p99",
                                             "floor_ratio", "rss_mib", "rss_budget_mib")}
        ref = {key: med(l, key) for key in ("pp64", "pp512", "tg")}
        jit = ours["p99"] / ours["p50"] if ours["p50"] and ours["p99"] else None
        rss = (f"{ours['rss_mib']:.0f}/{ours['rss_budget_mib']:.0f}"
               if ours["rss_mib"] is not None else "-")
        print(f"{k[0]:<22} {k[1]:<7} {'moescope':<9} {fmt(ours['pp64'])} {fmt(ours['pp512'])}"
              f" {fmt(ours['tg'])} {fmt(jit, '8.2f')} {fmt(ours['floor_ratio'], '8.3f')}"
              f" {rss:>14}")
        if not l:
            print(f"{'':<22} {'':<7} llama.cpp (anchor not built: make bench-anchor)")
            continue
        print(f"{'':<22} {'':<7} {'llama.cpp':<9} {fmt(ref['pp64'])} {fmt(ref['pp512'])}"
              f" {fmt(ref['tg'])}")
        ratio = {key: (ours[key] / ref[key] if ours[key] and ref[key] else None)
                 for key in ("pp64", "pp512", "tg")}
        print(f"{'':<22} {'':<7} {'ratio':<9} {fmt(ratio['pp64'], '8.2f')}"
              f" {fmt(ratio['pp512'], '8.2f')} {fmt(ratio['tg'], '8.2f')}")
    print("tok/s, median of the rounds; ratio = moescope / llama.cpp (same file, same threads,"
          " runs alternating);\np99/p50 = decode step times; x floor = decode / (read"
          " bandwidth / bytes read per token);\nRSS = moescope's peak / its budget (file + KV +"
          " 64 MiB)")


if __name__ == "__main__":
    main(sys.argv[1])
