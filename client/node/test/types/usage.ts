// Compiled (not run) by CTest client.node.types: the declarations in
// src/index.d.ts must describe the API as a TypeScript user writes it.
import { Client, LsmkvError, StatusCode, Sync, statusName } from 'lsmkv';
import type { BatchOp, CompactionResult, KeyValue, ScanPage, Stats, TableInfo } from 'lsmkv';

async function main(): Promise<void> {
  const kv = new Client('tcp://127.0.0.1:7420', { timeout: 2000, maxMessageSize: 1 << 20 });
  const seq: number = await kv.put('k', Buffer.from([0, 1]), { sync: Sync.ALWAYS });
  await kv.put(new Uint8Array([1]), 'v', { timeout: 100 });
  const value: Buffer | null = await kv.get('k');
  if (value !== null) console.log(value.toString('hex'), seq);
  await kv.delete('k', { sync: Sync.NONE });
  const tables: TableInfo[] = await kv.flush();
  const minKey: Buffer | undefined = tables[0]?.minKey;
  const compaction: CompactionResult = await kv.compact({ timeout: 60000 });
  const stats: Stats = await kv.stats();
  const l0: number | undefined = stats.levels[0]?.targetBytes;
  console.log(minKey, compaction.droppedEntries, stats.serverVersion, l0);
  for await (const pair of kv.scan({ prefix: 'user:', limit: 10, pageSize: 5, keysOnly: true })) {
    const kvp: KeyValue = pair;
    console.log(kvp.key.toString(), kvp.value.length);
  }
  const page: ScanPage = await kv.scanPage({ start: Buffer.from('a'), end: 'b', limit: 2 });
  if (page.resumeKey !== null) await kv.scanPage({ start: page.resumeKey, end: 'b', limit: 2 });
  const ops: BatchOp[] = [{ type: 'put', key: 'a', value: '1' }, { type: 'delete', key: 'b' }];
  const bseq: number = await kv.batch(ops, { sync: Sync.ALWAYS });
  const values: (Buffer | null)[] = await kv.multiGet(['a', Buffer.from('b')]);
  console.log(bseq, values, stats.scans, stats.batches, stats.multiGets);
  // @ts-expect-error a delete carries no value
  await kv.batch([{ type: 'delete', key: 'b', value: 'x' }]);
  try {
    await kv.get('');
  } catch (e) {
    if (e instanceof LsmkvError && e.code === StatusCode.INVALID_ARGUMENT) {
      const name: string = e.codeName;
      console.log(name, e.details, statusName(e.code));
    }
  }
  await kv.close();
  {
    await using scoped = new Client();
    const closed: boolean = scoped.closed;
    console.log(closed);
  }
  // @ts-expect-error keys are bytes or strings
  await kv.get(42);
  // @ts-expect-error sync takes Sync's values
  await kv.put('k', 'v', { sync: 'always' });
}

void main;
