#!/usr/bin/env node
// A fault-injecting HTTP/1.1 reverse proxy for S3 tests: it sits in front of an S3 server
// (s3rver, radosgw) and forwards each request unchanged (method, path, header names, values and
// order, Host included, and the body, streamed), so SigV4 signatures stay valid, except for the
// requests it chooses to break. Node's built-in modules only.
//
//   node tools/npm/s3_fault_proxy.js --listen PORT --upstream http://HOST:PORT
//        [--host 127.0.0.1] [--seed N] [--faults SPEC]
//
// Prints `fault-proxy listening on 127.0.0.1:PORT` on stdout once it accepts connections
// (--listen 0 picks a free port). Each injected fault is logged to stderr in one line.
//
// Faults (KIND):
//   drop          close the client's connection at once; nothing reaches the server
//   drop-after    forward the request and wait for the server's answer (so a PUT is applied),
//                 then close the client's connection without a response
//   500           answer 500 InternalError (S3's XML) without forwarding
//   503           answer 503 SlowDown (S3's XML) without forwarding
//   truncate      forward; pass on the status, the headers (the full Content-Length) and only
//                 the first half of the body, then close the connection (a body-less answer is
//                 cut before its headers)
//   reset-upload  read about half of the request body (its first chunk when the length is not
//                 known), then close the connection; nothing reaches the server
//   delay:MS      wait MS milliseconds, then forward normally
//
// SPEC is a comma-separated list of `[METHOD:]KIND=PROBABILITY`, e.g.
// `drop=0.1,500=0.05,503=0.1,truncate=0.1` or `GET:truncate=0.3,PUT:reset-upload=0.2`; an empty
// SPEC (or `none`) means no faults. Each proxied request draws one number from a PRNG seeded by
// --seed (default 1) and takes the first rule, in SPEC order, whose cumulative probability it
// falls under among the rules for its method, so a client that sends the same requests in the
// same order meets the same faults. The probabilities that apply to one method sum to at most 1.
//
// Control API, on the same port under /__fault/ (not a valid S3 bucket name):
//   POST /__fault/spec            body: SPEC; replaces the rules   GET /__fault/spec: the rules
//   POST /__fault/next?fault=KIND[&count=N][&method=M]
//                                 the next N requests (of method M) fail with KIND, before and
//                                 regardless of the SPEC
//   GET  /__fault/stats           JSON {requests, forwarded, methods: {GET: n, ...},
//                                 faults: {KIND: n, ...}, scheduled, spec, seed}
//   POST /__fault/reset[?seed=N]  zeroes the counters, drops scheduled faults, reseeds the PRNG
'use strict';

const http = require('http');

const KINDS = ['drop', 'drop-after', '500', '503', 'truncate', 'reset-upload', 'delay'];
const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH'];

function usage(message) {
  process.stderr.write(`s3_fault_proxy: ${message}\n` +
      'usage: node s3_fault_proxy.js --listen PORT --upstream http://HOST:PORT ' +
      '[--host ADDR] [--seed N] [--faults SPEC]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const args = {listen: null, host: '127.0.0.1', upstream: null, seed: 1, faults: ''};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!['--listen', '--host', '--upstream', '--seed', '--faults'].includes(flag)) {
      usage(`unknown argument ${flag}`);
    }
    if (value === undefined) usage(`${flag} needs a value`);
    args[flag.slice(2)] = value;
    i++;
  }
  if (args.listen === null || !/^\d+$/.test(args.listen)) usage('--listen PORT is required');
  if (!args.upstream) usage('--upstream URL is required');
  if (!/^\d+$/.test(String(args.seed))) usage('--seed must be a non-negative integer');
  args.listen = Number(args.listen);
  args.seed = Number(args.seed);
  return args;
}

// One fault: {kind, ms} where ms is set for delay. Throws on a malformed KIND.
function parseFault(text) {
  const m = /^(drop|drop-after|500|503|truncate|reset-upload|delay:(\d+))$/.exec(text);
  if (!m) throw new Error(`unknown fault '${text}' (kinds: ${KINDS.join(', ')}; delay:MS)`);
  return m[2] !== undefined ? {kind: 'delay', ms: Number(m[2])} : {kind: m[1], ms: 0};
}

