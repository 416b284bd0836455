'use strict';
/*
 * A hand-driven SP peer for the transport's tests: a net server on TCP or a
 * Unix socket that greets as nng's rep0 does (or as a test tells it to),
 * reads the client's greeting and requests, and writes whatever a test asks:
 * whole answers in any order, answers cut short, oversize or malformed
 * headers. Its framing is written out here again on purpose, not taken from
 * src/sp.js, so that a mistake there is not made on both sides of a test.
 *
 * Everything a test waits for is an event (a connection, a request, a
 * close), never a pause.
 */
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const proto = require('../src/proto');

const REP0 = 0x0031;

/** Items in arrival order; shift() waits for the next one. */
class Queue {
  constructor() {
    this.items = [];
    this.waiters = [];
  }

  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  shift() {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

function greetingBytes(protocol) {
  return Buffer.from([0x00, 0x53, 0x50, 0x00, protocol >> 8, protocol & 0xff, 0x00, 0x00]);
}

/** An SP header for a body of `length` bytes: 8 bytes big-endian, after a type byte 1 on Unix sockets. */
function header(ipc, length) {
  const h = Buffer.alloc(ipc ? 9 : 8);
  if (ipc) h[0] = 1;
  h.writeBigUInt64BE(BigInt(length), ipc ? 1 : 0);
  return h;
}

/** One request as the peer read it: its ID, the envelope's method, and the method's request. */
class Request {
  constructor(connection, body) {
    this.connection = connection;
    this.id = body.readUInt32BE(0);
    const envelope = proto.RpcRequest.decode(body.subarray(4));
    this.method = envelope.method.replace(/^\/lsmkv\.v1\.KV\//, '');
    this.timeoutMs = envelope.timeoutMs;
    this.fields = proto.methods[this.method].requestType.decode(envelope.payload);
  }

  /** The bytes of a whole answer to this request: `fields` of the method's response, status OK. */
  answerBytes(fields) {
    const type = proto.methods[this.method].responseType;
    const payload = type.encode(type.fromObject(fields)).finish();
    const envelope = proto.RpcResponse.encode({ payload }).finish();
    const id = Buffer.alloc(4);
    id.writeUInt32BE(this.id);
    return this.connection.frame(Buffer.concat([id, envelope]));
  }

  answer(fields) {
    this.connection.write(this.answerBytes(fields));
  }
}

class PeerConnection {
  constructor(peer, socket) {
    this.peer = peer;
    this.ipc = peer.ipc;
    this.socket = socket;
    this.input = Buffer.alloc(0);
    this.clientGreeting = null;
    this.closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => {}); // a client that goes away is what some tests are about
    socket.on('data', (chunk) => this._received(chunk));
    if (peer.greeting) socket.write(peer.greeting);
  }

  frame(body) {
    return Buffer.concat([header(this.ipc, body.length), body]);
  }

  write(bytes) {
    this.socket.write(bytes);
  }

  /** Closes the connection at once (after what was written so far). */
  destroy() {
    this.socket.destroy();
  }

  _received(chunk) {
    this.input = Buffer.concat([this.input, chunk]);
    if (this.clientGreeting === null) {
      if (this.input.length < 8) return;
      this.clientGreeting = this.input.subarray(0, 8);
      this.input = this.input.subarray(8);
    }
    const size = this.ipc ? 9 : 8;
    while (this.input.length >= size) {
      const length = Number(this.input.readBigUInt64BE(this.ipc ? 1 : 0));
      if (this.input.length < size + length) return;
      const body = this.input.subarray(size, size + length);
      this.input = this.input.subarray(size + length);
      this.peer.requests.push(new Request(this, body));
    }
  }
}

class SpPeer {
  /**
   * Listens on a free loopback port (`kind` 'tcp') or a Unix socket in a
   * fresh temporary directory ('ipc'). `protocol` is the one it greets with;
   * `greeting: null` sends no greeting at all, a Buffer sends those bytes.
   * `socketPath` puts a Unix socket there instead; `host` is the loopback
   * address to listen on (the URL says tcp6:// with '::1').
   */
  static async listen({ kind = 'tcp', protocol = REP0, greeting, socketPath, host = '127.0.0.1' } = {}) {
    const peer = new SpPeer(kind, greeting === undefined ? greetingBytes(protocol) : greeting);
    peer.socketPath = socketPath;
    peer.host = host;
    await peer._listen();
    return peer;
  }

  constructor(kind, greeting) {
    this.kind = kind;
    this.ipc = kind !== 'tcp';
    this.greeting = greeting;
    this.connections = [];
    this.accepted = new Queue();
    this.requests = new Queue();
    this.server = net.createServer((socket) => {
      const connection = new PeerConnection(this, socket);
      this.connections.push(connection);
      this.accepted.push(connection);
    });
  }

  _listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const ready = () => {
        this.server.off('error', reject);
        resolve();
      };
      if (this.kind === 'tcp') {
        this.server.listen(0, this.host, () => {
          const { port } = this.server.address();
          this.url = net.isIPv6(this.host) ? `tcp6://[${this.host}]:${port}` : `tcp://${this.host}:${port}`;
          ready();
        });
      } else {
        if (!this.socketPath) {
          this.dir = fs.mkdtempSync(path.join(process.env.LSMKV_TEST_TMPDIR || os.tmpdir(), 'lsmkv-sp-'));
        }
        const socketPath = this.socketPath || path.join(this.dir, 'sp.sock');
        this.url = `ipc://${socketPath}`;
        this.server.listen(socketPath, ready);
      }
    });
  }

  /** The next connection accepted. */
  nextConnection() {
    return this.accepted.shift();
  }

  /** The next request read, on any connection. */
  nextRequest() {
    return this.requests.shift();
  }

  /** The next `n` requests. */
  async takeRequests(n) {
    const requests = [];
    while (requests.length < n) requests.push(await this.nextRequest());
    return requests;
  }

  async close() {
    for (const c of this.connections) c.destroy();
    await new Promise((resolve) => this.server.close(resolve));
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { SpPeer, greetingBytes, header };
