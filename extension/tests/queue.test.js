import { describe, it, expect } from 'vitest';
import { Queue, MAX_BATCH } from '../src/queue.js';
import { MemoryStorage } from './helpers/storage.js';

const ev = (i) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, type: 'search', ts: '2026-11-25T10:00:00.000Z', origin: 'https://s.example', path: '/s', query: `q${i}` });

describe('queue', () => {
  it('keeps order, dedupes ids and hands out at most 100 per batch', async () => {
    const q = new Queue(new MemoryStorage());
    for (let i = 0; i < 250; i++) await q.add(ev(i));
    expect(await q.add(ev(3))).toBe(false);
    expect(await q.size()).toBe(250);
    const batch = await q.ready(Date.now(), 1000);
    expect(batch).toHaveLength(MAX_BATCH);
    expect(batch[0].id).toBe(ev(0).id);
  });
  it('holds engagement events until released, then merges dwell and scroll', async () => {
    const q = new Queue(new MemoryStorage());
    await q.add({ ...ev(1), type: 'product_view' }, { holdUntil: 10_000 });
    expect(await q.ready(5_000)).toEqual([]);
    await q.update(ev(1).id, { dwell_ms: 4200, scroll: 0.75 }, { final: true });
    expect(await q.ready(5_000)).toEqual([{ ...ev(1), type: 'product_view', dwell_ms: 4200, scroll: 0.75 }]);
  });
  it('held events become ready when the hold expires', async () => {
    const q = new Queue(new MemoryStorage());
    await q.add(ev(1), { holdUntil: 10_000 });
    expect(await q.ready(10_001)).toHaveLength(1);
  });
  it('survives a restart: a new Queue over the same storage sees everything', async () => {
    const storage = new MemoryStorage();
    const q1 = new Queue(storage);
    await q1.add(ev(1));
    await q1.add(ev(2));
    await q1.remove([ev(1).id]);
    const q2 = new Queue(storage);
    expect((await q2.all()).map((i) => i.event.id)).toEqual([ev(2).id]);
  });
  it('serialises concurrent writers (no lost update)', async () => {
    const q = new Queue(new MemoryStorage());
    await Promise.all(Array.from({ length: 50 }, (_, i) => q.add(ev(i))));
    expect(await q.size()).toBe(50);
  });
  it('is bounded', async () => {
    const q = new Queue(new MemoryStorage(), { maxItems: 3 });
    for (let i = 0; i < 5; i++) await q.add(ev(i));
    expect((await q.all()).map((i) => i.event.query)).toEqual(['q2', 'q3', 'q4']);
  });
});