function faultName(fault) {
  return fault.kind === 'delay' ? `delay:${fault.ms}` : fault.kind;
}

// SPEC -> [{method (or null for any), kind, ms, p}]. Throws with a readable message.
function parseSpec(spec) {
  const text = spec.trim();
  if (text === '' || text === 'none') return [];
  const rules = text.split(',').map((entry) => {
    const item = entry.trim();
    const eq = item.lastIndexOf('=');
    if (eq < 0) throw new Error(`'${item}': want [METHOD:]KIND=PROBABILITY`);
    let key = item.slice(0, eq).trim();
    const p = Number(item.slice(eq + 1).trim());
    if (item.slice(eq + 1).trim() === '' || !(p >= 0 && p <= 1)) {
      throw new Error(`'${item}': the probability must be a number in [0, 1]`);
    }
    let method = null;
    const colon = key.indexOf(':');
    if (colon > 0 && METHODS.includes(key.slice(0, colon).toUpperCase())) {
      method = key.slice(0, colon).toUpperCase();
      key = key.slice(colon + 1);
    }
    return {method, ...parseFault(key), p};
  });
  for (const method of METHODS) {
    const sum = rules.filter((r) => r.method === null || r.method === method)
        .reduce((a, r) => a + r.p, 0);
    if (sum > 1 + 1e-9) throw new Error(`the probabilities for ${method} sum to ${sum} > 1`);
  }
  return rules;
}

function specText(rules) {
  return rules.map((r) => `${r.method ? r.method + ':' : ''}${faultName(r)}=${r.p}`).join(',');
}

// mulberry32: a small, fast 32-bit generator; plenty for choosing faults reproducibly.
function makeRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const args = parseArgs(process.argv.slice(2));
const upstream = new URL(args.upstream);
if (upstream.protocol !== 'http:') usage('--upstream must be an http:// URL');
const upstreamAgent = new http.Agent({keepAlive: true});

const state = {
  rules: [],
  scheduled: [],  // [{method, kind, ms, count}]
  random: makeRandom(args.seed),
  seed: args.seed,
  stats: null,
};
function resetStats() {
  state.stats = {requests: 0, forwarded: 0, methods: {}, faults: {}};
}
resetStats();
try {
  state.rules = parseSpec(args.faults);
} catch (e) {
  usage(`--faults: ${e.message}`);
}

// The fault for this request, or null. Always draws one number, so the sequence of draws does
// not depend on which faults were scheduled or which rules matched.
function chooseFault(method) {
  const draw = state.random();
  const i = state.scheduled.findIndex((s) => s.method === null || s.method === method);
  if (i >= 0) {
    const s = state.scheduled[i];
    if (--s.count === 0) state.scheduled.splice(i, 1);
    return {kind: s.kind, ms: s.ms};
  }
  let cumulative = 0;
  for (const r of state.rules) {
    if (r.method !== null && r.method !== method) continue;
    cumulative += r.p;
    if (draw < cumulative) return {kind: r.kind, ms: r.ms};
  }
  return null;
}

