'use strict';
// The Node client against the real lsmkv-server (CTest: client.node).
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const lsmkv = require('../src');
const proto = require('../src/proto');
const { Server, freePort } = require('./server');
const { SpPeer } = require('./sp_peer');

const { Client, LsmkvError, StatusCode, Sync } = lsmkv;

/** An SP rep0 peer that takes requests and never answers. */
function silentServer() {
  return SpPeer.listen();
}

async function rejectsWith(promise, code) {
  const err = await promise.then(
    () => assert.fail('expected a rejection'),
    (e) => e,
  );
  assert.ok(err instanceof LsmkvError, `not an LsmkvError: ${err}`);
  assert.equal(err.codeName, lsmkv.statusName(code));
  assert.equal(err.code, code);
  return err;
}

describe('against lsmkv-server', () => {
  let server;
  let kv;
  before(async () => {
    server = await new Server().start();
    kv = new Client(server.url, { timeout: 10000 });
  });
  after(async () => {
    await kv.close();
    const status = await server.stop();
    const output = server.output;
    await server.close();
    assert.equal(status, 0, `lsmkv-server exited ${status}:\n${output}`);
  });

  test('put, get, delete and sequence numbers', async () => {
    const s1 = await kv.put('alpha', 'one');
    assert.deepEqual(await kv.get('alpha'), Buffer.from('one'));
    const s2 = await kv.put('alpha', Buffer.from('two'), { sync: Sync.ALWAYS });
    assert.ok(s2 > s1);
    const s3 = await kv.delete('alpha', { sync: Sync.NONE });
    assert.ok(s3 > s2);
    assert.equal(await kv.get('alpha'), null);
    assert.ok((await kv.delete('never-there')) > s3); // deleting a missing key is fine
  });

  test('a missing key is null, not an error', async () => {
    assert.equal(await kv.get('no such key'), null);
  });

  test('binary keys and values (NUL bytes), empty values, large values', async () => {
    const key = Buffer.from([0, 98, 0, 0xff]);
    const value = Buffer.concat([Buffer.from([0]), Buffer.alloc(1000, 7), Buffer.from([0])]);
    await kv.put(key, value);
    assert.deepEqual(await kv.get(key), value);
    assert.equal(await kv.get(Buffer.from([0, 98])), null); // a prefix is another key
    await kv.put(new Uint8Array([0]), new Uint8Array(0));
    const empty = await kv.get(Buffer.from([0]));
    assert.ok(Buffer.isBuffer(empty));
    assert.equal(empty.length, 0);
    const large = Buffer.alloc(3 << 20);
    for (let i = 0; i < large.length; i += 4096) large[i] = i & 0xff;
    await kv.put('large', large);
    assert.ok(large.equals(await kv.get('large')));
  });

  test('flush, compact and stats', async () => {
    for (let i = 0; i < 50; i++) await kv.put(`fc${String(i).padStart(3, '0')}`, `v${i}`);
    await kv.delete('fc000');
    const tables = await kv.flush();
    assert.equal(tables.length, 1);
    const t = tables[0];
    assert.ok(t.sizeBytes > 0);
    assert.ok(t.entries >= 51);
    assert.ok(t.tombstones >= 1);
    assert.ok(Buffer.isBuffer(t.minKey) && Buffer.isBuffer(t.maxKey));
    assert.deepEqual(await kv.flush(), []);
    const result = await kv.compact();
    assert.ok(result.inputTables >= 1);
    assert.ok(result.inputBytes > 0);
    assert.ok(Array.isArray(result.tables));
    assert.deepEqual(await kv.get('fc001'), Buffer.from('v1'));
    assert.equal(await kv.get('fc000'), null);
    const stats = await kv.stats();
    assert.ok(stats.puts >= 50);
    assert.ok(stats.deletes >= 1);
    assert.ok(stats.flushes >= 1);
    assert.ok(stats.compactions >= 1);
    assert.ok(stats.lastSequence > 0);
    assert.equal(typeof stats.lastSequence, 'number');
    assert.ok(stats.serverVersion.length > 0);
    assert.ok(stats.levels.length > 0 && typeof stats.levels[0].targetBytes === 'number');
  });

  test('the declarations list every field of the proto messages', async () => {
    const dts = fs.readFileSync(path.join(__dirname, '..', 'src', 'index.d.ts'), 'utf8');
    const declared = (name) => {
      const body = dts.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`))[1];
      return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]).sort();
    };
    const fields = (type) => proto.root.lookupType(type).fieldsArray.map((f) => f.name).sort();
    assert.deepEqual(declared('Stats'), fields('lsmkv.v1.StatsResponse'));
    assert.deepEqual(declared('LevelStats'), fields('lsmkv.v1.LevelStats'));
    assert.deepEqual(declared('TableInfo'), fields('lsmkv.v1.TableInfo'));
    assert.deepEqual(declared('CompactionResult'), fields('lsmkv.v1.CompactResponse'));
    assert.deepEqual(declared('KeyValue'), fields('lsmkv.v1.KeyValue'));
    assert.deepEqual(Object.keys(await kv.stats()).sort(), fields('lsmkv.v1.StatsResponse'));
  });

  test('status codes, sync modes and method paths come from the protos', () => {
    assert.deepEqual({ ...proto.root.lookupEnum('lsmkv.v1.Code').values }, { ...StatusCode });
    const sync = proto.root.lookupEnum('lsmkv.v1.SyncMode').values;
    assert.deepEqual(Object.fromEntries(Object.entries(sync).map(([k, v]) => [k.replace('SYNC_', ''), v])), { ...Sync });
    assert.equal(proto.methods.Put.path, '/lsmkv.v1.KV/Put');
    assert.equal(proto.methods.Stats.path, '/lsmkv.v1.KV/Stats');
  });

  test('scan pages for the caller (async iterator)', async () => {
    const keys = Array.from({ length: 250 }, (_, i) => Buffer.from(`scan:${String(i).padStart(3, '0')}\0`));
    await kv.batch(keys.map((key) => ({ type: 'put', key, value: Buffer.concat([Buffer.from('v'), key]) })));
    await kv.put('scan;after', 'x'); // just past the prefix
    const all = [];
    for await (const pair of kv.scan({ prefix: 'scan:', pageSize: 7 })) all.push(pair);
    assert.deepEqual(all.map((p) => p.key), keys);
    assert.deepEqual(all.map((p) => p.value), keys.map((k) => Buffer.concat([Buffer.from('v'), k])));
    const range = [];
    for await (const { key } of kv.scan({ start: keys[10], end: keys[20], pageSize: 3 })) range.push(key);
    assert.deepEqual(range, keys.slice(10, 20));
    const limited = [];
    for await (const pair of kv.scan({ prefix: 'scan:', limit: 25, pageSize: 10, keysOnly: true })) limited.push(pair);
    assert.deepEqual(limited.map((p) => p.key), keys.slice(0, 25));
    assert.ok(limited.every((p) => p.value.length === 0));
    const none = [];
    for await (const pair of kv.scan({ prefix: 'no such prefix' })) none.push(pair);
    assert.deepEqual(none, []);
    // Breaking out early is fine (the generator just stops).
    for await (const pair of kv.scan({ prefix: 'scan:', pageSize: 2 })) {
      assert.deepEqual(pair.key, keys[0]);
      break;
    }
  });

  test('scanPage and resumeKey; scan errors', async () => {
    await kv.batch([0, 1, 2, 3, 4].map((i) => ({ type: 'put', key: `page:${i}`, value: `${i}` })));
    const first = await kv.scanPage({ prefix: 'page:', limit: 3 });
    assert.deepEqual(first.pairs.map((p) => p.key.toString()), ['page:0', 'page:1', 'page:2']);
    assert.ok(Buffer.isBuffer(first.resumeKey));
    const rest = await kv.scanPage({ prefix: 'page:', limit: 3, start: first.resumeKey });
    assert.deepEqual(rest.pairs.map((p) => p.key.toString()), ['page:3', 'page:4']);
    assert.equal(rest.resumeKey, null);
    const iterate = async (options) => {
      for await (const _ of kv.scan(options)); // eslint-disable-line no-unused-vars
    };
    await rejectsWith(iterate({ start: 'b', end: 'a' }), StatusCode.INVALID_ARGUMENT);
    await rejectsWith(kv.scanPage({ limit: 0 }), StatusCode.INVALID_ARGUMENT);
    await assert.rejects(iterate({ pageSize: 0 }), RangeError);
  });

  test('batch is atomic; later operations win', async () => {
    await kv.put('batch:gone', 'x');
    const seq = await kv.batch(
      [
        { type: 'put', key: 'batch:a', value: '1' },
        { type: 'put', key: 'batch:a', value: '2' },
        { type: 'delete', key: 'batch:gone' },
        { type: 'put', key: Buffer.from('batch:\0'), value: Buffer.alloc(0) },
      ],
      { sync: Sync.ALWAYS },
    );
    assert.ok(seq > 0);
    assert.deepEqual(await kv.get('batch:a'), Buffer.from('2'));
    assert.equal(await kv.get('batch:gone'), null);
    assert.equal((await kv.get(Buffer.from('batch:\0'))).length, 0);
    const err = await rejectsWith(
      kv.batch([{ type: 'put', key: 'batch:b', value: '1' }, { type: 'put', key: '', value: '2' }]),
      StatusCode.INVALID_ARGUMENT,
    );
    assert.match(err.details, /op 1/);
    assert.equal(await kv.get('batch:b'), null); // nothing was written
    assert.ok((await kv.batch([])) >= seq);
    await assert.rejects(kv.batch([{ type: 'upsert', key: 'k' }]), TypeError);
  });

  test('multiGet reads many keys at one point in time', async () => {
    await kv.batch([{ type: 'put', key: 'mg:1', value: 'one' }, { type: 'put', key: Buffer.from('mg:\0'), value: Buffer.from([0]) }]);
    const got = await kv.multiGet(['mg:1', 'mg:missing', Buffer.from('mg:\0'), 'mg:1']);
    assert.deepEqual(got, [Buffer.from('one'), null, Buffer.from([0]), Buffer.from('one')]);
    assert.deepEqual(await kv.multiGet([]), []);
    const err = await rejectsWith(kv.multiGet(['ok', '']), StatusCode.INVALID_ARGUMENT);
    assert.match(err.details, /key 1/);
    const stats = await kv.stats();
    assert.ok(stats.multiGets >= 1 && stats.batches >= 1 && stats.scans >= 0);
  });

  test('an empty key is INVALID_ARGUMENT with the server\'s message', async () => {
    for (const call of [() => kv.put('', 'v'), () => kv.get(''), () => kv.delete(Buffer.alloc(0))]) {
      const err = await rejectsWith(call(), StatusCode.INVALID_ARGUMENT);
      assert.equal(err.code, 3);
      assert.equal(err.details, 'the key is empty');
      assert.equal(err.message, 'INVALID_ARGUMENT (3): the key is empty');
      assert.equal(err.name, 'LsmkvError');
    }
  });

  test('oversize key, bad sync mode; the client works on afterwards', async () => {
    let err = await rejectsWith(kv.put(Buffer.alloc(64 * 1024 + 1, 1), 'v'), StatusCode.INVALID_ARGUMENT);
    assert.match(err.details, /limit/);
    err = await rejectsWith(kv.put('k', 'v', { sync: 7 }), StatusCode.INVALID_ARGUMENT);
    assert.match(err.details, /sync mode 7/);
    await kv.put('still', 'works');
    assert.deepEqual(await kv.get('still'), Buffer.from('works'));
  });

  test('bad arguments are thrown before anything is sent', async () => {
    await assert.rejects(kv.get(42), TypeError);
    await assert.rejects(kv.put('k', null), TypeError);
    await assert.rejects(kv.get('k', { timeout: 0 }), RangeError);
    assert.throws(() => new Client(server.url, { timeout: -1 }), RangeError);
    assert.throws(() => new Client('nonsense://where'), (e) => e instanceof LsmkvError && e.code === StatusCode.INVALID_ARGUMENT);
    const small = new Client(server.url, { maxMessageSize: 1024 });
    await rejectsWith(small.put('k', Buffer.alloc(2000)), StatusCode.RESOURCE_EXHAUSTED);
    await small.close();
  });

  test('a closed client rejects with CANCELLED', async () => {
    const c = new Client(server.url);
    await c.put('c', 'd');
    await c.close();
    assert.equal(c.closed, true);
    await rejectsWith(c.get('c'), StatusCode.CANCELLED);
    await c.close(); // twice is fine
  });

  test('200 concurrent promises on one client, against a model, without blocking the event loop', async () => {
    const N = 200;
    const model = new Map();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const started = performance.now();
    let values;
    try {
      const writes = [];
      for (let i = 0; i < N; i++) {
        const key = Buffer.from(`conc\0${i}`);
        const value = Buffer.from(`value\0${i}\0`.repeat((i % 7) + 1));
        model.set(key.toString('latin1'), value);
        writes.push(kv.put(key, value, { sync: Sync.NONE }));
      }
      const sequences = await Promise.all(writes);
      // Concurrent writes committed as one group may report the same last sequence.
      assert.ok(sequences.every((s) => Number.isInteger(s) && s > 0));
      // Mixed: reads of everything while half is deleted and a quarter rewritten.
      const mixed = [];
      for (let i = 0; i < N; i++) {
        const key = Buffer.from(`conc\0${i}`);
        if (i % 2 === 0) {
          mixed.push(kv.delete(key));
          model.delete(key.toString('latin1'));
        } else if (i % 4 === 1) {
          const value = Buffer.from(`new\0${i}`);
          mixed.push(kv.put(key, value));
          model.set(key.toString('latin1'), value);
        }
      }
      await Promise.all(mixed);
      const reads = [];
      for (let i = 0; i < N; i++) reads.push(kv.get(Buffer.from(`conc\0${i}`)));
      values = await Promise.all(reads);
    } finally {
      clearInterval(ticker);
    }
    for (let i = 0; i < N; i++) {
      const want = model.get(`conc\0${i}`) ?? null;
      assert.deepEqual(values[i], want, `key ${i}`);
    }
    const elapsed = performance.now() - started;
    // The event loop ran while 200 calls were outstanding (timers are late, not absent).
    assert.ok(ticks > 0 || elapsed < 5, `no timer ran in ${elapsed} ms`);
  });
});

describe('against lsmkv-server over a Unix socket', () => {
  test('put, get, a value of megabytes and concurrent calls over ipc://', async () => {
    const server = await new Server().startIpc();
    const kv = new Client(server.url, { timeout: 10000 });
    try {
      await kv.put('unix', 'socket');
      assert.deepEqual(await kv.get('unix'), Buffer.from('socket'));
      const large = Buffer.alloc(2 << 20);
      for (let i = 0; i < large.length; i += 1000) large[i] = i & 0xff;
      await kv.put('large', large);
      assert.ok(large.equals(await kv.get('large')));
      const keys = Array.from({ length: 100 }, (_, i) => `ipc${i}`);
      await Promise.all(keys.map((k) => kv.put(k, `v-${k}`)));
      assert.deepEqual(await Promise.all(keys.map((k) => kv.get(k))), keys.map((k) => Buffer.from(`v-${k}`)));
      await kv.close();
      assert.equal(await server.stop(), 0, server.output);
    } finally {
      await kv.close();
      await server.close();
    }
  });
});

describe('failures', () => {
  test('nothing listening: a timely UNAVAILABLE', async () => {
    const kv = new Client(`tcp://127.0.0.1:${await freePort()}`, { timeout: 500 });
    const start = performance.now();
    const err = await rejectsWith(kv.get('k'), StatusCode.UNAVAILABLE);
    const elapsed = performance.now() - start;
    assert.match(err.details, /is the server running/);
    assert.ok(elapsed >= 450 && elapsed < 3000, `${elapsed} ms`);
    await kv.close();
  });

  test('no answer: a timely DEADLINE_EXCEEDED (the call\'s own timeout wins)', async () => {
    const silent = await silentServer();
    const kv = new Client(silent.url, { timeout: 30000 });
    const start = performance.now();
    const err = await rejectsWith(kv.put('k', 'v', { timeout: 400 }), StatusCode.DEADLINE_EXCEEDED);
    assert.ok(performance.now() - start < 3000);
    assert.match(err.details, /may have been applied/);
    await kv.close();
    await silent.close();
  });

  test('close() cancels calls in flight', async () => {
    const silent = await silentServer();
    const kv = new Client(silent.url, { timeout: 30000 });
    // Each settles as soon as close() runs: handled from the start.
    const calls = [kv.get('a'), kv.put('b', 'c'), kv.stats()].map((p) => p.then(() => null, (e) => e));
    await silent.takeRequests(3); // all three are on the wire
    const start = performance.now();
    await kv.close();
    for (const err of await Promise.all(calls)) {
      assert.ok(err instanceof LsmkvError, String(err));
      assert.equal(err.code, StatusCode.CANCELLED);
    }
    assert.ok(performance.now() - start < 5000);
    await silent.close();
  });

  test('server stop and restart: UNAVAILABLE, then the client reconnects', async () => {
    const server = await new Server().start();
    const kv = new Client(server.url, { timeout: 5000 });
    try {
        await kv.put('durable', 'yes', { sync: Sync.ALWAYS });
        assert.equal(await server.stop(), 0);
        const start = performance.now();
        const err = await kv.get('durable', { timeout: 1000 }).catch((e) => e);
        assert.ok(err instanceof LsmkvError);
        assert.ok([StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED].includes(err.code), err.message);
        assert.ok(performance.now() - start < 5000);
        await server.start(server.port);
        const deadline = Date.now() + 10000;
        for (;;) {
          try {
            assert.deepEqual(await kv.get('durable'), Buffer.from('yes'));
            break;
          } catch (e) {
            if (!(e instanceof LsmkvError) || e.code !== StatusCode.UNAVAILABLE || Date.now() > deadline) throw e;
          }
        }
        assert.equal(await server.stop(), 0);
    } finally {
      await kv.close();
      await server.close();
    }
  });

  test('a process with an open, idle client exits; one waiting on a call does not exit early', async () => {
    const peer = await SpPeer.listen();
    try {
      // The first call waits for the answer from this process; the second gets none.
      const script = `
        const { Client } = require(${JSON.stringify(path.join(__dirname, '..', 'src'))});
        const kv = new Client('${peer.url}', { timeout: 30000 });
        kv.get('a')
          .then((v) => console.log(v.toString()))
          .then(() => kv.get('k', { timeout: 1000 }))
          .catch((e) => { console.log(e.codeName); });`;
      const child = new Promise((resolve, reject) => {
        execFile(process.execPath, ['-e', script], { timeout: 20000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
      const first = await peer.nextRequest();
      first.answer({ found: true, value: Buffer.from('answered') });
      assert.equal((await child).trim(), 'answered\nDEADLINE_EXCEEDED');
    } finally {
      await peer.close();
    }
  });
});

test('a client dropped without close() is closed when collected', { skip: typeof global.gc !== 'function' && 'needs --expose-gc' }, async () => {
  const server = await new Server().start();
  try {
    let transport;
    await (async () => {
      const kv = new Client(server.url);
      await kv.put('gc', 'me');
      transport = kv._transport;
    })();
    for (let i = 0; i < 20 && !transport.closed; i++) {
      global.gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(transport.closed, true);
  } finally {
    await server.stop();
    await server.close();
  }
});
