import type { SessionRecord } from '../../lambda/core/session';
import { SessionCache, type SessionSubjectReader } from '../../lambda/core/session-cache';
import { FrozenClock } from '../support/fixtures';

/** A reader that answers what `present` says and counts its reads: the cache's own logic, in memory. */
function reader(present: () => boolean) {
  let reads = 0;
  const port: SessionSubjectReader = {
    read: async (sid) => {
      reads += 1;
      return {
        session: present() ? ({ sid, sub: 'u' } as unknown as SessionRecord) : undefined,
        subject: undefined,
      };
    },
  };
  return { port, reads: () => reads };
}

describe('SessionCache absentUntil', () => {
  test('an absence read before absentUntil lasts until then; the next lookup reads again', async () => {
    const clock = new FrozenClock();
    const source = reader(() => false);
    const cache = new SessionCache({ reader: source.port, ttlMs: 10_000, clock: clock.now });
    const until = clock.now() + 1500;
    await cache.get('s', 'u', { absentUntil: until });
    clock.advance(1.5);
    expect(cache.peek('s', 'u')).toMatchObject({ session: undefined, cacheHit: true });
    clock.nowMs += 1;
    expect(cache.peek('s', 'u')).toBeUndefined();
    await cache.get('s', 'u', { absentUntil: until });
    expect(source.reads()).toBe(2);
  });

  test('an absence read after absentUntil, or a session found, lasts the whole TTL', async () => {
    const clock = new FrozenClock();
    let present = false;
    const source = reader(() => present);
    const cache = new SessionCache({ reader: source.port, ttlMs: 10_000, clock: clock.now });
    await cache.get('gone', 'u', { absentUntil: clock.now() - 1 });
    present = true;
    await cache.get('here', 'u', { absentUntil: clock.now() + 1000 });
    clock.advance(9.9);
    expect(cache.peek('gone', 'u')).toMatchObject({ session: undefined, cacheHit: true });
    expect(cache.peek('here', 'u')).toMatchObject({ session: { sid: 'here' }, cacheHit: true });
    expect(source.reads()).toBe(2);
  });
});
