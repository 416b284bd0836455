'use strict';
/*
 * The SP protocol ("scalability protocols") as nng's req0 and rep0 speak it
 * on a stream socket: the greeting, the message headers, and a reader that
 * cuts a byte stream into messages.
 *
 * After connecting, each side sends an 8-byte greeting and checks the other's:
 *
 *     00 'S' 'P' 00  protocol (2 bytes, big-endian)  00 00     req0 = 0x0030, rep0 = 0x0031
 *
 * Then every message is a header and a body. Over TCP the header is the
 * body's length, 8 bytes big-endian; over Unix sockets (nng's ipc:// and
 * abstract://) it is a type byte (1) and then that length. A request's body
 * is a 4-byte big-endian request ID with its top bit set, then the request;
 * the answer's body starts with the same ID (rep0 echoes it).
 */

const GREETING_SIZE = 8;
const PROTOCOL_REQ0 = 0x0030;
const PROTOCOL_REP0 = 0x0031;
const REQUEST_ID_SIZE = 4;
const IPC_MESSAGE_TYPE = 1;

/** The greeting of `protocol` (ours is req0's). */
function greeting(protocol = PROTOCOL_REQ0) {
  return Buffer.from([0, 0x53, 0x50, 0, protocol >> 8, protocol & 0xff, 0, 0]);
}

/** The protocol number of a well-formed greeting, or null if `bytes` is not one. */
function parseGreeting(bytes) {
  const wellFormed =
    bytes.length === GREETING_SIZE &&
    bytes[0] === 0 && bytes[1] === 0x53 && bytes[2] === 0x50 && bytes[3] === 0 &&
    bytes[6] === 0 && bytes[7] === 0;
  return wellFormed ? bytes.readUInt16BE(4) : null;
}

function headerSize(ipc) {
  return ipc ? 9 : 8;
}

/** Writes the header of a message whose body is `bodyLength` bytes at `out`'s start; returns its size. */
function writeHeader(ipc, bodyLength, out) {
  let at = 0;
  if (ipc) out[at++] = IPC_MESSAGE_TYPE;
  out.writeUInt32BE(Math.floor(bodyLength / 2 ** 32), at);
  out.writeUInt32BE(bodyLength % 2 ** 32, at + 4);
  return at + 8;
}

/**
 * The bytes that go before a request: its header and its request ID. The
 * request itself follows them on the stream, uncopied.
 */
function requestHead(ipc, id, requestLength) {
  const head = Buffer.allocUnsafe(headerSize(ipc) + REQUEST_ID_SIZE);
  const at = writeHeader(ipc, REQUEST_ID_SIZE + requestLength, head);
  head.writeUInt32BE(id, at);
  return head;
}

/** Thrown by MessageReader for a stream that cannot be read on; `message` says why. */
class FramingError extends Error {}

/**
 * Cuts the bytes of a stream, pushed in chunks as they arrive, into message
 * bodies of at least a request ID and at most `maxBody` bytes. A message may
 * span any number of chunks and a chunk hold any number of messages; the
 * part of a message read so far waits here for the rest.
 */
class MessageReader {
  constructor(ipc, maxBody) {
    this.ipc = ipc;
    this.maxBody = maxBody;
    this.header = Buffer.alloc(headerSize(ipc));
    this.headerGot = 0;
    this.body = null;
    this.bodyGot = 0;
  }

  /** Reads `chunk`, calling onMessage(body) for each message it completes; throws FramingError. */
  push(chunk, onMessage) {
    let at = 0;
    while (at < chunk.length) {
      at = this.body === null ? this._readHeader(chunk, at) : this._readBody(chunk, at);
      if (this.body !== null && this.bodyGot === this.body.length) {
        const body = this.body;
        this.body = null;
        this.headerGot = 0;
        onMessage(body);
      }
    }
  }

  _readHeader(chunk, at) {
    const n = chunk.copy(this.header, this.headerGot, at);
    this.headerGot += n;
    if (this.headerGot === this.header.length) this._startBody();
    return at + n;
  }

  _readBody(chunk, at) {
    const n = chunk.copy(this.body, this.bodyGot, at);
    this.bodyGot += n;
    return at + n;
  }

  _startBody() {
    if (this.ipc && this.header[0] !== IPC_MESSAGE_TYPE) {
      throw new FramingError('the server sent a malformed message');
    }
    const at = this.ipc ? 1 : 0;
    // Exact up to 2^53 bytes; anything larger is over the limit all the same.
    const length = this.header.readUInt32BE(at) * 2 ** 32 + this.header.readUInt32BE(at + 4);
    if (length < REQUEST_ID_SIZE) throw new FramingError('the server sent a malformed message');
    if (length - REQUEST_ID_SIZE > this.maxBody) {
      throw new FramingError(
        `an answer of ${length - REQUEST_ID_SIZE} bytes is over maxMessageSize (${this.maxBody} bytes)`,
      );
    }
    this.body = Buffer.allocUnsafe(length);
    this.bodyGot = 0;
  }
}

module.exports = {
  GREETING_SIZE,
  PROTOCOL_REQ0,
  PROTOCOL_REP0,
  REQUEST_ID_SIZE,
  greeting,
  parseGreeting,
  headerSize,
  writeHeader,
  requestHead,
  MessageReader,
  FramingError,
};
