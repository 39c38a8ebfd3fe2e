#!/usr/bin/env node
'use strict';
/*
 * Compatibility-test driver for the stock npm `ali-ons` RocketMQ client
 * (pure JavaScript, JSON remoting only).
 *
 *   node rmq_client.js send         --namesrv H:P --topic T --group G --count N [--tags A,B] [--key-prefix k]
 *                                   [--prop name=value ...] [--body-prefix s]
 *   node rmq_client.js push-consume --namesrv H:P --topic T --group G --expect N [--expr 'A || B']
 *                                   [--timeout SEC] [--idle SEC] [--from last|first] [--broadcast]
 *   node rmq_client.js pull-consume --namesrv H:P --topic T --group G [--expr ..] [--expect N] [--timeout SEC]
 *
 * stdout carries only JSON lines (one object per message or error); diagnostics and the
 * client's own warnings go to stderr. Exit: 0 ok, 1 not everything sent/received, 2 usage/start error.
 */

const path = require('path');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
function note(obj) {
  process.stderr.write(JSON.stringify(obj) + '\n');
}

// ---------------------------------------------------------------- arguments
const MULTI = new Set([ 'prop', 'show-prop' ]);
const FLAGS = new Set([ 'broadcast', 'help' ]);
function parseArgs(argv) {
  const cmd = argv[0];
  const opts = { prop: [], 'show-prop': [] };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    let name = a.slice(2);
    let val;
    const eq = name.indexOf('=');
    if (eq >= 0 && !MULTI.has(name.slice(0, eq)) && !FLAGS.has(name.slice(0, eq))) {
      val = name.slice(eq + 1);
      name = name.slice(0, eq);
    } else if (FLAGS.has(name)) {
      val = true;
    } else {
      if (i + 1 >= argv.length) throw new Error(`missing value for --${name}`);
      val = argv[++i];
    }
    if (MULTI.has(name)) opts[name].push(val);
    else opts[name] = val;
  }
  return { cmd, opts };
}

const USAGE = 'usage: rmq_client.js {send|push-consume|pull-consume} --namesrv HOST:PORT --topic T --group G ...';
let cmd;
let opts;
try {
  ({ cmd, opts } = parseArgs(process.argv.slice(2)));
  if (!cmd || opts.help || cmd === '--help' || cmd === '-h') {
    process.stderr.write(USAGE + '\n');
    process.exit(cmd ? 0 : 2);
  }
  for (const req of [ 'namesrv', 'topic', 'group' ]) {
    if (!opts[req]) throw new Error(`--${req} is required`);
  }
  if (cmd === 'push-consume' && opts.expect === undefined) throw new Error('--expect is required');
} catch (err) {
  emit({ error: `usage: ${err.message}`, phase: 'args' });
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}

// ------------------------------------------------------------------ client
let ons;
try {
  ons = require('ali-ons');
} catch (err) {
  emit({ error: `cannot load ali-ons (run "npm ci" in ${__dirname}): ${err.message}`, phase: 'import' });
  process.exit(2);
}
const { Producer, Consumer, Message } = ons;

// ali-ons' default logger prints warn/error with console.warn/error (stderr); info/debug
// are dropped. Keep that, but make it one-line JSON-ish and optional.
const LOG_LEVEL = (opts['log-level'] || process.env.RMQ_CLIENT_LOG_LEVEL || 'warn').toLowerCase();
const LEVELS = { debug: 0, info: 1, warn: 2, error: 3, none: 4 };
const util = require('util');
function mkLog(level) {
  return (...args) => {
    if (LEVELS[level] < (LEVELS[LOG_LEVEL] !== undefined ? LEVELS[LOG_LEVEL] : 2)) return;
    let text;
    try {
      text = args.length && typeof args[0] === 'string' ? util.format(...args) : args.map(a => (a instanceof Error ? `${a.name}: ${a.message}` : util.format('%j', a))).join(' ');
    } catch (e) {
      text = String(args[0]);
    }
    process.stderr.write(JSON.stringify({ log: level, msg: text }) + '\n');
  };
}
const logger = { debug: mkLog('debug'), info: mkLog('info'), warn: mkLog('warn'), error: mkLog('error') };

