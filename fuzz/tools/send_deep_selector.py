#!/usr/bin/env python3
"""Sends HEART_BEAT (34) requests whose consumer subscribes with an SQL92 selector nested N
parentheses deep, `((...(a = 1)...))`, one request per N, and says whether the broker answered.
A broker registers the filters of every heartbeat (enablePropertyFilter only gates pulls and
CHECK_CLIENT_CONFIG), so this reaches the selector parser with the default configuration.
usage: send_deep_selector.py HOST:PORT N..."""
import json, socket, struct, sys, time


def frame(code, body, opaque):
    h = json.dumps({"code": code, "flag": 0, "language": "JAVA", "opaque": opaque,
                    "serializeTypeCurrentRPC": "JSON", "version": 395, "extFields": {}}).encode()
    return struct.pack(">II", 4 + len(h) + len(body), len(h)) + h + body


def call(sock, data):
    sock.sendall(data)

    def read(n):
        b = b""
        while len(b) < n:
            c = sock.recv(n - len(b))
            if not c:
                raise EOFError("connection closed")
            b += c
        return b
    total, = struct.unpack(">I", read(4))
    rest = read(total)
    hl = struct.unpack(">I", rest[:4])[0] & 0xFFFFFF
    return json.loads(rest[4:4 + hl])


def heartbeat(depth, version):
    selector = "(" * depth + "a = 1" + ")" * depth
    sub = {"classFilterMode": False, "codeSet": [], "expressionType": "SQL92", "subString": selector,
           "subVersion": version, "tagsSet": [], "topic": "DeepSelectorTopic"}
    consumer = {"consumeFromWhere": "CONSUME_FROM_LAST_OFFSET", "consumeType": "CONSUME_PASSIVELY",
                "groupName": "cg_deep_selector", "messageModel": "CLUSTERING",
                "subscriptionDataSet": [sub], "unitMode": False}
    return json.dumps({"clientID": "127.0.0.1@deep-selector", "consumerDataSet": [consumer],
                       "producerDataSet": []}).encode()


host, port = sys.argv[1].split(":")
for n, depth in enumerate(map(int, sys.argv[2:])):
    try:
        s = socket.create_connection((host, int(port)), timeout=30)
        t = time.time()
        r = call(s, frame(34, heartbeat(depth, int(time.time() * 1000) + n), n + 1))
        print("depth=%d -> code %s in %.3f s" % (depth, r.get("code"), time.time() - t))
        s.close()
    except (OSError, EOFError) as e:
        print("depth=%d -> no answer: %s" % (depth, e))
