'use strict';
/*
 * lsmkv: a promise-based client of lsmkv-server (proto/lsmkv/v1) over nng's
 * SP req/rep protocol (transport.js). See index.d.ts for the documented API.
 */

const proto = require('./proto');
const { Transport } = require('./transport');
const { LsmkvError, StatusCode, statusName } = require('./errors');

const DEFAULT_URL = 'tcp://127.0.0.1:7420';
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_MESSAGE_SIZE = 32 << 20; // a 16 MiB value with room to spare
const DEFAULT_SCAN_PAGE = 1000; // pairs per Scan call unless told (the server caps at 10000)

/** Durability of one write, on top of the server's --sync (kv.proto's SyncMode). */
const Sync = Object.freeze({ DEFAULT: 0, ALWAYS: 1, NONE: 2 });

// A client dropped without close(): its socket is closed when it is collected.
// (A client with calls in flight is reachable from them, so it has none then.)
const unclosed = new FinalizationRegistry((transport) => transport.close());

const OP_PUT = proto.root.lookupEnum('lsmkv.v1.OpType').values.OP_TYPE_PUT;
const OP_DELETE = proto.root.lookupEnum('lsmkv.v1.OpType').values.OP_TYPE_DELETE;

// Numbers for uint64 fields: exact up to 2^53, far beyond any count or size here.
const TO_OBJECT = { longs: Number, defaults: true, arrays: true };

function bytesArg(name, value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  throw new TypeError(`${name} must be a Buffer, Uint8Array or string, not ${value === null ? 'null' : typeof value}`);
}

function optionalBytes(name, value) {
  return value === undefined || value === null ? Buffer.alloc(0) : bytesArg(name, value);
}

function checkTimeout(ms) {
  if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(`timeout must be a positive number of milliseconds, not ${ms}`);
  }
  return ms;
}

function syncArg(sync) {
  if (sync === undefined) return Sync.DEFAULT;
  if (!Number.isInteger(sync)) throw new TypeError(`sync must be one of lsmkv.Sync's values, not ${sync}`);
  return sync; // the server answers INVALID_ARGUMENT for a number it does not know
}

