import { describe, expect, it } from '@jest/globals';
import { SharedRead, SharedReads } from '../../shared/shared-read.ts';

/** A read whose end the test decides, numbered in the order it started. */
function controlled() {
  const started: { n: number; end: (v: string) => void; fail: (e: Error) => void }[] = [];
  const read = () => new Promise<string>((resolve, reject) => {
    const n = started.length + 1;
    started.push({ n, end: resolve, fail: reject });
  });
  return { started, read };
}
const turn = () => new Promise((r) => setImmediate(r));

describe('SharedRead', () => {
  it('gives callers who ask while a read runs the next read, one for all of them', async () => {
    const { started, read } = controlled();
    const shared = new SharedRead(read);
    const first = shared.get();
    const during = [shared.get(), shared.get(), shared.get()];
    expect(started).toHaveLength(1); // the next read waits for the running one
    started[0].end('read 1');
    await turn();
    expect(started).toHaveLength(2);
    const late = shared.get(); // asked while read 2 runs: gets read 3, not read 2
    started[1].end('read 2');
    await turn();
    started[2].end('read 3');
    expect(await first).toBe('read 1');
    expect(await Promise.all(during)).toEqual(['read 2', 'read 2', 'read 2']);
    expect(await late).toBe('read 3');
    expect(started).toHaveLength(3);
  });

  it('runs at most one read and keeps one waiting, however many ask', async () => {
    const { started, read } = controlled();
    const shared = new SharedRead(read);
    const answers = Array.from({ length: 1000 }, () => shared.get());
    expect(started).toHaveLength(1);
    for (let i = 0; i < 2; i++) {
      started[i].end(`read ${i + 1}`);
      await turn();
    }
    expect(new Set(await Promise.all(answers))).toEqual(new Set(['read 1', 'read 2']));
    expect(started).toHaveLength(2);
    const again = shared.get(); // nothing runs: a read of its own at once
    expect(started).toHaveLength(3);
    started[2].end('read 3');
    expect(await again).toBe('read 3');
  });

  it('fails only the callers who shared a failed read; the next is tried afresh', async () => {
    const { started, read } = controlled();
    const shared = new SharedRead(read);
    const first = shared.get();
    const second = shared.get();
    started[0].fail(new Error('Redis away'));
    await expect(first).rejects.toThrow('Redis away');
    await turn();
    started[1].end('back');
    expect(await second).toBe('back');
  });
});

describe('SharedReads', () => {
  it('shares reads per key and forgets a key once nothing runs or waits for it', async () => {
    const reads: string[] = [];
    const ends: (() => void)[] = [];
    const shared = new SharedReads((key: number) => new Promise<string>((resolve) => {
      reads.push(`k${key}`);
      ends.push(() => resolve(`k${key}#${reads.length}`));
    }));
    const a = [shared.get(1), shared.get(2)];
    expect(reads).toEqual(['k1', 'k2']);
    expect(shared.size).toBe(2);
    const waiting = [shared.get(1), shared.get(1)]; // while key 1's read runs: its next read
    ends.shift()!();
    ends.shift()!();
    await turn();
    expect(reads).toEqual(['k1', 'k2', 'k1']);
    ends.shift()!();
    expect(await Promise.all(a)).toEqual(['k1#2', 'k2#2']);
    expect(await Promise.all(waiting)).toEqual(['k1#3', 'k1#3']);
    await turn();
    expect(shared.size).toBe(0);
  });
});
