#!/usr/bin/env python3
"""Sends one SEND_MESSAGE (10) whose properties header holds N distinct pairs and times the answer.
usage: send_big_properties.py HOST:PORT PAIRS..."""
import json, socket, struct, sys, time

def frame(code, ext, body=b"", opaque=1):
    h = json.dumps({"code": code, "flag": 0, "language": "JAVA", "opaque": opaque,
                    "serializeTypeCurrentRPC": "JSON", "version": 395, "extFields": ext}).encode()
    return struct.pack(">II", 4 + len(h) + len(body), len(h)) + h + body

def call(sock, data):
    sock.sendall(data)
    def read(n):
        b = b""
        while len(b) < n:
            c = sock.recv(n - len(b))
            if not c: raise EOFError
            b += c
        return b
    total, = struct.unpack(">I", read(4))
    rest = read(total)
    hl = struct.unpack(">I", rest[:4])[0] & 0xFFFFFF
    return json.loads(rest[4:4 + hl])

host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)))
s.settimeout(600)
r = call(s, frame(17, {"topic": "PropDos", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6",
                       "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}))
print("create topic:", r.get("code"), r.get("remark"))
for n in map(int, sys.argv[2:]):
    props = "\x02".join("k%d\x01v" % i for i in range(n))
    ext = {"producerGroup": "pg", "topic": "PropDos", "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
           "queueId": "0", "sysFlag": "0", "bornTimestamp": str(int(time.time() * 1000)), "flag": "0",
           "properties": props, "reconsumeTimes": "0", "unitMode": "false", "batch": "false"}
    t = time.time()
    r = call(s, frame(10, ext, b"x", opaque=n))
    print("pairs=%d properties=%d B -> code %s in %.2f s (%s)" % (n, len(props), r.get("code"), time.time() - t,
          (r.get("remark") or "")[:80]))