// ali-ons asserts an `httpclient` (it would fetch the name server list over HTTP from
// onsAddr); with an explicit `nameSrv` it is never called.
const httpclient = {
  async request(url) {
    throw new Error(`unexpected HTTP request to ${url} (nameSrv should be used)`);
  },
};

function baseOptions() {
  const nameSrv = String(opts.namesrv).split(';').map(s => s.trim()).filter(Boolean);
  const o = {
    httpclient,
    nameSrv: nameSrv.length === 1 ? nameSrv[0] : nameSrv,
    logger,
    // no accessKey/secretKey => plain remoting, no AccessKey/Signature/OnsChannel ext fields
  };
  if (opts['instance-name']) o.instanceName = opts['instance-name'];
  return o;
}

function errText(err) {
  if (!err) return 'unknown error';
  const parts = [ `${err.name || 'Error'}: ${err.message}` ];
  if (err.code !== undefined) parts.push(`(code ${err.code})`);
  return parts.join(' ');
}

function msgToDict(msg) {
  const props = Object.assign({}, msg.properties || {});
  const show = opts['show-prop'];
  let properties = props;
  if (show.length) {
    properties = {};
    for (const k of [ 'UNIQ_KEY' ].concat(show)) {
      if (props[k] !== undefined && props[k] !== '') properties[k] = props[k];
    }
  }
  return {
    topic: msg.topic,
    tags: msg.tags === undefined ? null : msg.tags,
    keys: msg.keys === undefined ? null : msg.keys,
    body: msg.body ? msg.body.toString('utf8') : '',
    msg_id: msg.msgId,
    queue_id: msg.queueId,
    queue_offset: msg.queueOffset,
    reconsume_times: msg.reconsumeTimes,
    born_timestamp: msg.bornTimestamp,
    store_timestamp: msg.storeTimestamp,
    commit_log_offset: msg.commitLogOffset,
    store_size: msg.storeSize,
    properties,
  };
}

function exitSoon(code) {
  // ali-ons keeps timers and sockets (its internal producer) alive after close(): exit explicitly,
  // after stdout has drained.
  process.stdout.write('', () => process.exit(code));
  setTimeout(() => process.exit(code), 2000).unref();
}

let stopRequested = false;
process.on('SIGTERM', () => { stopRequested = true; });
process.on('SIGINT', () => { stopRequested = true; });

// -------------------------------------------------------------------- send
async function cmdSend() {
  const count = parseInt(opts.count || '1', 10);
  const tags = opts.tags ? String(opts.tags).split(',').filter(Boolean) : [];
  const bodyPrefix = opts['body-prefix'] !== undefined ? opts['body-prefix'] : 'msg-';
  const props = [];
  for (const kv of opts.prop) {
    const eq = kv.indexOf('=');
    if (eq <= 0) {
      emit({ error: `bad --prop ${kv}, expected NAME=VALUE`, phase: 'args' });
      return 2;
    }
    props.push([ kv.slice(0, eq), kv.slice(eq + 1) ]);
  }

  const producer = new Producer(Object.assign(baseOptions(), {
    producerGroup: opts.group,
    sendMsgTimeout: parseInt(opts['send-timeout-ms'] || '3000', 10),
  }));
  producer.on('error', err => note({ warning: `producer error: ${errText(err)}` }));
  try {
    await producer.ready();
  } catch (err) {
    emit({ error: errText(err), phase: 'start' });
    return 2;
  }

  let ok = 0;
  for (let i = 0; i < count && !stopRequested; i++) {
    const msg = new Message(opts.topic, tags.length ? tags[i % tags.length] : null, `${bodyPrefix}${i}`);
    if (!tags.length) delete msg.properties.TAGS;
    if (opts['key-prefix'] !== undefined) msg.keys = [ `${opts['key-prefix']}${i}` ];
    for (const [ k, v ] of props) msg.properties[k] = v;
    if (opts['delay-level']) msg.delayTimeLevel = parseInt(opts['delay-level'], 10);
    try {
      const r = await producer.send(msg);
      emit({
        i,
        status: r.sendStatus,
        msg_id: r.msgId,
        offset: r.queueOffset,
        queue_id: r.messageQueue ? Number(r.messageQueue.queueId) : null,
      });
      if (r.sendStatus === 'SEND_OK') ok++;
    } catch (err) {
      emit({ i, error: errText(err) });
    }
  }
  try {
    await producer.close();
  } catch (err) {
    note({ warning: `producer close failed: ${errText(err)}` });
  }
  note({ summary: 'send', sent_ok: ok, requested: count });
  return ok === count ? 0 : 1;
}

