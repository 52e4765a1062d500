import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemberTable } from '../../src/presence/member-table.js';

/** The world the table is checked against: live connections, each with its identity. */
interface World {
  readonly conns: Map<number, string>;
  nextConn: number;
  /** What a watcher rebuilt from every change it was given. */
  readonly watcher: Set<string>;
}

interface Real {
  readonly table: MemberTable;
}

/** The identities with at least one live connection, with their counts. */
function expected(world: World): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of world.conns.values()) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

function checkTable(world: World, table: MemberTable): void {
  const want = expected(world);
  expect(table.size).toBe(want.size);
  expect(new Map([...table.all()].map((m) => [m.id, m.conns]))).toEqual(want);
  expect(table.conns).toBe(world.conns.size);
}

/** Pages of 3 cover every member exactly once. */
function checkPages(table: MemberTable): void {
  const seen: string[] = [];
  let after = 0;
  for (;;) {
    const page = table.page(after, 3);
    seen.push(...page.members.map((m) => m.id));
    if (page.next === undefined) break;
    after = page.next;
  }
  expect(seen).toEqual([...table.all()].map((m) => m.id));
}

class Connect implements fc.Command<World, Real> {
  constructor(readonly identity: string) {}
  check = () => true;
  run(world: World, real: Real): void {
    world.conns.set(world.nextConn++, this.identity);
    real.table.change(this.identity, 1, `{"name":"${this.identity}"}`);
    checkTable(world, real.table);
  }
  toString = () => `connect(${this.identity})`;
}

class Disconnect implements fc.Command<World, Real> {
  constructor(readonly pick: number) {}
  check = (world: Readonly<World>) => world.conns.size > 0;
  run(world: World, real: Real): void {
    const keys = [...world.conns.keys()];
    const conn = keys[this.pick % keys.length]!;
    const identity = world.conns.get(conn)!;
    world.conns.delete(conn);
    real.table.change(identity, -1);
    checkTable(world, real.table);
  }
  toString = () => `disconnect(#${this.pick})`;
}

/** A flush: the watcher applies the joins and leaves it is given, at most `max` per take. */
class Flush implements fc.Command<World, Real> {
  constructor(readonly max: number) {}
  check = () => true;
  run(world: World, real: Real): void {
    const { joins, leaves } = real.table.takeChanges(this.max);
    expect(joins.length + leaves.length).toBeLessThanOrEqual(this.max);
    for (const m of joins) {
      expect(world.watcher.has(m.id), `join of ${m.id}, already a member for the watcher`).toBe(false);
      world.watcher.add(m.id);
    }
    for (const id of leaves) {
      expect(world.watcher.has(id), `leave of ${id}, not a member for the watcher`).toBe(true);
      world.watcher.delete(id);
    }
    if (real.table.changed === 0) expect(world.watcher).toEqual(new Set(expected(world).keys()));
    checkPages(real.table);
  }
  toString = () => `flush(${this.max})`;
}

describe('MemberTable', () => {
  it('keeps the members equal to the identities with a live connection, and a watcher of its changes in step (model)', () => {
    const identity = fc.constantFrom('alice', 'bob', 'carol', 'c1', 'c2', 'c3');
    const commands = [
      identity.map((id) => new Connect(id)),
      fc.nat(50).map((n) => new Disconnect(n)),
      fc.integer({ min: 1, max: 4 }).map((n) => new Flush(n)),
      fc.constant(new Flush(Number.MAX_SAFE_INTEGER)),
    ];
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 200 }), (cmds) => {
        const world: World = { conns: new Map(), nextConn: 0, watcher: new Set() };
        const real: Real = { table: new MemberTable() };
        fc.modelRun(() => ({ model: world, real }), cmds);
        new Flush(Number.MAX_SAFE_INTEGER).run(world, real);
        expect(world.watcher).toEqual(new Set(expected(world).keys()));
      }),
      { numRuns: 300, seed: 14 },
    );
  });

  it('coalesces a join and a leave within one interval into nothing, and reports a second connection as no change', () => {
    const table = new MemberTable();
    table.change('alice', 1);
    table.change('alice', -1);
    expect(table.takeChanges(10)).toEqual({ joins: [], leaves: [] });
    expect(table.change('bob', 1, '{"n":1}')).toBe(true);
    expect(table.change('bob', 1, '{"n":2}')).toBe(false);
    const { joins } = table.takeChanges(10);
    expect(joins.map((m) => [m.id, m.conns, m.info])).toEqual([['bob', 2, '{"n":1}']]);
    expect(table.change('bob', -1)).toBe(false);
    expect(table.takeChanges(10)).toEqual({ joins: [], leaves: [] });
    table.change('bob', -1);
    expect(table.takeChanges(10)).toEqual({ joins: [], leaves: ['bob'] });
  });

  it('pages a large table in join order, past members that left, without revisiting any', () => {
    const table = new MemberTable();
    for (let i = 0; i < 10_000; i++) table.change(`u${i}`, 1);
    for (let i = 0; i < 10_000; i += 3) table.change(`u${i}`, -1);
    expect(table.size).toBe(6666);
    const first = table.page(0, 100);
    expect(first.members[0]!.id).toBe('u1');
    expect(first.members).toHaveLength(100);
    // A member who joins during the listing comes after every earlier one.
    table.change('late', 1);
    let after = first.next!;
    let count = first.members.length;
    const ids = new Set(first.members.map((m) => m.id));
    while (after !== undefined) {
      const page = table.page(after, 100);
      for (const m of page.members) ids.add(m.id);
      count += page.members.length;
      if (page.next === undefined) break;
      after = page.next;
    }
    expect(count).toBe(6667);
    expect(ids.size).toBe(6667);
    expect(ids.has('late')).toBe(true);
  });
});
