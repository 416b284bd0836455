#!/usr/bin/env node
'use strict';
/*
 * Round-trip throughput of the Node client: `node bench.js`.
 *
 * One Client keeps K calls outstanding (each starts the next when it
 * settles) for a fixed time: Put (or Get) of random keys, like
 * tools/loadgen/lsmkv-loadgen does with K C threads. It prints the same kind
 * of line, so the two can be compared on one server:
 *
 *   node bench.js --url tcp://127.0.0.1:7420 --concurrency 16 --op put
 *   build/tools/loadgen/lsmkv-loadgen --url tcp://127.0.0.1:7420 --threads 16 --op put
 */
const { Client } = require('./src');

function parse(argv) {
  const o = { url: 'tcp://127.0.0.1:7420', concurrency: 1, seconds: 5, op: 'put', valueSize: 100, keys: 10000 };
  const names = { '--url': 'url', '--concurrency': 'concurrency', '--threads': 'concurrency', '--seconds': 'seconds', '--op': 'op', '--value-size': 'valueSize', '--keys': 'keys' };
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]];
    if (!name || argv[i + 1] === undefined) {
      console.error('usage: node bench.js [--url URL] [--concurrency K] [--seconds S] [--op put|get] [--value-size B] [--keys N]');
      process.exit(2);
    }
    o[name] = name === 'url' || name === 'op' ? argv[i + 1] : Number(argv[i + 1]);
  }
  return o;
}

async function main() {
  const o = parse(process.argv.slice(2));
  const kv = new Client(o.url, { timeout: 10000 });
  const value = Buffer.alloc(o.valueSize, 'v');
  const key = (k) => Buffer.from(`key${String(k).padStart(10, '0')}`);
  if (o.op === 'get') for (let k = 0; k < Math.min(o.keys, 1000); k++) await kv.put(key(k), value);

  const latencies = [];
  let errors = 0;
  let stop = false;
  async function worker() {
    while (!stop) {
      const k = key(Math.floor(Math.random() * o.keys));
      const t0 = performance.now();
      try {
        if (o.op === 'put') await kv.put(k, value);
        else await kv.get(k);
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }
  const start = performance.now();
  const workers = Array.from({ length: o.concurrency }, worker);
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  stop = true;
  await Promise.all(workers);
  const elapsed = (performance.now() - start) / 1000;
  await kv.close();

  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  const pct = (q) => (n ? latencies[Math.floor((n - 1) * q)] * 1000 : 0).toFixed(0);
  console.log(
    `node ${o.op} concurrency=${o.concurrency} value=${o.valueSize}: ${(n / elapsed).toFixed(0)} req/s, ` +
      `p50 ${pct(0.5)} us, p99 ${pct(0.99)} us, p99.9 ${pct(0.999)} us, errors ${errors}`,
  );
  process.exitCode = n === 0 ? 1 : 0;
}

main();