// ------------------------------------------------------------ push-consume
async function cmdPushConsume() {
  const expect = parseInt(opts.expect, 10);
  const timeout = parseFloat(opts.timeout || '60') * 1000;
  const idle = opts.idle !== undefined ? parseFloat(opts.idle) * 1000 : null;
  const from = (opts.from || 'last').toLowerCase();
  const consumeFromWhere = {
    last: 'CONSUME_FROM_LAST_OFFSET',
    first: 'CONSUME_FROM_FIRST_OFFSET',
  }[from];
  if (!consumeFromWhere) {
    emit({ error: `bad --from ${from}, expected last|first`, phase: 'args' });
    return 2;
  }

  let count = 0;
  let last = Date.now();
  const consumer = new Consumer(Object.assign(baseOptions(), {
    consumerGroup: opts.group,
    consumeFromWhere,
    isBroadcast: !!opts.broadcast,
  }));
  const seenErrors = new Set();
  consumer.on('error', err => {
    // ali-ons reports background failures (e.g. route lookups answered with TOPIC_NOT_EXIST)
    // only as 'error' events: surface each distinct one once on stdout, all on stderr.
    const text = errText(err);
    note({ warning: `consumer error: ${text}` });
    if (!seenErrors.has(text) && seenErrors.size < 20) {
      seenErrors.add(text);
      emit({ error: text, phase: 'consume', code: err && err.code !== undefined ? err.code : null });
    }
  });
  try {
    consumer.subscribe(opts.topic, opts.expr || '*', async msg => {
      let d;
      try {
        d = msgToDict(msg);
      } catch (err) {
        d = { error: `decode failed: ${errText(err)}` };
      }
      emit(d);
      count++;
      last = Date.now();
    });
    await consumer.ready();
  } catch (err) {
    emit({ error: errText(err), phase: 'start' });
    return 2;
  }

  const deadline = Date.now() + timeout;
  let reason = 'timeout';
  await new Promise(resolve => {
    const t = setInterval(() => {
      const now = Date.now();
      if (stopRequested) {
        reason = 'signal';
      } else if (count >= expect && idle === null) {
        reason = 'expected';
      } else if (count >= expect && now - last >= idle) {
        reason = 'idle';
      } else if (now < deadline) {
        return;
      }
      clearInterval(t);
      resolve();
    }, 50);
  });

  const t0 = Date.now();
  try {
    // persists offsets (UPDATE_CONSUMER_OFFSET, sent "oneway" style) and sends UNREGISTER_CLIENT
    await Promise.race([
      consumer.close(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('close timed out after 10s')), 10000)),
    ]);
  } catch (err) {
    note({ warning: `consumer close failed: ${errText(err)}` });
  }
  // give the oneway offset updates a moment to leave the socket
  await new Promise(r => setTimeout(r, 200));
  note({ summary: 'push-consume', received: count, expected: expect, stop_reason: reason, shutdown_secs: (Date.now() - t0) / 1000 });
  return count >= expect ? 0 : 1;
}

