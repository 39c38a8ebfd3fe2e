#!/usr/bin/env python3
"""Builds fuzz/seeds/<target>/ from the golden recordings of the Java 4.9.8 servers.

    python3 fuzz/tools/make_seeds.py [GOLDEN_DIR]     (default /work/shared/golden)

Sources: frames/*.jsonl (one remoting frame per line, decoded header + body hex; see the
golden README) for frames, headers, bodies, properties and SQL92 selectors (heartbeat and
CHECK_CLIENT_CONFIG subscriptions, pull headers; 14-sql92-filter holds them) with the
properties of the messages sent next to them; the CommitLog files of
java-store-4.9.8 and java-store-4.9.8-tx for the message codec and batch bodies. The
output is deterministic and kept small (a few hundred KB): libFuzzer grows its own corpus
under fuzz/corpus/, which is not committed.
"""

import glob
import hashlib
import json
import os
import shutil
import struct
import sys
import zlib

GOLDEN = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/golden"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seeds")
MAX_SEED = 4096  # libFuzzer's default -max_len; larger seeds are truncated anyway

LANGUAGES = ["JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER",
             "HTTP", "GO", "PHP", "OMS", "RUST"]
MAGIC_V1 = 0xDAA320A7
MAGIC_BLANK = 0xCBD43194

# At most this many seeds per target (about 200 in all).
CAPS = {"frame": 33, "json_header": 24, "binary_header": 20, "commitlog_message": 28,
        "batch_body": 16, "properties": 24, "fastjson": 32, "request_body": 30,
        "sql92": 40}

# Selectors written for the sql92 target, one for each part of the grammar the recordings
# do not reach: BETWEEN and NOT BETWEEN, IN and NOT IN, IS [NOT] NULL, NOT, CONTAINS /
# STARTSWITH / ENDSWITH (5.x), string literals with a doubled quote, integer, long and
# floating literals, unary minus, TRUE / FALSE, comments, and a NUL-separated properties
# string (name \u0001 value \u0002 ...) to evaluate against.
HAND_WRITTEN_SQL92 = [
    "a BETWEEN 1 AND 10",
    "a NOT BETWEEN -5 AND 5.5",
    "TAGS IN ('TagA', 'TagB', 'it''s')",
    "region NOT IN ('eu', 'us') OR region IS NULL",
    "missing IS NULL AND present IS NOT NULL\0present\u0001yes",
    "NOT (a > 3) AND NOT b = 'x'",
    "name CONTAINS 'ock' AND name STARTSWITH 'R' AND name ENDSWITH 'MQ'\0name\u0001RocketMQ",
    "name NOT CONTAINS 'x' OR name NOT STARTSWITH 'y' OR name NOT ENDSWITH 'z'",
    "price >= 9.99 AND price < 1.5E3 AND qty <> 0\0price\u000110.5\u0002qty\u00017",
    "big > 2147483648 AND big <= 9223372036854775807L",
    "n = -1 OR n = +2 OR n = 0.5e-3 OR n = .25",
    "flag = TRUE OR flag = FALSE",
    "a = 'x' -- a comment\nOR /* another */ b = 'y'",
    "(a = 1 OR (b = 2 AND (c = 3 OR NOT (d IS NULL))))\0a\u00012\u0002b\u00012\u0002d\u0001z",
    "s = 'caf\u00e9 \U0001f680' AND t <> ''",
    "x > y AND y >= z\0x\u00013\u0002y\u00012\u0002z\u00012",
    "a = 1 garbage after the last token",
    "KEYS = 'k1' AND UNIQ_KEY IS NOT NULL AND WAIT = 'true'",
]

seeds = {}
kinds = set()


def add(target, name, data, kind=None, limit=MAX_SEED):
    """Adds a seed unless it is too big, a duplicate, of a kind already present, or the
    target is full. Returns whether it was added."""
    if not data or len(data) > limit:
        return False
    bucket = seeds.setdefault(target, {})
    if len(bucket) >= CAPS[target] or (kind is not None and (target, kind) in kinds):
        return False
    if target == "request_body" and kind is not None:
        # At most 3 of each body type (the first element of the kind is the selector).
        if sum(1 for t, k in kinds if t == target and k[0] == kind[0]) >= 3:
            return False
    if kind is not None:
        kinds.add((target, kind))
    digest = hashlib.sha1(data).hexdigest()[:10]
    if any(d == data for d in bucket.values()):
        return False
    bucket[f"{name}-{digest}"] = data
    return True


