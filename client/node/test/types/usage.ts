// Compiled (not run) by CTest client.node.types: the declarations in
// src/index.d.ts must describe the API as a TypeScript user writes it.
import { Client, LsmkvError, StatusCode, Sync, statusName } from 'lsmkv';
import type { CompactionResult, Stats, TableInfo } from 'lsmkv';

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
