#!/usr/bin/env python3
"""The `nest-bench trace` workload on Yrs (the Rust port of Yjs) through its
Python binding pycrdt, for ratios measured in the same run: local replay (one
transaction per trace txn), the same edits applied as remote updates, v1
encode, and load into a fresh doc. Prints one JSON object with the same
fields as `nest-bench trace --json`.

Replay and remote apply cross the Python binding once per edit or update, so
they measure Yrs plus pycrdt's per-call cost; encode and load are one call
each and measure Yrs itself. Positions are converted to the UTF-8 byte
offsets pycrdt takes before timing. As for Yjs: a cold first round reported as
*_cold_ms, then --warmup untimed rounds, then --runs timed ones (medians).

  python yrs-trace-bench.py TRACE.json.gz [--runs N] [--warmup W] [--client-id ID]
"""
import gzip
import json
import os
import resource
import statistics
import sys
import time

import pycrdt

args = sys.argv[1:]
trace_path = args[0]
runs, warmup, client_id = 5, 3, 2654435769
i = 1
while i < len(args):
    if args[i] == "--runs":
        runs = int(args[i + 1]); i += 2
    elif args[i] == "--warmup":
        warmup = int(args[i + 1]); i += 2
    elif args[i] == "--client-id":
        client_id = int(args[i + 1]); i += 2
    else:
        sys.exit(f"unknown option {args[i]}")

with gzip.open(trace_path) as f:
    trace = json.load(f)
patches = sum(len(t["patches"]) for t in trace["txns"])
start, end = trace.get("startContent") or "", trace["endContent"]
# pycrdt's Text takes UTF-8 byte offsets; the trace counts code points. A trace with any non-ASCII character gets its
# positions and lengths converted once, before anything is timed, on a mirror of the text.
if not (start.isascii() and all(len(p) < 3 or p[2].isascii() for t in trace["txns"] for p in t["patches"])):
    mirror = start
    for t in trace["txns"]:
        converted = []
        for p in t["patches"]:
            pos, delete, ins = p[0], p[1], (p[2] if len(p) > 2 else "")
            at = len(mirror[:pos].encode("utf-8"))
            gone = len(mirror[pos:pos + delete].encode("utf-8"))
            mirror = mirror[:pos] + ins + mirror[pos + delete:]
            converted.append([at, gone, ins])
        t["patches"] = converted


def now_ms():
    return time.perf_counter_ns() / 1e6


def replay(doc):
    text = pycrdt.Text()
    doc["text"] = text
    if start:
        text.insert(0, start)
    for t in trace["txns"]:
        with doc.transaction():
            for p in t["patches"]:
                pos, delete = p[0], p[1]
                if delete > 0:
                    del text[pos:pos + delete]
                if len(p) > 2 and p[2]:
                    text.insert(pos, p[2])
    return text


res = {k: [] for k in ("replay", "remote", "encode", "load")}
cold = None
ok = True
v1_bytes = 0
for r in range(1 + warmup + runs):
    local = pycrdt.Doc(client_id=client_id)
    t0 = now_ms()
    text = replay(local)
    res["replay"].append(now_ms() - t0)
    ok = ok and str(text) == end

    updates = []
    rec = pycrdt.Doc(client_id=client_id)
    sub = rec.observe(lambda event: updates.append(event.update))
    replay(rec)
    rec.unobserve(sub)

    remote = pycrdt.Doc()
    t0 = now_ms()
    for u in updates:
        remote.apply_update(u)
    res["remote"].append(now_ms() - t0)
    remote_text = remote.get("text", type=pycrdt.Text)
    ok = ok and str(remote_text) == end

    t0 = now_ms()
    encoded = local.get_update()
    res["encode"].append(now_ms() - t0)
    v1_bytes = len(encoded)

    loaded = pycrdt.Doc()
    t0 = now_ms()
    loaded.apply_update(encoded)
    res["load"].append(now_ms() - t0)
    ok = ok and str(loaded.get("text", type=pycrdt.Text)) == end
    if r == 0:
        cold = {k: v[0] for k, v in res.items()}
    if r <= warmup:
        for v in res.values():
            v.pop()

peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({
    "trace": os.path.basename(trace_path).split(".json")[0], "patches": patches, "runs": runs, "warmup": warmup,
    "replay_ms": statistics.median(res["replay"]), "remote_apply_ms": statistics.median(res["remote"]),
    "encode_ms": statistics.median(res["encode"]), "load_ms": statistics.median(res["load"]), "v1_bytes": v1_bytes,
    "peak_rss_mb": round(peak_mb, 1), "ok": ok,
    "replay_cold_ms": cold["replay"], "remote_apply_cold_ms": cold["remote"], "encode_cold_ms": cold["encode"], "load_cold_ms": cold["load"],
}))
