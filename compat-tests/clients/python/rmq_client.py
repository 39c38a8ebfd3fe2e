#!/usr/bin/env python3
"""Compatibility-test driver for the stock PyPI `rocketmq` 0.4.4 client
(Apache rocketmq-client-cpp with bundled librocketmq.so, ctypes bindings).

Subcommands (see README.md next to this folder):
  send          sync sends, one JSON line per message
  push-consume  push consumer, one JSON line per received message
  pull-consume  pull consumer, reads every queue of a topic by offset

Output contract: stdout carries ONLY JSON lines (one object per line, flushed
immediately). Anything the native library writes to fd 1 is redirected to
stderr. The C++ client's own log files go to --log-dir (it writes to
$HOME/logs/rocketmq-cpp, so HOME is pointed there before the library loads).

Exit codes: 0 = success, 1 = did not get/send everything, 2 = usage or client
start failure.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time

# --------------------------------------------------------------------------
# stdout hygiene: keep a private handle on the real stdout for JSON lines and
# point fd 1 at stderr, so that native printf()s cannot corrupt the output.
# --------------------------------------------------------------------------
_OUT_FD = os.dup(1)
os.dup2(2, 1)
OUT = os.fdopen(_OUT_FD, 'w', buffering=1, encoding='utf-8')
sys.stdout = sys.stderr
_OUT_LOCK = threading.Lock()


def emit(obj):
    line = json.dumps(obj, ensure_ascii=False, sort_keys=False)
    with _OUT_LOCK:
        OUT.write(line + '\n')
        OUT.flush()


def note(obj):
    """Diagnostics (summaries, start-up info) go to stderr as JSON too."""
    sys.stderr.write(json.dumps(obj, ensure_ascii=False) + '\n')
    sys.stderr.flush()


LOG_LEVELS = {'fatal': 1, 'error': 2, 'warn': 3, 'info': 4, 'debug': 5, 'trace': 6}


def parse_args(argv):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--namesrv', required=True, help='HOST:PORT[;HOST:PORT]')
    common.add_argument('--topic', required=True)
    common.add_argument('--group', required=True)
    common.add_argument('--log-dir', default=os.environ.get('RMQ_CLIENT_LOG_DIR'),
                        help='where the C++ client writes logs/rocketmq-cpp/ '
                             '(default: $TMPDIR/rmq-compat-client-logs/python)')
    common.add_argument('--log-level', default=os.environ.get('RMQ_CLIENT_LOG_LEVEL', 'info'),
                        choices=sorted(LOG_LEVELS))
    common.add_argument('--instance-name', default=None,
                        help='client instance name (push consumer only; default: pid based)')
    common.add_argument('--access-key', default=None, help='ACL: sign requests as this account')
    common.add_argument('--secret-key', default=None, help='ACL: the account\'s secret')

    p = argparse.ArgumentParser(prog='rmq_client.py', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)

    s = sub.add_parser('send', parents=[common], help='sync send N messages')
    s.add_argument('--count', type=int, default=1)
    s.add_argument('--tags', default=None, help='comma separated, used round-robin')
    s.add_argument('--key-prefix', default=None, help='message i gets key <prefix><i>')
    s.add_argument('--prop', action='append', default=[], metavar='NAME=VALUE',
                   help='user property, repeatable')
    s.add_argument('--body-prefix', default='msg-', help='body of message i is <prefix><i>')
    s.add_argument('--send-timeout-ms', type=int, default=3000)
    s.add_argument('--delay-level', type=int, default=0)

    c = sub.add_parser('push-consume', parents=[common], help='push consumer')
    c.add_argument('--expr', default='*', help="tag expression, e.g. 'TagA || TagB'")
    c.add_argument('--expect', type=int, required=True)
    c.add_argument('--timeout', type=float, default=60.0, help='seconds, overall')
    c.add_argument('--idle', type=float, default=None,
                   help='after >= N messages keep listening until no message came for this many seconds')
    c.add_argument('--show-prop', action='append', default=[], metavar='NAME',
                   help='user property name to report (the binding cannot list properties); repeatable')
    c.add_argument('--threads', type=int, default=1, help='consume thread count')
    c.add_argument('--broadcast', action='store_true', help='BROADCASTING message model')

    q = sub.add_parser('pull-consume', parents=[common], help='pull every queue of a topic from offset 0')
    q.add_argument('--expr', default='*')
    q.add_argument('--expect', type=int, default=None, help='exit 1 if fewer messages were read')
    q.add_argument('--timeout', type=float, default=60.0, help='seconds, overall')
    q.add_argument('--batch', type=int, default=32, help='maxMsgNums per pull')
    q.add_argument('--show-prop', action='append', default=[], metavar='NAME')
    return p.parse_args(argv)


ARGS = parse_args(sys.argv[1:])

# The C++ client logs to $HOME/logs/rocketmq-cpp/<pid>_rocketmq-cpp.log.N (and keeps
# broadcasting offset snapshots under $HOME/logs/rocketmq-cpp/snapshot). Redirect HOME
# before the shared library is loaded.
_log_home = ARGS.log_dir or os.path.join(tempfile.gettempdir(), 'rmq-compat-client-logs', 'python')
os.makedirs(_log_home, exist_ok=True)
os.environ['HOME'] = _log_home

try:
    from rocketmq import client as rmq  # noqa: E402
    from rocketmq.ffi import dll, _CPullStatus, _CMessageQueue  # noqa: E402
    from rocketmq.client import Message, Producer, PushConsumer, PullConsumer, RecvMessage  # noqa: E402
    from rocketmq.exceptions import ffi_check  # noqa: E402
except Exception as e:  # pragma: no cover - install problem
    emit({'error': 'cannot load rocketmq client: %s: %s' % (type(e).__name__, e), 'phase': 'import'})
    sys.exit(2)

import ctypes  # noqa: E402

STOP = threading.Event()


def _on_signal(signum, frame):
    STOP.set()


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def _s(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode('utf-8', errors='replace')
    return v


def exc_text(e):
    return ('%s: %s' % (type(e).__name__, e)).strip()


def msg_to_dict(m, show_props):
    d = {
        'topic': _s(m.topic),
        # the C++ client returns "" for an absent tag/key; report null like the Node driver
        'tags': _s(m.tags) or None,
        'keys': _s(m.keys) or None,
        'body': _s(m.body),
        'msg_id': _s(m.id),
        'queue_id': m.queue_id,
        'queue_offset': m.queue_offset,
        'reconsume_times': m.reconsume_times,
        'born_timestamp': m.born_timestamp,
        'store_timestamp': m.store_timestamp,
        'commit_log_offset': m.commit_log_offset,
        'store_size': m.store_size,
    }
    props = {}
    for name in ['UNIQ_KEY'] + list(show_props):
        try:
            v = _s(m.get_property(name))
        except Exception:
            v = None
        if v:
            props[name] = v
    d['properties'] = props
    return d


def set_logging(kind, handle):
    level = LOG_LEVELS[ARGS.log_level]
    getattr(dll, 'Set%sLogLevel' % kind)(handle, level)
    # 3 files of at most 10 MiB each, instead of the default 3 x 100 MB
    getattr(dll, 'Set%sLogFileNumAndSize' % kind)(handle, 3, 10 * 1024 * 1024)


# --------------------------------------------------------------------------
def set_credentials(client):
    # The C++ client's session credentials: every request signed with HMAC-SHA1 (ACL 1.0).
    if ARGS.access_key is not None:
        client.set_session_credentials(ARGS.access_key, ARGS.secret_key or '', 'ALIYUN')


def cmd_send():
    tags = [t for t in (ARGS.tags or '').split(',') if t] if ARGS.tags else []
    props = []
    for kv in ARGS.prop:
        if '=' not in kv:
            emit({'error': 'bad --prop %r, expected NAME=VALUE' % kv, 'phase': 'args'})
            return 2
        props.append(kv.split('=', 1))

    producer = Producer(ARGS.group, timeout=ARGS.send_timeout_ms)
    try:
        producer.set_namesrv_addr(ARGS.namesrv)
        set_credentials(producer)
        set_logging('Producer', producer._handle)
        producer.start()
    except Exception as e:
        emit({'error': exc_text(e), 'phase': 'start'})
        return 2

    ok = 0
    try:
        for i in range(ARGS.count):
            if STOP.is_set():
                break
            msg = Message(ARGS.topic)
            if ARGS.key_prefix is not None:
                msg.set_keys('%s%d' % (ARGS.key_prefix, i))
            if tags:
                msg.set_tags(tags[i % len(tags)])
            for k, v in props:
                msg.set_property(k, v)
            if ARGS.delay_level:
                msg.set_delay_time_level(ARGS.delay_level)
            msg.set_body('%s%d' % (ARGS.body_prefix, i))
            try:
                r = producer.send_sync(msg)
                # normalise the C++ enum (OK, FLUSH_DISK_TIMEOUT, ...) to Java's SendStatus names
                status = r.status.name if hasattr(r.status, 'name') else str(r.status)
                status = 'SEND_OK' if status == 'OK' else status
                emit({'i': i, 'status': status, 'msg_id': r.msg_id, 'offset': r.offset})
                if status == 'SEND_OK':
                    ok += 1
            except Exception as e:
                emit({'i': i, 'error': exc_text(e)})
    finally:
        try:
            producer.shutdown()
        except Exception as e:
            note({'warning': 'producer shutdown failed: %s' % exc_text(e)})
    note({'summary': 'send', 'sent_ok': ok, 'requested': ARGS.count})
    return 0 if ok == ARGS.count else 1


# --------------------------------------------------------------------------
def cmd_push_consume():
    from rocketmq.ffi import MessageModel
    model = MessageModel.BROADCASTING if ARGS.broadcast else MessageModel.CLUSTERING
    state = {'count': 0, 'last': time.time()}
    lock = threading.Lock()

    def on_message(m):
        try:
            d = msg_to_dict(m, ARGS.show_prop)
        except Exception as e:  # never make the client re-consume because of us
            d = {'error': 'decode failed: %s' % exc_text(e)}
        emit(d)
        with lock:
            state['count'] += 1
            state['last'] = time.time()
        # returning normally = CONSUME_SUCCESS

    consumer = PushConsumer(ARGS.group, message_model=model)
    try:
        consumer.set_namesrv_addr(ARGS.namesrv)
        set_credentials(consumer)
        set_logging('PushConsumer', consumer._handle)
        if ARGS.threads:
            consumer.set_thread_count(ARGS.threads)
        if ARGS.instance_name:
            consumer.set_instance_name(ARGS.instance_name)
        consumer.subscribe(ARGS.topic, on_message, expression=ARGS.expr)
        consumer.start()
    except Exception as e:
        emit({'error': exc_text(e), 'phase': 'start'})
        return 2

    deadline = time.time() + ARGS.timeout
    reason = 'timeout'
    while not STOP.is_set():
        now = time.time()
        with lock:
            n, last = state['count'], state['last']
        if n >= ARGS.expect:
            if ARGS.idle is None:
                reason = 'expected'
                break
            if now - last >= ARGS.idle:
                reason = 'idle'
                break
        if now >= deadline:
            break
        time.sleep(0.05)
    else:
        reason = 'signal'

    t0 = time.time()
    try:
        consumer.shutdown()  # persists consumer offsets (UPDATE_CONSUMER_OFFSET) and unregisters
    except Exception as e:
        note({'warning': 'consumer shutdown failed: %s' % exc_text(e)})
    with lock:
        n = state['count']
    note({'summary': 'push-consume', 'received': n, 'expected': ARGS.expect, 'stop_reason': reason,
          'shutdown_secs': round(time.time() - t0, 3)})
    return 0 if n >= ARGS.expect else 1


# --------------------------------------------------------------------------
def cmd_pull_consume():
    consumer = PullConsumer(ARGS.group)
    try:
        consumer.set_namesrv_addr(ARGS.namesrv)
        set_logging('PullConsumer', consumer._handle)
        consumer.start()
    except Exception as e:
        emit({'error': exc_text(e), 'phase': 'start'})
        return 2

    deadline = time.time() + ARGS.timeout
    total = 0
    rc = 0
    queues = []
    mq_ptr = ctypes.POINTER(_CMessageQueue)()
    size = ctypes.c_int()
    try:
        try:
            ffi_check(dll.FetchSubscriptionMessageQueues(consumer._handle, ARGS.topic.encode(),
                                                         ctypes.pointer(mq_ptr), ctypes.pointer(size)))
        except Exception as e:
            emit({'error': exc_text(e), 'phase': 'fetch-queues'})
            return 1
        for i in range(size.value):
            mq = _CMessageQueue()
            ctypes.memmove(ctypes.byref(mq), ctypes.byref(mq_ptr[i]), ctypes.sizeof(_CMessageQueue))
            queues.append(mq)
        dll.ReleaseSubscriptionMessageQueue(mq_ptr)
        queues.sort(key=lambda q: (q.brokerName, q.queueId))
        if not queues:
            # the C++ client reports a missing route (name server answered TOPIC_NOT_EXIST)
            # as an empty queue list, not as an error
            emit({'error': 'no message queues for topic %s (no route info)' % ARGS.topic, 'phase': 'fetch-queues'})
            return 1
        note({'queues': [{'broker': q.brokerName.decode(), 'queue_id': q.queueId} for q in queues]})

        for mq in queues:
            offset = 0
            while not STOP.is_set():
                if time.time() >= deadline:
                    emit({'error': 'timeout while pulling', 'queue_id': mq.queueId, 'offset': offset})
                    rc = 1
                    break
                res = dll.Pull(consumer._handle, ctypes.pointer(mq), ARGS.expr.encode(),
                               ctypes.c_longlong(offset), ARGS.batch)
                try:
                    status = res.pullStatus
                    if status == _CPullStatus.FOUND:
                        for k in range(int(res.size)):
                            emit(msg_to_dict(RecvMessage(res.msgFoundList[k]), ARGS.show_prop))
                            total += 1
                        offset = res.nextBeginOffset
                    elif status == _CPullStatus.NO_MATCHED_MSG:
                        offset = res.nextBeginOffset
                    elif status == _CPullStatus.NO_NEW_MSG:
                        break
                    elif status == _CPullStatus.OFFSET_ILLEGAL:
                        # librocketmq 0.4.4 also reports PULL_RETRY_IMMEDIATELY (21, "no matched
                        # message", e.g. tag filtered out) as OFFSET_ILLEGAL: just move on.
                        note({'info': 'pull status OFFSET_ILLEGAL', 'queue_id': mq.queueId, 'offset': offset,
                              'next': res.nextBeginOffset, 'min': res.minOffset, 'max': res.maxOffset})
                        if res.nextBeginOffset == offset:
                            break
                        offset = res.nextBeginOffset
                    else:  # BROKER_TIMEOUT or unknown: back off and retry the same offset
                        note({'warning': 'pull status %d' % status, 'queue_id': mq.queueId, 'offset': offset})
                        time.sleep(0.5)
                finally:
                    dll.ReleasePullResult(res)
    finally:
        try:
            consumer.shutdown()
        except Exception as e:
            note({'warning': 'pull consumer shutdown failed: %s' % exc_text(e)})
    note({'summary': 'pull-consume', 'received': total, 'expected': ARGS.expect})
    if ARGS.expect is not None and total < ARGS.expect:
        rc = 1
    return rc


def main():
    try:
        rc = {'send': cmd_send, 'push-consume': cmd_push_consume, 'pull-consume': cmd_pull_consume}[ARGS.cmd]()
    except Exception as e:
        emit({'error': exc_text(e), 'phase': 'internal'})
        rc = 2
    OUT.flush()
    sys.stderr.flush()
    # The native client keeps non-daemon threads around after shutdown on some paths;
    # exit hard so a finished run never hangs the test.
    os._exit(rc)


if __name__ == '__main__':
    main()