class Client {
  /**
   * @param {string} [url]
   * @param {{timeout?: number, maxMessageSize?: number}} [options]
   */
  constructor(url = DEFAULT_URL, options = {}) {
    if (typeof url !== 'string') throw new TypeError('url must be a string');
    this.url = url;
    this.timeout = checkTimeout(options.timeout ?? DEFAULT_TIMEOUT_MS);
    const max = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!Number.isInteger(max) || max <= 0) throw new RangeError('maxMessageSize must be a positive integer');
    this._transport = new Transport(url, max);
    unclosed.register(this, this._transport, this);
  }

  /** True once close() was called. */
  get closed() {
    return this._transport.closed;
  }

  /** Closes the connection; calls in flight reject with CANCELLED. */
  close() {
    unclosed.unregister(this);
    return this._transport.close();
  }

  async [Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')]() {
    await this.close();
  }

  async put(key, value, options = {}) {
    const request = { key: bytesArg('key', key), value: bytesArg('value', value), sync: syncArg(options.sync) };
    return (await this._call('Put', request, options.timeout)).sequence;
  }

  async get(key, options = {}) {
    const response = await this._call('Get', { key: bytesArg('key', key) }, options.timeout);
    return response.found ? response.value : null;
  }

  async delete(key, options = {}) {
    const request = { key: bytesArg('key', key), sync: syncArg(options.sync) };
    return (await this._call('Delete', request, options.timeout)).sequence;
  }

  async flush(options = {}) {
    return (await this._call('Flush', {}, options.timeout)).tables;
  }

  async compact(options = {}) {
    return this._call('Compact', {}, options.timeout);
  }

  async stats(options = {}) {
    return this._call('Stats', {}, options.timeout);
  }

  /**
   * Pairs of a key range in ascending key order, as an async iterator that
   * fetches a page at a time: `for await (const { key, value } of kv.scan({ prefix: 'user:' }))`.
   */
  async *scan(options = {}) {
    const { limit, pageSize = DEFAULT_SCAN_PAGE } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw new RangeError('limit must be a non-negative integer');
    }
    if (!(Number.isInteger(pageSize) && pageSize >= 1)) throw new RangeError('pageSize must be a positive integer');
    let left = limit;
    let start = options.start;
    while (left === undefined || left > 0) {
      const want = left === undefined ? pageSize : Math.min(pageSize, left);
      const page = await this.scanPage({ ...options, start, limit: want });
      for (const pair of page.pairs) yield pair;
      if (left !== undefined) left -= page.pairs.length;
      if (page.resumeKey === null) return;
      if (page.pairs.length === 0 && start !== undefined && Buffer.compare(page.resumeKey, bytesArg('start', start)) === 0) {
        throw new LsmkvError(StatusCode.INTERNAL, 'the server answered a Scan page that does not advance');
      }
      start = page.resumeKey;
    }
  }

  /** One Scan call: a page of pairs, and the key to resume from (null at the end). */
  async scanPage(options = {}) {
    const request = {
      start: optionalBytes('start', options.start),
      end: optionalBytes('end', options.end),
      prefix: optionalBytes('prefix', options.prefix),
      limit: options.limit ?? DEFAULT_SCAN_PAGE,
      keysOnly: Boolean(options.keysOnly),
    };
    const r = await this._call('Scan', request, options.timeout);
    return {
      pairs: r.pairs.map((p) => ({ key: p.key, value: p.value })),
      resumeKey: r.resumeKey.length > 0 ? r.resumeKey : null,
    };
  }

  /** Applies puts and deletes atomically; resolves to the last sequence number. */
  async batch(ops, options = {}) {
    if (!Array.isArray(ops)) throw new TypeError('ops must be an array');
    const list = ops.map((op, i) => {
      if (op && op.type === 'put') {
        return { type: OP_PUT, key: bytesArg(`ops[${i}].key`, op.key), value: bytesArg(`ops[${i}].value`, op.value) };
      }
      if (op && op.type === 'delete') return { type: OP_DELETE, key: bytesArg(`ops[${i}].key`, op.key) };
      throw new TypeError(`ops[${i}] must be { type: 'put', key, value } or { type: 'delete', key }`);
    });
    return (await this._call('Batch', { ops: list, sync: syncArg(options.sync) }, options.timeout)).sequence;
  }

  /** Reads many keys at one point in time: values (or null) in the keys' order. */
  async multiGet(keys, options = {}) {
    if (!Array.isArray(keys)) throw new TypeError('keys must be an array');
    const request = { keys: keys.map((k, i) => bytesArg(`keys[${i}]`, k)) };
    const r = await this._call('MultiGet', request, options.timeout);
    return r.results.map((g) => (g.found ? g.value : null));
  }

  /**
   * One RPC: wraps the request in an RpcRequest, exchanges it before the
   * deadline, checks the status and decodes the method's response.
   */
  async _call(name, fields, timeout) {
    const ms = timeout === undefined ? this.timeout : checkTimeout(timeout);
    const deadline = performance.now() + ms;
    const timeoutMs = Math.max(1, Math.min(Math.ceil(ms), 0xffffffff));
    const method = proto.methods[name];
    const payload = method.requestType.encode(method.requestType.fromObject(fields)).finish();
    const envelope = proto.RpcRequest.encode({ method: method.path, payload, timeoutMs }).finish();
    const answer = await this._transport.call(envelope, deadline, timeoutMs);
    let reply;
    try {
      reply = proto.RpcResponse.decode(answer);
    } catch (e) {
      throw new LsmkvError(StatusCode.INTERNAL, `the answer is not an RpcResponse: ${e.message}`);
    }
    const code = reply.status ? reply.status.code : StatusCode.OK;
    if (code !== StatusCode.OK) {
      const details = reply.status.message || statusName(code).toLowerCase().replace(/_/g, ' ');
      throw new LsmkvError(code, details);
    }
    try {
      return method.responseType.toObject(method.responseType.decode(reply.payload), TO_OBJECT);
    } catch (e) {
      throw new LsmkvError(StatusCode.INTERNAL, `the answer is not a ${method.responseType.name}: ${e.message}`);
    }
  }
}

module.exports = {
  Client,
  LsmkvError,
  StatusCode,
  Sync,
  statusName,
  DEFAULT_URL,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_SCAN_PAGE,
};
