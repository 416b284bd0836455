/**
 * lsmkv — a promise-based client of lsmkv-server over nng's SP req/rep
 * protocol (spoken by the client itself on a socket), speaking
 * proto/lsmkv/v1 (rpc.proto's envelope, kv.proto's KV service).
 *
 * ```ts
 * import { Client, LsmkvError, StatusCode } from 'lsmkv';
 * const kv = new Client('tcp://127.0.0.1:7420', { timeout: 2000 });
 * await kv.put('k', Buffer.from([0, 1, 2]));
 * const value = await kv.get('k');   // Buffer, or null for a missing key
 * await kv.close();
 * ```
 */

/** Keys and values: bytes (Buffer, Uint8Array) or a string (sent as UTF-8). */
export type Bytes = Buffer | Uint8Array | string;

/** gRPC's status codes with gRPC's numbers (rpc.proto's `Code`). */
export declare const StatusCode: {
  readonly OK: 0;
  readonly CANCELLED: 1;
  readonly UNKNOWN: 2;
  readonly INVALID_ARGUMENT: 3;
  readonly DEADLINE_EXCEEDED: 4;
  readonly NOT_FOUND: 5;
  readonly ALREADY_EXISTS: 6;
  readonly PERMISSION_DENIED: 7;
  readonly RESOURCE_EXHAUSTED: 8;
  readonly FAILED_PRECONDITION: 9;
  readonly ABORTED: 10;
  readonly OUT_OF_RANGE: 11;
  readonly UNIMPLEMENTED: 12;
  readonly INTERNAL: 13;
  readonly UNAVAILABLE: 14;
  readonly DATA_LOSS: 15;
  readonly UNAUTHENTICATED: 16;
};
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];
export type StatusCodeName = keyof typeof StatusCode;

/** The name of a status code ("INVALID_ARGUMENT"); "UNKNOWN" for other numbers. */
export declare function statusName(code: number): StatusCodeName;

/**
 * The error every failed call rejects with.
 *
 * - `code`: the status number (`StatusCode.INVALID_ARGUMENT` is 3)
 * - `codeName`: its name ("INVALID_ARGUMENT")
 * - `details`: the server's message, or a local explanation of a transport
 *   failure:
 *   - UNAVAILABLE: not connected within the timeout (is the server running?),
 *     or the connection closed before the answer (the server stopped, or
 *     dropped a message over its size limit; the request may have been
 *     applied). The client reconnects by itself.
 *   - DEADLINE_EXCEEDED: sent, but no answer within the timeout (the request
 *     may have been applied), or the server saw the deadline pass first.
 *   - RESOURCE_EXHAUSTED: a request over the client's maxMessageSize (not sent).
 *   - CANCELLED: the client was closed.
 *   - INTERNAL: an answer that is not a valid RpcResponse.
 * - `message`: "INVALID_ARGUMENT (3): the key is empty"
 */
export declare class LsmkvError extends Error {
  readonly name: 'LsmkvError';
  readonly code: number;
  readonly codeName: StatusCodeName;
  readonly details: string;
  constructor(code: number, details: string);
}

/** Durability of one write, on top of the server's --sync (kv.proto's SyncMode). */
export declare const Sync: {
  /** The server's --sync setting. */
  readonly DEFAULT: 0;
  /** The server fsyncs its write-ahead log before answering. */
  readonly ALWAYS: 1;
  /** Answered once the server's OS has the bytes. */
  readonly NONE: 2;
};
export type Sync = (typeof Sync)[keyof typeof Sync];

export interface ClientOptions {
  /** Deadline of every call in milliseconds, from its start (default 5000). */
  timeout?: number;
  /**
   * The largest request sent and answer accepted, in bytes (default 32 MiB).
   * A larger answer closes the connection (UNAVAILABLE).
   */
  maxMessageSize?: number;
}

export interface CallOptions {
  /** This call's deadline in milliseconds (default: the client's). */
  timeout?: number;
}

export interface WriteOptions extends CallOptions {
  sync?: Sync;
}

/**
 * One SSTable (kv.proto's TableInfo). uint64 fields are numbers (exact up to
 * 2^53), like every counter here.
 */
export interface TableInfo {
  id: number;
  level: number;
  sizeBytes: number;
  /** Versions stored, tombstones included. */
  entries: number;
  tombstones: number;
  maxSequence: number;
  minKey: Buffer;
  maxKey: Buffer;
}

/** What a full compaction did (kv.proto's CompactResponse). */
export interface CompactionResult {
  /** 0: there was nothing to compact. */
  inputTables: number;
  inputBytes: number;
  outputBytes: number;
  /** Shadowed versions and tombstones removed. */
  droppedEntries: number;
  tables: TableInfo[];
}

/** One level of the store (kv.proto's LevelStats). */
export interface LevelStats {
  level: number;
  tables: number;
  bytes: number;
  /** 0: no size target (level 0, the last level). */
  targetBytes: number;
  compactions: number;
  bytesRead: number;
  bytesWritten: number;
  bytesMoved: number;
}