def frames():
    for path in sorted(glob.glob(os.path.join(GOLDEN, "frames", "*.jsonl"))):
        if "ha-stream" in path:
            continue
        scenario = os.path.basename(path).split("-")[0]
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                d["scenario"] = scenario
                d["body"] = bytes.fromhex(d.get("body_hex") or "")
                yield d


def json_header(d):
    return json.dumps(d["header"], separators=(",", ":"), ensure_ascii=False).encode()


def binary_header(d):
    h = d["header"]
    lang = h.get("language", 0)
    if isinstance(lang, str):
        lang = LANGUAGES.index(lang) if lang in LANGUAGES else 7
    out = struct.pack(">hBhii", h.get("code", 0), lang, h.get("version", 0), h.get("opaque", 0), h.get("flag", 0))
    remark = (h.get("remark") or "").encode()
    out += struct.pack(">i", len(remark)) + remark
    ext = b""
    for k, v in (h.get("extFields") or {}).items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        k, v = k.encode(), str(v).encode()
        ext += struct.pack(">h", len(k)) + k + struct.pack(">i", len(v)) + v
    return out + struct.pack(">i", len(ext)) + ext


def whole_frame(d):
    binary = d["serialize"] == "ROCKETMQ"
    header = binary_header(d) if binary else json_header(d)
    word = (1 << 24 if binary else 0) | len(header)
    return struct.pack(">iI", 4 + len(header) + len(d["body"]), word) + header + d["body"]


def commitlog_records(store_dir):
    """(offset, record bytes) of every message in a store's CommitLog files, and the blanks."""
    for path in sorted(glob.glob(os.path.join(store_dir, "commitlog", "*"))):
        data = open(path, "rb").read()
        pos = 0
        while pos + 8 <= len(data):
            size, magic = struct.unpack_from(">iI", data, pos)
            if size <= 0 or magic not in (MAGIC_V1, MAGIC_BLANK):
                break
            yield int(os.path.basename(path)) + pos, magic, data[pos:pos + size], data, pos
            if magic == MAGIC_BLANK:
                break
            pos += size


def parse_record(rec):
    """body and properties of a 4.x record (IPv4 hosts, as the golden stores hold)."""
    sys_flag = struct.unpack_from(">i", rec, 36)[0]
    pos = 48 + (8 if sys_flag & 0x10 == 0 else 20) + 8 + (8 if sys_flag & 0x20 == 0 else 20) + 4 + 8
    body_len = struct.unpack_from(">i", rec, pos)[0]
    body = rec[pos + 4:pos + 4 + body_len]
    pos += 4 + body_len
    topic_len = rec[pos]
    pos += 1 + topic_len
    props_len = struct.unpack_from(">h", rec, pos)[0]
    return sys_flag, body, rec[pos + 2:pos + 2 + props_len]


def batch_item(flag, body, props):
    total = 20 + len(body) + 2 + len(props)
    return struct.pack(">iiiii", total, 0, 0, flag, len(body)) + body + struct.pack(">h", len(props)) + props


def compressed_register(body_json):
    """The zlib form of a RegisterBrokerBody (RegisterBrokerBody.encode(compress=true))."""
    wrapper = body_json.get("topicConfigSerializeWrapper", {})
    out = bytearray()

    def piece(b):
        out.extend(struct.pack(">i", len(b)) + b)

    piece(json.dumps(wrapper.get("dataVersion", {}), separators=(",", ":")).encode())
    table = wrapper.get("topicConfigTable", {})
    out.extend(struct.pack(">i", len(table)))
    for tc in table.values():
        piece(f"{tc['topicName']} {tc['readQueueNums']} {tc['writeQueueNums']} {tc['perm']} "
              f"{tc['topicFilterType']}".encode())
    piece(json.dumps(body_json.get("filterServerList", []), separators=(",", ":")).encode())
    return zlib.compress(bytes(out), 9)


