'use strict';
// The SP transport against a hand-driven peer (test/sp_peer.js): the
// failures a real server makes rare, made on purpose (CTest: client.node).
// Every wait is on an event; deadlines are generous unless a test is about one.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Client, LsmkvError, StatusCode, statusName } = require('../src');
const { parseEndpoint, connectsToAbstractNames } = require('../src/endpoint');
const sp = require('../src/sp');
const { SpPeer, greetingBytes, header } = require('./sp_peer');

const LONG = 30000; // ms: a deadline no passing test comes near

async function rejection(promise) {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (e) => e,
  );
}

async function rejectsWith(promise, code, details) {
  const err = await rejection(promise);
  assert.ok(err instanceof LsmkvError, `not an LsmkvError: ${err}`);
  assert.equal(err.codeName, statusName(code));
  assert.equal(err.code, code, err.message);
  if (details) assert.match(err.details, details);
  return err;
}

/** Writes `bytes` and then closes the connection, once they are on their way. */
function writeThenDie(connection, bytes) {
  connection.socket.write(bytes, () => connection.destroy());
}

/** Answers a Get with the value "value of KEY". */
function answerGet(request) {
  request.answer({ found: true, value: Buffer.from(`value of ${request.fields.key}`) });
}

/** A deterministic shuffle (a linear congruential generator seeds it). */
function shuffled(items, seed = 12345) {
  const out = items.slice();
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('server URLs', () => {
  test('tcp, tcp4, tcp6, [v6]:port, ipc and abstract', () => {
    assert.deepEqual(parseEndpoint('tcp://127.0.0.1:7420'), { ipc: false, options: { host: '127.0.0.1', port: 7420 } });
    assert.deepEqual(parseEndpoint('tcp://localhost:1'), { ipc: false, options: { host: 'localhost', port: 1 } });
    assert.deepEqual(parseEndpoint('tcp4://db.example:65535'), {
      ipc: false,
      options: { host: 'db.example', port: 65535, family: 4 },
    });
    assert.deepEqual(parseEndpoint('tcp6://[::1]:7420'), { ipc: false, options: { host: '::1', port: 7420, family: 6 } });
    assert.deepEqual(parseEndpoint('tcp://[fe80::1%eth0]:80'), { ipc: false, options: { host: 'fe80::1%eth0', port: 80 } });
    assert.deepEqual(parseEndpoint('ipc:///run/lsmkv.sock'), { ipc: true, options: { path: '/run/lsmkv.sock' } });
    assert.deepEqual(parseEndpoint('ipc://relative.sock'), { ipc: true, options: { path: 'relative.sock' } });
    if (connectsToAbstractNames()) {
      assert.deepEqual(parseEndpoint('abstract://lsmkv'), { ipc: true, options: { path: '\0lsmkv' } });
    } else {
      assert.throws(() => parseEndpoint('abstract://lsmkv'), /abstract:\/\/lsmkv.*libuv 1\.48/);
    }
  });

  test('anything else is INVALID_ARGUMENT naming the URL and what is wrong', () => {
    const cases = {
      'nonsense://where': /unknown scheme/,
      'http://127.0.0.1:80': /unknown scheme/,
      '127.0.0.1:7420': /unknown scheme/,
      'tcp://127.0.0.1': /no port/,
      'tcp://:7420': /no host/,
      'tcp://h:0': /port must be a number from 1 to 65535/,
      'tcp://h:65536': /port must be/,
      'tcp://h:12ab': /port must be/,
      'tcp://h:': /port must be/,
      'tcp://[::1:7420': /closing '\]'/,
      'tcp6://[::1]7420': /':port' after the IPv6 address/,
      'ipc://': /no socket path/,
      [`ipc:///${'x'.repeat(200)}`]: /too long/,
    };
    for (const [url, why] of Object.entries(cases)) {
      assert.throws(
        () => new Client(url),
        (e) => {
          assert.ok(e instanceof LsmkvError, String(e));
          assert.equal(e.code, StatusCode.INVALID_ARGUMENT);
          assert.ok(e.details.includes(`'${url}'`), e.details);
          assert.match(e.details, why);
          return true;
        },
        url,
      );
    }
  });
});

describe('SP framing', () => {
  test('greetings and headers', () => {
    assert.deepEqual([...sp.greeting()], [0x00, 0x53, 0x50, 0x00, 0x00, 0x30, 0x00, 0x00]);
    assert.equal(sp.parseGreeting(greetingBytes(0x31)), 0x31);
    assert.equal(sp.parseGreeting(Buffer.from('HTTP/1.1')), null);
    assert.deepEqual(sp.requestHead(false, 0x80000001, 3), Buffer.concat([header(false, 7), Buffer.from([0x80, 0, 0, 1])]));
    assert.deepEqual(sp.requestHead(true, 0x80000002, 0), Buffer.concat([header(true, 4), Buffer.from([0x80, 0, 0, 2])]));
  });

  test('messages split anywhere across chunks, and many in one chunk, come out whole', () => {
    for (const ipc of [false, true]) {
      const bodies = [Buffer.from([1, 2, 3, 4]), Buffer.from('\x80\0\0\x05hello'), Buffer.alloc(300, 9)];
      const stream = Buffer.concat(bodies.map((b) => Buffer.concat([header(ipc, b.length), b])));
      for (const size of [1, 2, 3, 7, 13, stream.length]) {
        const reader = new sp.MessageReader(ipc, 1000);
        const got = [];
        for (let at = 0; at < stream.length; at += size) reader.push(stream.subarray(at, at + size), (b) => got.push(b));
        assert.deepEqual(got, bodies, `ipc ${ipc}, chunks of ${size}`);
      }
    }
  });

  test('an oversize, short or mistyped message is a FramingError', () => {
    const push = (ipc, bytes, max = 100) => () => new sp.MessageReader(ipc, max).push(bytes, () => {});
    assert.throws(push(false, header(false, 4 + 101)), /an answer of 101 bytes is over maxMessageSize \(100 bytes\)/);
    assert.throws(push(false, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), sp.FramingError);
    assert.doesNotThrow(push(false, header(false, 4 + 100)));
    assert.throws(push(false, header(false, 3)), /malformed/);
    assert.throws(push(true, Buffer.concat([Buffer.from([2]), header(false, 4)])), /malformed/);
  });
});

describe('against a hand-driven SP peer', () => {
  test('the client greets as req0 and marks request IDs with the top bit', async () => {
    const peer = await SpPeer.listen();
    const kv = new Client(peer.url, { timeout: LONG });
    try {
      const call = kv.get('k');
      const request = await peer.nextRequest();
      assert.deepEqual([...request.connection.clientGreeting], [0, 0x53, 0x50, 0, 0, 0x30, 0, 0]);
      assert.equal(request.method, 'Get');
      assert.ok(request.id >= 0x80000000, 'the top bit of the request ID is set');
      answerGet(request);
      assert.deepEqual(await call, Buffer.from('value of k'));
    } finally {
      await kv.close();
      await peer.close();
    }
  });

  for (const kind of ['tcp', 'ipc']) {
    test(`${kind}: a connection dying half-way through an answer fails that call; the next reconnects`, async () => {
      const peer = await SpPeer.listen({ kind });
      const kv = new Client(peer.url, { timeout: LONG });
      try {
        const whole = (await (async () => {
          const call = kv.get('probe');
          const request = await peer.nextRequest();
          const bytes = request.answerBytes({ found: true, value: Buffer.alloc(100, 1) });
          request.connection.write(bytes);
          await call;
          return bytes;
        })());
        const headerSize = kind === 'tcp' ? 8 : 9;
        // Cut in the header, right after it, after the request ID, and in the body.
        for (const cut of [3, headerSize, headerSize + 4, headerSize + 40, whole.length - 1]) {
          const call = kv.get('k');
          const request = await peer.nextRequest();
          writeThenDie(request.connection, request.answerBytes({ found: true, value: Buffer.alloc(100, 1) }).subarray(0, cut));
          await rejectsWith(call, StatusCode.UNAVAILABLE, /closed before the answer.*may have been applied/);
          const next = kv.get('again');
          const retry = await peer.nextRequest();
          assert.equal(retry.fields.key.toString(), 'again', 'the failed request was not resent');
          answerGet(retry);
          assert.deepEqual(await next, Buffer.from('value of again'), `after a cut at ${cut}`);
        }
        assert.equal(peer.connections.length, 6, 'one new connection after each death');
      } finally {
        await kv.close();
        await peer.close();
      }
    });
  }

  test('a death mid-answer under concurrent calls, round after round: every call settles, close() returns', async () => {
    const peer = await SpPeer.listen();
    const kv = new Client(peer.url, { timeout: LONG });
    try {
      for (let round = 0; round < 30; round++) {
        const calls = [0, 1, 2, 3].map((i) => kv.get(`r${round}k${i}`).then((v) => v, (e) => e));
        const requests = await peer.takeRequests(4);
        answerGet(requests[0]);
        const cut = requests[1].answerBytes({ found: true, value: Buffer.alloc(500 + round, 2) });
        writeThenDie(requests[1].connection, cut.subarray(0, 9 + round * 7));
        const results = await Promise.all(calls);
        assert.deepEqual(results[0], Buffer.from(`value of r${round}k0`));
        for (const err of results.slice(1)) {
          assert.ok(err instanceof LsmkvError && err.code === StatusCode.UNAVAILABLE, String(err));
        }
      }
      assert.equal(peer.connections.length, 30);
    } finally {
      await kv.close(); // the wedge made this hang
      await peer.close();
    }
  });

  test('many concurrent calls answered in a shuffled order each get their own answer', async () => {
    const peer = await SpPeer.listen();
    const kv = new Client(peer.url, { timeout: LONG });
    try {
      const N = 200;
      const calls = Array.from({ length: N }, (_, i) => kv.get(`key${i}`));
      const requests = shuffled(await peer.takeRequests(N));
      assert.equal(new Set(requests.map((r) => r.id)).size, N, 'request IDs are unique');
      // Half in one write (many messages in a chunk), half one by one.
      const half = requests.slice(0, N / 2).map((r) => r.answerBytes({ found: true, value: Buffer.from(`value of ${r.fields.key}`) }));
      requests[0].connection.write(Buffer.concat(half));
      for (const r of requests.slice(N / 2)) answerGet(r);
      const values = await Promise.all(calls);
      values.forEach((v, i) => assert.deepEqual(v, Buffer.from(`value of key${i}`)));
      assert.equal(peer.connections.length, 1, 'every call shared one connection');
    } finally {
      await kv.close();
      await peer.close();
    }
  });

  test('an answer over maxMessageSize fails the calls on that connection; the next reconnects', async () => {
    const peer = await SpPeer.listen();
    const max = 1024;
    const kv = new Client(peer.url, { timeout: LONG, maxMessageSize: max });
    try {
      // An answer of exactly maxMessageSize is fine.
      let call = kv.get('fits');
      let request = await peer.nextRequest();
      let value = 0;
      while (request.answerBytes({ found: true, value: Buffer.alloc(value) }).length - 8 - 4 < max) value++;
      assert.equal(request.answerBytes({ found: true, value: Buffer.alloc(value) }).length - 8 - 4, max);
      request.answer({ found: true, value: Buffer.alloc(value, 5) });
      assert.deepEqual(await call, Buffer.alloc(value, 5));
      // One byte more: only its header is sent, and the client gives up at once.
      const bystander = kv.get('bystander');
      call = kv.get('too big');
      const [first, second] = await peer.takeRequests(2);
      request = first.fields.key.toString() === 'too big' ? first : second;
      const id = Buffer.alloc(4);
      id.writeUInt32BE(request.id);
      request.connection.write(Buffer.concat([header(false, 4 + max + 1), id]));
      const err = await rejectsWith(call, StatusCode.UNAVAILABLE, /an answer of 1025 bytes is over maxMessageSize \(1024 bytes\)/);
      assert.match(err.details, /closed before the answer/);
      await rejectsWith(bystander, StatusCode.UNAVAILABLE, /over maxMessageSize/);
      await request.connection.closed; // the client hung up
      call = kv.get('after');
      answerGet(await peer.nextRequest());
      assert.deepEqual(await call, Buffer.from('value of after'));
      assert.equal(peer.connections.length, 2);
    } finally {
      await kv.close();
      await peer.close();
    }
  });

  test('malformed headers break the connection: a Unix socket message of another type, a body shorter than an ID', async () => {
    for (const [kind, bad] of [
      ['ipc', Buffer.concat([Buffer.from([2]), header(false, 8)])],
      ['tcp', header(false, 2)],
    ]) {
      const peer = await SpPeer.listen({ kind });
      const kv = new Client(peer.url, { timeout: LONG });
      try {
        const call = kv.get('k');
        (await peer.nextRequest()).connection.write(bad);
        await rejectsWith(call, StatusCode.UNAVAILABLE, /the server sent a malformed message/);
        const next = kv.get('k2');
        answerGet(await peer.nextRequest());
        assert.deepEqual(await next, Buffer.from('value of k2'));
      } finally {
        await kv.close();
        await peer.close();
      }
    }
  });

  test('a peer that is not rep0 is refused with a reason, without retrying', async () => {
    for (const [options, why] of [
      [{ protocol: 0x0030 }, /the peer speaks SP protocol 0x0030, not rep0 \(0x0031\)/],
      [{ protocol: 0x0010 }, /0x0010, not rep0/],
      [{ greeting: Buffer.from('HTTP/1.1 400\r\n') }, /does not speak the SP protocol/],
    ]) {
      const peer = await SpPeer.listen(options);
      const kv = new Client(peer.url, { timeout: LONG });
      try {
        const calls = [kv.get('a'), kv.stats()];
        for (const call of calls) await rejectsWith(call, StatusCode.UNAVAILABLE, why);
        assert.equal(peer.connections.length, 1);
        await peer.connections[0].closed;
      } finally {
        await kv.close();
        await peer.close();
      }
    }
  });

  test('tcp6://[::1]:port reaches a peer on the IPv6 loopback', async (t) => {
    let peer;
    try {
      peer = await SpPeer.listen({ host: '::1' });
    } catch (e) {
      t.skip(`no IPv6 loopback here: ${e.message}`);
      return;
    }
    const kv = new Client(peer.url, { timeout: LONG });
    try {
      const call = kv.get('six');
      answerGet(await peer.nextRequest());
      assert.deepEqual(await call, Buffer.from('value of six'));
      assert.equal(peer.connections[0].socket.remoteFamily, 'IPv6');
    } finally {
      await kv.close();
      await peer.close();
    }
  });

  test('a late answer is dropped and never reaches the next call', async () => {
    const peer = await SpPeer.listen();
    const kv = new Client(peer.url, { timeout: LONG });
    try {
      const late = kv.get('a', { timeout: 200 });
      const a = await peer.nextRequest();
      await rejectsWith(late, StatusCode.DEADLINE_EXCEEDED, /no answer .* within 200 ms \(the request may have been applied\)/);
      const next = kv.get('b');
      const b = await peer.nextRequest();
      a.answer({ found: true, value: Buffer.from('LATE answer to a') });
      answerGet(b);
      assert.deepEqual(await next, Buffer.from('value of b'));
      // The connection goes on.
      const third = kv.get('c');
      answerGet(await peer.nextRequest());
      assert.deepEqual(await third, Buffer.from('value of c'));
      assert.equal(peer.connections.length, 1);
    } finally {
      await kv.close();
      await peer.close();
    }
  });

  test('a connection the server closes while idle is forgotten: the next call reconnects and succeeds', async () => {
    const peer = await SpPeer.listen({ kind: 'ipc' });
    const kv = new Client(peer.url, { timeout: LONG });
    try {
      const call = kv.get('a');
      answerGet(await peer.nextRequest());
      await call;
      const clientSocket = kv._transport._connection.socket;
      const clientSawIt = new Promise((resolve) => clientSocket.once('close', resolve));
      peer.connections[0].destroy();
      await clientSawIt;
      const next = kv.get('b');
      answerGet(await peer.nextRequest());
      assert.deepEqual(await next, Buffer.from('value of b'));
      assert.equal(peer.connections.length, 2);
    } finally {
      await kv.close();
      await peer.close();
    }
  });

  test('a peer that never greets: UNAVAILABLE at the deadline, saying so', async () => {
    const peer = await SpPeer.listen({ greeting: null });
    const kv = new Client(peer.url, { timeout: LONG });
    try {
      const call = kv.get('k', { timeout: 1000 });
      await peer.nextConnection();
      await rejectsWith(call, StatusCode.UNAVAILABLE, /not connected within 1000 ms \(is the server running\?\): connected, but no SP greeting came back/);
      await peer.connections[0].closed; // the attempt was given up with its last call
    } finally {
      await kv.close();
      await peer.close();
    }
  });

  test('calls made before the server listens connect once it does (retried attempts)', async () => {
    const dir = fs.mkdtempSync(path.join(process.env.LSMKV_TEST_TMPDIR || os.tmpdir(), 'lsmkv-sp-'));
    const socketPath = path.join(dir, 'later.sock'); // not there yet: attempts fail with ENOENT
    const kv = new Client(`ipc://${socketPath}`, { timeout: LONG });
    let peer;
    try {
      const calls = [kv.get('x'), kv.get('y')];
      peer = await SpPeer.listen({ kind: 'ipc', socketPath });
      for (const r of await peer.takeRequests(2)) answerGet(r);
      assert.deepEqual(await Promise.all(calls), [Buffer.from('value of x'), Buffer.from('value of y')]);
      assert.equal(peer.connections.length, 1);
    } finally {
      await kv.close();
      if (peer) await peer.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('nothing listening on a Unix socket: UNAVAILABLE with the last error', async () => {
    const peer = await SpPeer.listen({ kind: 'ipc' });
    const url = peer.url;
    await peer.close();
    const kv = new Client(url, { timeout: 300 });
    await rejectsWith(kv.get('k'), StatusCode.UNAVAILABLE, /not connected within 300 ms \(is the server running\?\): .*ENOENT/);
    await kv.close();
  });

  test('close() cancels calls waiting for an answer and calls waiting for a connection', async () => {
    const answering = await SpPeer.listen();
    const silent = await SpPeer.listen({ greeting: null });
    const connected = new Client(answering.url, { timeout: LONG });
    const connecting = new Client(silent.url, { timeout: LONG });
    try {
      const inFlight = [connected.get('a'), connected.put('b', 'c')].map(rejection);
      await answering.takeRequests(2);
      const waiting = [connecting.get('a'), connecting.stats()].map(rejection);
      await silent.nextConnection();
      await Promise.all([connected.close(), connecting.close()]);
      for (const err of await Promise.all([...inFlight, ...waiting])) {
        assert.ok(err instanceof LsmkvError, String(err));
        assert.equal(err.code, StatusCode.CANCELLED, err.message);
      }
      await Promise.all([answering.connections[0].closed, silent.connections[0].closed]);
      await rejectsWith(connected.get('a'), StatusCode.CANCELLED, /closed/);
    } finally {
      await answering.close();
      await silent.close();
    }
  });
});