// ------------------------------------------------------------ pull-consume
// ali-ons has no public pull consumer. This uses its own remoting layer (MQClientAPI):
// route lookup (105) + PULL_MESSAGE (11) without the suspend flag, per queue from offset 0.
async function cmdPullConsume() {
  const MQClientAPI = require(path.join(path.dirname(require.resolve('ali-ons')), 'mq_client_api'));
  const PullStatus = require(path.join(path.dirname(require.resolve('ali-ons')), 'consumer', 'pull_status'));
  const expect = opts.expect !== undefined ? parseInt(opts.expect, 10) : null;
  const deadline = Date.now() + parseFloat(opts.timeout || '60') * 1000;
  const batch = parseInt(opts.batch || '32', 10);
  const expr = opts.expr || '*';
  const api = new MQClientAPI(Object.assign(baseOptions(), { responseTimeout: 30000 }));
  api.on('error', err => note({ warning: `client error: ${errText(err)}` }));
  let total = 0;
  let rc = 0;
  try {
    await api.ready();
    let route;
    try {
      route = await api.getTopicRouteInfoFromNameServer(opts.topic, 3000);
    } catch (err) {
      emit({ error: errText(err), phase: 'route' });
      return 1;
    }
    const queues = [];
    for (const qd of route.queueDatas || []) {
      const bd = (route.brokerDatas || []).find(b => b.brokerName === qd.brokerName);
      const addr = bd && bd.brokerAddrs && (bd.brokerAddrs['0'] || bd.brokerAddrs[0]);
      for (let q = 0; q < qd.readQueueNums; q++) queues.push({ broker: qd.brokerName, addr, queueId: q });
    }
    note({ queues: queues.map(q => ({ broker: q.broker, addr: q.addr, queue_id: q.queueId })) });
    if (!queues.length) {
      emit({ error: `no message queues for topic ${opts.topic}`, phase: 'route' });
      return 1;
    }
    for (const q of queues) {
      let offset = 0;
      while (!stopRequested) {
        if (Date.now() >= deadline) {
          emit({ error: 'timeout while pulling', queue_id: q.queueId, offset });
          rc = 1;
          break;
        }
        if (!q.addr) {
          emit({ error: `no master address for broker ${q.broker}`, queue_id: q.queueId });
          rc = 1;
          break;
        }
        let res;
        try {
          res = await api.pullMessage(q.addr, {
            consumerGroup: opts.group,
            topic: opts.topic,
            queueId: q.queueId,
            queueOffset: offset,
            maxMsgNums: batch,
            sysFlag: 4, // FLAG_SUBSCRIPTION only: no commit, no suspend
            commitOffset: 0,
            suspendTimeoutMillis: 20000,
            subscription: expr,
            subVersion: 0,
          }, 30000);
        } catch (err) {
          emit({ error: errText(err), queue_id: q.queueId, offset });
          rc = 1;
          break;
        }
        if (res.pullStatus === PullStatus.FOUND) {
          const tagsSet = expr === '*' ? null : expr.split('||').map(s => s.trim()).filter(Boolean);
          for (const m of res.msgFoundList) {
            if (tagsSet && !tagsSet.includes(m.tags)) continue;
            emit(msgToDict(m));
            total++;
          }
          offset = res.nextBeginOffset;
        } else if (res.pullStatus === PullStatus.NO_MATCHED_MSG) {
          if (res.nextBeginOffset === offset) break;
          offset = res.nextBeginOffset;
        } else if (res.pullStatus === PullStatus.OFFSET_ILLEGAL) {
          note({ info: 'OFFSET_ILLEGAL', queue_id: q.queueId, offset, next: res.nextBeginOffset });
          if (res.nextBeginOffset === offset || isNaN(res.nextBeginOffset)) break;
          offset = res.nextBeginOffset;
        } else {
          break; // NO_NEW_MSG
        }
      }
    }
  } catch (err) {
    emit({ error: errText(err), phase: 'pull' });
    rc = 1;
  } finally {
    try {
      await api.close();
    } catch (err) {
      note({ warning: `close failed: ${errText(err)}` });
    }
  }
  note({ summary: 'pull-consume', received: total, expected: expect });
  if (expect !== null && total < expect) rc = 1;
  return rc;
}

// -------------------------------------------------------------------- main
const COMMANDS = { send: cmdSend, 'push-consume': cmdPushConsume, 'pull-consume': cmdPullConsume };
if (!COMMANDS[cmd]) {
  emit({ error: `unknown subcommand ${cmd}`, phase: 'args' });
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}
process.on('unhandledRejection', err => note({ warning: `unhandled rejection: ${errText(err)}` }));
COMMANDS[cmd]().then(code => exitSoon(code), err => {
  emit({ error: errText(err), phase: 'internal' });
  exitSoon(2);
});