function s3Error(res, status, code, message, requestId) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${code}</Code><Message>${message}</Message>` +
      `<RequestId>${requestId}</RequestId><HostId>fault-proxy</HostId></Error>`;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  });
  res.end(body);
}

function json(res, status, value) {
  const body = JSON.stringify(value, null, 1) + '\n';
  res.writeHead(status,
      {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
  res.end(body);
}

function readBody(req, done) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
}

function control(req, res, url) {
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /__fault/stats') {
    const scheduled = state.scheduled.reduce((a, s) => a + s.count, 0);
    return json(res, 200, {...state.stats, scheduled, spec: specText(state.rules), seed: state.seed});
  }
  if (route === 'GET /__fault/spec') return json(res, 200, {spec: specText(state.rules)});
  if (route === 'POST /__fault/spec') {
    return readBody(req, (body) => {
      try {
        state.rules = parseSpec(body);
      } catch (e) {
        return json(res, 400, {error: e.message});
      }
      process.stderr.write(`fault-proxy: spec now '${specText(state.rules)}'\n`);
      json(res, 200, {spec: specText(state.rules)});
    });
  }
  if (route === 'POST /__fault/next') {
    try {
      const fault = parseFault(url.searchParams.get('fault') || '');
      const countText = url.searchParams.get('count') || '1';
      const count = Number(countText);
      if (!/^\d+$/.test(countText) || count < 1) {
        throw new Error('count must be a positive integer');
      }
      let method = url.searchParams.get('method');
      if (method !== null) {
        method = method.toUpperCase();
        if (!METHODS.includes(method)) throw new Error(`unknown method '${method}'`);
      }
      state.scheduled.push({method, ...fault, count});
      req.resume();
      const what = `${count} x ${faultName(fault)}${method ? ' on ' + method : ''}`;
      return json(res, 200, {scheduled: what});
    } catch (e) {
      req.resume();
      return json(res, 400, {error: e.message});
    }
  }
  if (route === 'POST /__fault/reset') {
    const seedText = url.searchParams.get('seed');
    if (seedText !== null) {
      if (!/^\d+$/.test(seedText)) {
        return json(res, 400, {error: 'seed must be a non-negative integer'});
      }
      state.seed = Number(seedText);
    }
    state.random = makeRandom(state.seed);
    state.scheduled = [];
    resetStats();
    req.resume();
    return json(res, 200, {seed: state.seed});
  }
  req.resume();
  json(res, 404, {error: `no control endpoint ${route}`});
}

// Forwards req to the upstream server. onResponse(upstreamRes) decides what the client gets.
function forward(req, res, onResponse) {
  const outgoing = http.request({
    host: upstream.hostname,
    port: upstream.port || 80,
    method: req.method,
    path: req.url,
    headers: req.rawHeaders,  // names, values, order and duplicates as received; Host included
    setHost: false,
    agent: upstreamAgent,
  });
  outgoing.on('response', (upstreamRes) => {
    state.stats.forwarded++;
    // A server that goes away in the middle of its answer: the client sees a cut answer too.
    upstreamRes.on('error', () => res.destroy());
    upstreamRes.on('aborted', () => res.destroy());
    onResponse(upstreamRes);
  });
  outgoing.on('error', (e) => {
    if (res.headersSent || res.destroyed) return res.destroy();
    process.stderr.write(`fault-proxy: upstream ${req.method} ${req.url}: ${e.message}\n`);
    s3Error(res, 502, 'BadGateway', `fault-proxy: upstream: ${e.message}`, 'proxy');
  });
  // A client that goes away mid-request takes the upstream request with it.
  res.on('close', () => {
    if (!res.writableFinished) outgoing.destroy();
  });
  req.pipe(outgoing);
}

function passThrough(res, upstreamRes) {
  res.writeHead(upstreamRes.statusCode, upstreamRes.statusMessage, upstreamRes.rawHeaders);
  upstreamRes.pipe(res);
}

// Stops reading an answer from the server without cutting the client's connection with it.
function discard(upstreamRes) {
  upstreamRes.removeAllListeners('error');
  upstreamRes.removeAllListeners('aborted');
  upstreamRes.on('error', () => {});
  upstreamRes.destroy();
}

// Sends the status, the headers and the first half of the body, then ends the connection. A body
// of undeclared length (chunked) is read whole first, to know where its half is.
function truncate(req, res, upstreamRes, log) {
  const declared = upstreamRes.headers['content-length'];
  const noBody = req.method === 'HEAD' || upstreamRes.statusCode === 204 ||
      upstreamRes.statusCode === 304 || declared === '0';
  const cutAfter = (part) => {
    res.writeHead(upstreamRes.statusCode, upstreamRes.statusMessage, upstreamRes.rawHeaders);
    if (part.length > 0) res.write(part); else res.flushHeaders();
    res.socket.end();  // after what is queued: a short body, then the end of the connection
  };
  if (noBody) {
    log('truncate (no body: connection closed before the headers)');
    upstreamRes.resume();
    return res.destroy();
  }
  if (declared === undefined) {
    const chunks = [];
    upstreamRes.on('data', (c) => chunks.push(c));
    return upstreamRes.on('end', () => {
      const body = Buffer.concat(chunks);
      const keep = Math.floor(body.length / 2);
      log(`truncate (${keep} of ${body.length} body bytes, length not declared)`);
      cutAfter(body.subarray(0, keep));
    });
  }
  const length = Number(declared);
  const keep = Math.floor(length / 2);
  log(`truncate (${keep} of ${length} body bytes)`);
  if (keep === 0) {
    discard(upstreamRes);
    return cutAfter(Buffer.alloc(0));
  }
  res.writeHead(upstreamRes.statusCode, upstreamRes.statusMessage, upstreamRes.rawHeaders);
  let sent = 0;
  upstreamRes.on('data', (chunk) => {
    if (sent >= keep) return;
    const part = chunk.subarray(0, Math.min(chunk.length, keep - sent));
    sent += part.length;
    if (!res.write(part) && sent < keep) {
      upstreamRes.pause();
      res.once('drain', () => upstreamRes.resume());
    }
    if (sent < keep) return;
    discard(upstreamRes);
    res.socket.end();
  });
}

function resetUpload(req, res, log) {
  const length = Number(req.headers['content-length']);
  const want = length > 0 ? Math.max(1, Math.floor(length / 2)) : 1;
  let got = 0;
  const cut = () => {
    log(`reset-upload (after ${got} of ${length > 0 ? length : 'unknown'} body bytes)`);
    req.socket.destroy();
  };
  if (!(length > 0) && req.headers['transfer-encoding'] === undefined) return cut();
  req.on('data', (chunk) => {
    got += chunk.length;
    if (got >= want) {
      req.removeAllListeners('data');
      cut();
    }
  });
  req.on('end', () => {
    if (!req.socket.destroyed) cut();
  });
}

function proxy(req, res) {
  const n = ++state.stats.requests;
  state.stats.methods[req.method] = (state.stats.methods[req.method] || 0) + 1;
  const fault = chooseFault(req.method);
  if (fault === null) return forward(req, res, (up) => passThrough(res, up));
  const name = faultName(fault);
  state.stats.faults[name] = (state.stats.faults[name] || 0) + 1;
  const log = (what) =>
    process.stderr.write(`fault-proxy: #${n} ${req.method} ${req.url} -> ${what}\n`);
  switch (fault.kind) {
    case 'drop':
      log('drop (before forwarding)');
      return req.socket.destroy();
    case 'drop-after':
      return forward(req, res, (up) => {
        up.resume();
        up.on('end', () => {
          log(`drop-after (server answered ${up.statusCode})`);
          res.destroy();
        });
      });
    case '500':
    case '503':
      log(fault.kind === '500' ? '500 InternalError' : '503 SlowDown');
      // Read the body first, so that the client sees the answer and not a reset.
      req.resume();
      return req.on('end', () => {
        const id = `FAULT${String(n).padStart(11, '0')}`;
        if (fault.kind === '500') {
          s3Error(res, 500, 'InternalError',
              'We encountered an internal error. Please try again.', id);
        } else {
          s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.', id);
        }
      });
    case 'truncate':
      return forward(req, res, (up) => truncate(req, res, up, log));
    case 'reset-upload':
      return resetUpload(req, res, log);
    case 'delay':
      log(`delay ${fault.ms} ms`);
      req.pause();
      return setTimeout(() => {
        if (!req.socket.destroyed) forward(req, res, (up) => passThrough(res, up));
      }, fault.ms);
  }
}

const server = http.createServer((req, res) => {
  // Clients that go away mid-request are routine here, not errors of the proxy.
  req.on('error', () => {});
  res.on('error', () => {});
  if (req.url.startsWith('/__fault/')) return control(req, res, new URL(req.url, 'http://proxy'));
  proxy(req, res);
});
server.keepAliveTimeout = 30000;
server.on('clientError', (err, socket) => socket.destroy());
server.listen(args.listen, args.host, () => {
  process.stdout.write(`fault-proxy listening on ${args.host}:${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
