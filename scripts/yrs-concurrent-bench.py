#!/usr/bin/env python3
"""`nest-bench concurrent` on Yrs through pycrdt: every agent of a concurrent
trace edits a replica of its own; before each txn its replica receives the
other agents' updates the txn's parents have seen; at the end every replica
gets everything and must hold the trace's final text. Each edit and each
update crosses the Python binding once. Cold first round beside the median
of the timed rounds, after --warmup untimed ones.

  python yrs-concurrent-bench.py TRACE.json.gz [--runs N] [--warmup W]
"""
import gzip
import json
import os
import statistics
import sys
import time

import pycrdt

args = sys.argv[1:]
trace_path = args[0]
runs, warmup = 5, 3
i = 1
while i < len(args):
    if args[i] == "--runs":
        runs = int(args[i + 1]); i += 2
    elif args[i] == "--warmup":
        warmup = int(args[i + 1]); i += 2
    else:
        sys.exit(f"unknown option {args[i]}")

with gzip.open(trace_path) as f:
    trace = json.load(f)
txns = trace["txns"]
agents = max(t["agent"] for t in txns) + 1
# pycrdt's Text takes UTF-8 byte offsets, and each replica's text differs from the others': only ASCII traces, where
# code points and bytes agree, are replayed here.
if not all(len(p) < 3 or p[2].isascii() for t in txns for p in t["patches"]):
    sys.exit("yrs-concurrent-bench: only ASCII concurrent traces are supported (pycrdt counts UTF-8 bytes)")


def replay():
    replicas, texts = [], []
    captured = [None]

    def capture(event):
        captured[0] = event.update

    # As on the other engines: every replica reports each transaction's update; the local one is kept.
    for a in range(agents):
        d = pycrdt.Doc(client_id=1000 + a)
        t = pycrdt.Text()
        d["text"] = t
        d.observe(capture)
        replicas.append(d)
        texts.append(t)
    updates = [[] for _ in range(agents)]
    versions = []
    held = [[0] * agents for _ in range(agents)]
    for index, txn in enumerate(txns):
        version = [0] * agents
        for p in txn["parents"]:
            pv = versions[p]
            for a in range(agents):
                if pv[a] > version[a]:
                    version[a] = pv[a]
        a = txn["agent"]
        doc, text = replicas[a], texts[a]
        for b in range(agents):
            if held[a][b] > version[b]:
                raise RuntimeError(f"txn {index}: replica {a} has seen more of agent {b} than its parents")
            while held[a][b] < version[b]:
                doc.apply_update(updates[b][held[a][b]])
                held[a][b] += 1
        if held[a][a] != len(updates[a]):
            raise RuntimeError(f"txn {index}: agent {a} does not follow its own last txn")
        captured[0] = None
        with doc.transaction():
            for p in txn["patches"]:
                pos, delete = p[0], p[1]
                if delete > 0:
                    del text[pos:pos + delete]
                if len(p) > 2 and p[2]:
                    text.insert(pos, p[2])
        updates[a].append(captured[0] or b"\x00\x00")
        held[a][a] += 1
        version[a] = held[a][a]
        versions.append(version)
    for a in range(agents):
        for b in range(agents):
            if b != a:
                while held[a][b] < len(updates[b]):
                    replicas[a].apply_update(updates[b][held[a][b]])
                    held[a][b] += 1
    return texts


times, cold, ok = [], 0.0, True
for r in range(1 + warmup + runs):
    t0 = time.perf_counter_ns()
    texts = replay()
    ms = (time.perf_counter_ns() - t0) / 1e6
    ok = ok and all(str(t) == trace["endContent"] for t in texts)
    if r == 0:
        cold = ms
    if r > warmup:
        times.append(ms)
print(json.dumps({
    "trace": "concurrent/" + os.path.basename(trace_path).split(".json")[0], "txns": len(txns), "agents": agents,
    "runs": runs, "warmup": warmup, "concurrent_ms": statistics.median(times), "concurrent_cold_ms": cold, "ok": ok,
}))