def main():
    all_frames = list(frames())
    # Pair responses with their requests (conn + opaque, the earlier unanswered
    # non-oneway request or push), to know what a response body is.
    pending, req_of = {}, {}
    for i, d in enumerate(all_frames):
        key = (d["scenario"], d["conn"], d["opaque"])
        if d["dir"] in ("req", "push"):
            if not d["flag"] & 2:
                pending.setdefault(key, []).append(d)
        elif pending.get(key):
            req_of[i] = pending[key].pop(0)

    # frame / json_header / binary_header: one per (direction, code, serialize type,
    # language), taken round-robin over the scenarios so that every client is represented.
    candidates = {"frame": {}, "json_header": {}, "binary_header": {}}
    stream = []
    for i, d in enumerate(all_frames):
        code = req_of[i]["code"] if i in req_of else d["code"]
        kind = (d["dir"], code, d["serialize"], d["header"].get("language"))
        name = f"{d['scenario']}-{d['dir']}-{code}-{d['serialize'].lower()}"
        frame = whole_frame(d)
        candidates["frame"].setdefault(d["scenario"], []).append((name, frame, kind))
        if len(frame) < 400 and len(stream) < 4 and d["scenario"] == "06":
            stream.append(frame)
        if d["serialize"] == "JSON":
            candidates["json_header"].setdefault(d["scenario"], []).append((name, json_header(d), kind))
        candidates["binary_header"].setdefault(d["scenario"], []).append((name, binary_header(d), kind))
    for target, by_scenario in candidates.items():
        queues = [list(v) for _, v in sorted(by_scenario.items())]
        while any(queues):
            for q in queues:
                while q:
                    name, data, kind = q.pop(0)
                    if add(target, name, data, kind):
                        break
    add("frame", "stream-of-frames", b"".join(stream))

    # Bodies.
    props_seen = 0
    for i, d in enumerate(all_frames):
        body, code = d["body"], d["code"]
        req = req_of.get(i)
        what = req["code"] if req else code
        name = f"{d['scenario']}-{d['dir']}-{what}"
        text = d.get("body_text")
        if d["dir"] == "resp" and what == 11 and body[4:8] == struct.pack(">I", MAGIC_V1):
            add("commitlog_message", name + "-pull-body", body, ("pull", d["scenario"]))
        if text and text[:1] in "{[" and (what not in (103,) or len(body) < 1200):
            add("fastjson", name, body, (d["dir"], what))
        if d["dir"] == "req" and code == 103 and body:
            body_json = json.loads(body)
            k = d["scenario"]
            add("request_body", name + "-register-json", b"\x00" + body, (0, k))
            add("request_body", name + "-register-zlib", b"\x01" + compressed_register(body_json), (1, k))
            wrapper = json.dumps(body_json["topicConfigSerializeWrapper"], separators=(",", ":")).encode()
            add("request_body", name + "-topic-config-wrapper", b"\x02" + wrapper, (2, k))
            dv = json.dumps(body_json["topicConfigSerializeWrapper"]["dataVersion"], separators=(",", ":"))
            add("request_body", name + "-data-version", b"\x03" + dv.encode(), (3, k))
        if d["dir"] == "req" and code == 34:
            add("request_body", name + "-heartbeat", b"\x04" + body, (4, d["scenario"]))
        if d["dir"] == "req" and code == 200:
            add("request_body", name + "-subscription-group", b"\x05" + body, (5, d["scenario"]))
        if text and "brokerDatas" in text:
            add("request_body", name + "-route", b"\x06" + body, (6, d["scenario"]))
        if text and "brokerAddrTable" in text and "clusterAddrTable" in text:
            add("request_body", name + "-cluster-info", b"\x07" + body, (7, d["scenario"]))
        if text and text.startswith('{"topicList"'):
            add("request_body", name + "-topic-list", b"\x08" + body, (8, d["scenario"]))
        if d["dir"] == "req" and code == 41:
            add("request_body", name + "-lock-batch", b"\x0a" + body, (10, d["scenario"], len(body) // 100))
        if d["dir"] == "req" and code == 42:
            add("request_body", name + "-unlock-batch", b"\x0b" + body, (11, d["scenario"]))
        if d["dir"] == "resp" and what == 41:
            add("request_body", name + "-lock-batch-answer", b"\x0c" + body, (12, d["scenario"]))
        if text and text.startswith('{"table"'):
            add("request_body", name + "-kv-table", b"\x09" + body, (9, d["scenario"]))
        # Message properties: the send header's `i` / `properties`, and .properties bodies.
        ext = d["header"].get("extFields") or {}
        for key in ("i", "properties"):
            if key in ext and props_seen < 14 and add("properties", f"{name}-header-{key}", ext[key].encode()):
                props_seen += 1
        if text and "=" in text and text[:1] not in "{[" and what in (25, 26, 318, 319):
            add("properties", name + "-config-text", body)

    # SQL92 selectors: every SQL92 subscription the recordings carry (heartbeat and
    # CHECK_CLIENT_CONFIG bodies, a pull header's `subscription`), alone and followed by a NUL
    # and the properties of messages sent in the same scenario (the sql92 target evaluates
    # the selector against them), then the hand-written ones below.
    selectors, sent_props = [], {}
    for d in all_frames:
        ext = d["header"].get("extFields") or {}
        if d["dir"] == "req" and d["code"] in (10, 310) and (ext.get("i") or ext.get("properties")):
            sent_props.setdefault(d["scenario"], []).append(ext.get("i") or ext.get("properties"))
        subs = []
        if ext.get("expressionType") == "SQL92" and ext.get("subscription"):
            subs.append(ext["subscription"])
        text = d.get("body_text")
        if text and "SQL92" in text and text[:1] == "{":
            body = json.loads(text)
            found = [body.get("subscriptionData") or {}]
            for consumer in body.get("consumerDataSet") or []:
                found.extend(consumer.get("subscriptionDataSet") or [])
            subs.extend(s["subString"] for s in found if s.get("expressionType") == "SQL92" and s.get("subString"))
        for sub in subs:
            if (sub, d["scenario"]) not in selectors:
                selectors.append((sub, d["scenario"]))
    for sub, scenario in selectors:
        add("sql92", f"{scenario}-selector", sub.encode())
        for n, props in enumerate(sent_props.get(scenario, [])[:4]):
            add("sql92", f"{scenario}-selector-message-{n}", sub.encode() + b"\0" + props.encode())
    for n, sql in enumerate(HAND_WRITTEN_SQL92):
        add("sql92", f"hand-written-{n:02}", sql.encode("utf-8"))

    # The request_body selector also gets a few of each kind of the other seeds.
    # CommitLog records and batch bodies from the Java stores.
    for store in ("java-store-4.9.8", "java-store-4.9.8-tx"):
        records = list(commitlog_records(os.path.join(GOLDEN, store, "store")))
        messages = [r for r in records if r[1] == MAGIC_V1]
        by_kind = {}
        for off, magic, rec, _, _ in messages:
            sys_flag, body, props = parse_record(rec)
            by_kind.setdefault((sys_flag, len(rec) // 100), (off, rec, body, props, sys_flag))
        for (sys_flag, _), (off, rec, body, props, _) in sorted(by_kind.items())[:14]:
            add("commitlog_message", f"{store}-record-{off}-sysflag{sys_flag}", rec)
            if props_seen < 22 and add("properties", f"{store}-record-{off}", props):
                props_seen += 1
        # A few runs of consecutive records as the recovery scan sees them (from offset 0, so
        # the offsets they claim match), and the end of a file with its blank record.
        data = open(sorted(glob.glob(os.path.join(GOLDEN, store, "store", "commitlog", "*")))[0], "rb").read()
        end = 0
        for n, (off, magic, rec, _, pos) in enumerate(records):
            if pos + len(rec) > MAX_SEED:
                break
            end = pos + len(rec)
            if n in (1, 3, 7):
                add("commitlog_message", f"{store}-scan-{n + 1}-records", data[:end])
        for off, magic, rec, file_data, pos in records:
            if magic == MAGIC_BLANK:
                start = max(0, pos - 600)
                # back up to a record start
                for o, m, r, fd, p in records:
                    if fd is file_data and p >= start:
                        start = p
                        break
                add("commitlog_message", f"{store}-file-end-blank", file_data[start:pos + 8] + b"\0" * 8)
                break
        # Batch bodies: 1..4 items taken from stored messages.
        picked = [parse_record(r[2]) for r in messages[::max(1, len(messages) // 12)]][:12]
        for n in range(0, len(picked), 2):
            items = picked[n:n + 1 + n % 4]
            body = b"".join(batch_item(0, b, p) for _, b, p in items)
            add("batch_body", f"{store}-batch-{len(items)}-items-{n}", body)
        add("batch_body", f"{store}-batch-no-properties", batch_item(0, picked[0][1], b""))

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    total_files = total_bytes = 0
    for target, bucket in sorted(seeds.items()):
        os.makedirs(os.path.join(OUT, target))
        for name, data in sorted(bucket.items()):
            with open(os.path.join(OUT, target, name), "wb") as f:
                f.write(data)
            total_files += 1
            total_bytes += len(data)
        print(f"{target}: {len(bucket)} seeds, {sum(map(len, bucket.values()))} bytes")
    print(f"total: {total_files} files, {total_bytes} bytes")


if __name__ == "__main__":
    main()
