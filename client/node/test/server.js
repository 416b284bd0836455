'use strict';
/*
 * Starting the real lsmkv-server for the Node client's tests: the binary from
 * $LSMKV_SERVER (CTest passes the build's), on a free loopback port, with a
 * temp data directory; start() resolves once it accepts connections.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** True if `where` (net.connect options) accepts a connection. */
function canConnect(where) {
  return new Promise((resolve) => {
    const sock = net.connect(where);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Server {
  constructor(extraArgs = []) {
    const binary = process.env.LSMKV_SERVER;
    if (!binary) throw new Error('set LSMKV_SERVER to the lsmkv-server binary (CTest does)');
    this.binary = binary;
    this.extraArgs = extraArgs;
    const tmp = process.env.LSMKV_TEST_TMPDIR || os.tmpdir();
    fs.mkdirSync(tmp, { recursive: true });
    this.dataDir = fs.mkdtempSync(path.join(tmp, 'lsmkv-node-'));
    this.socketPath = `${this.dataDir}.sock`; // for startIpc()
    this.output = '';
    this.proc = null;
  }

  /** Listens on `port` (a free one if none); startIpc() on a Unix socket instead. */
  async start(port) {
    for (let attempt = 0; attempt < 5; attempt++) {
      this.port = port || (await freePort());
      this.url = `tcp://127.0.0.1:${this.port}`;
      if (await this._run(() => canConnect({ host: '127.0.0.1', port: this.port }))) return this;
      if (port) break;
    }
    throw new Error(`lsmkv-server did not start:\n${this.output}`);
  }

  /**
   * Listens on a Unix socket beside its data directory (an ipc:// URL). Ready
   * once the socket exists, not once a probe connects: a connection that
   * lsmkv-server's nng ipc listener sees closed at once can leave the server
   * answering no request over ipc again (seen with nng 1.5.2).
   */
  async startIpc() {
    this.url = `ipc://${this.socketPath}`;
    if (await this._run(() => Promise.resolve(fs.existsSync(this.socketPath)))) return this;
    throw new Error(`lsmkv-server did not start:\n${this.output}`);
  }

  /** Starts the server on this.url: true once ready() says so, false if it exited. */
  async _run(ready) {
    const proc = spawn(
      this.binary,
      ['--listen', this.url, '--data-dir', this.dataDir, '--log-level', 'warn', ...this.extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    proc.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? 128 + os.constants.signals[signal])));
    proc.stdout.on('data', (d) => (this.output += d));
    proc.stderr.on('data', (d) => (this.output += d));
    const deadline = Date.now() + 20000;
    let exited = false;
    proc.exited.then(() => (exited = true));
    while (Date.now() < deadline && !exited) {
      if (await ready()) return true;
      await sleep(20);
    }
    if (!exited) proc.kill('SIGKILL');
    await proc.exited;
    return false;
  }

  /** SIGTERM; resolves to the exit status. */
  async stop() {
    const proc = this.proc;
    if (!proc) return 0;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30000);
    const status = await proc.exited;
    clearTimeout(timer);
    this.proc = null;
    return status;
  }

  async close() {
    if (this.proc) {
      this.proc.kill('SIGKILL');
      await this.proc.exited;
      this.proc = null;
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.rmSync(this.socketPath, { force: true });
  }
}

module.exports = { Server, freePort };