/** The server's counters: every field of kv.proto's StatsResponse. */
export interface Stats {
  memtableEntries: number;
  memtableBytes: number;
  /** Waiting for flush. */
  immutableMemtables: number;
  immutableBytes: number;
  sstables: number;
  sstableBytes: number;
  levels: LevelStats[];
  puts: number;
  gets: number;
  deletes: number;
  flushes: number;
  compactions: number;
  userBytesWritten: number;
  walBytesWritten: number;
  flushBytesWritten: number;
  compactionBytesRead: number;
  compactionBytesWritten: number;
  walSyncs: number;
  writeSlowdowns: number;
  writeStalls: number;
  stallMicros: number;
  pendingCompactionBytes: number;
  /** Checksum failures seen by reads. */
  corruptions: number;
  lastSequence: number;
  openTables: number;
  blockCacheCapacity: number;
  blockCacheUsage: number;
  blockCacheHits: number;
  blockCacheMisses: number;
  uptimeSeconds: number;
  serverVersion: string;
  /** RPCs answered, any status. */
  requests: number;
  /** RPCs answered with a status other than OK. */
  requestErrors: number;
  /** Scan pages answered OK. */
  scans: number;
  /** Batch calls applied (their operations count in puts and deletes too). */
  batches: number;
  /** MultiGet calls answered OK (their keys count in gets too). */
  multiGets: number;
}

/** One pair of a scan. */
export interface KeyValue {
  key: Buffer;
  /** Empty when the scan was keysOnly. */
  value: Buffer;
}

/**
 * A key range: [start, end) restricted to keys beginning with prefix; every
 * bound is optional.
 */
export interface ScanRange extends CallOptions {
  /** The first key (inclusive). */
  start?: Bytes;
  /** The end (exclusive). */
  end?: Bytes;
  prefix?: Bytes;
  /** Pairs carry keys only (values empty), so pages hold more. */
  keysOnly?: boolean;
}

export interface ScanOptions extends ScanRange {
  /** Stop after this many pairs (default: the whole range). */
  limit?: number;
  /** Pairs fetched per call (default 1000; the server caps at 10000). */
  pageSize?: number;
}

export interface ScanPageOptions extends ScanRange {
  /** The most pairs in this page: 1 or more (default 1000; the server caps at 10000). */
  limit?: number;
}

export interface ScanPage {
  pairs: KeyValue[];
  /** Pass as the next call's `start` (other options unchanged); null: the range is exhausted. */
  resumeKey: Buffer | null;
}

/** One operation of a batch. */
export type BatchOp = { type: 'put'; key: Bytes; value: Bytes } | { type: 'delete'; key: Bytes };

export declare const DEFAULT_URL: 'tcp://127.0.0.1:7420';
export declare const DEFAULT_TIMEOUT_MS: 5000;
export declare const DEFAULT_MAX_MESSAGE_SIZE: number;
export declare const DEFAULT_SCAN_PAGE: 1000;

/**
 * A client of one lsmkv-server.
 *
 * Creating one does not wait for the server: the first call connects (and
 * a call after a server restart connects again). Every call has a deadline
 * (`timeout` ms from its start) that travels to the server and is enforced
 * here too. A call is sent at most once (nothing is resent); one that
 * failed with DEADLINE_EXCEEDED or UNAVAILABLE may or may not have been
 * applied. Any number of calls may be outstanding at once; none blocks the
 * event loop. Every failure rejects with an LsmkvError; a missing key is not
 * a failure (`get` resolves to null).
 */
export declare class Client {
  /**
   * @param url `tcp://host:port` (also `tcp4://`, `tcp6://`, `tcp://[::1]:port`),
   *   `ipc:///path` or `abstract://name` (default tcp://127.0.0.1:7420)
   * @throws LsmkvError INVALID_ARGUMENT for any other URL, naming it
   */
  constructor(url?: string, options?: ClientOptions);
  readonly url: string;
  /** The default deadline of calls, in milliseconds. */
  readonly timeout: number;
  /** True once close() was called. */
  readonly closed: boolean;

  /**
   * Writes key → value; resolves to the store's last sequence number after it.
   * An empty or oversize key or an oversize value rejects with
   * INVALID_ARGUMENT and the server's message.
   */
  put(key: Bytes, value: Bytes, options?: WriteOptions): Promise<number>;
  /** Resolves to the value of key, or null if the key does not exist. */
  get(key: Bytes, options?: CallOptions): Promise<Buffer | null>;
  /** Deletes key (a missing key is fine); resolves to the last sequence number. */
  delete(key: Bytes, options?: WriteOptions): Promise<number>;
  /** Writes the memtable to an SSTable; resolves to the tables written (maybe none). */
  flush(options?: CallOptions): Promise<TableInfo[]>;
  /** Compacts every SSTable (a big store may need a longer timeout). */
  compact(options?: CallOptions): Promise<CompactionResult>;
  /** The server's counters and sizes. */
  stats(options?: CallOptions): Promise<Stats>;
  /**
   * The pairs of a range in ascending key order, fetched a page at a time as
   * the loop goes: `for await (const { key, value } of kv.scan({ prefix: 'user:' }))`.
   * Each page is read at its own point in time (a scan over several pages is
   * not one snapshot) and each page's call has its own deadline. start > end
   * rejects with INVALID_ARGUMENT.
   */
  scan(options?: ScanOptions): AsyncGenerator<KeyValue, void, undefined>;
  /** One Scan call; scan() pages for you. */
  scanPage(options?: ScanPageOptions): Promise<ScanPage>;
  /**
   * Applies puts and deletes atomically — all, or on any error none; later
   * operations on the same key win. Resolves to the last sequence number. A
   * bad operation rejects with INVALID_ARGUMENT naming its index ("op 3: ...").
   */
  batch(ops: BatchOp[], options?: WriteOptions): Promise<number>;
  /**
   * Reads many keys (at most 10000) at one point in time: the i-th result is
   * the value of keys[i], or null. Found values over the server's message
   * size reject with RESOURCE_EXHAUSTED.
   */
  multiGet(keys: Bytes[], options?: CallOptions): Promise<(Buffer | null)[]>;
  /**
   * Closes the connection. Calls in flight reject with CANCELLED; later calls
   * too. Resolves once the socket is closed; closing twice is harmless.
   */
  close(): Promise<void>;
  /** `await using kv = new Client(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}
