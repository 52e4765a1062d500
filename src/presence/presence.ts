import { randomBytes } from 'node:crypto';
import type { ChannelRules, ResolvedChannelSettings } from '../config/channel-rules.js';
import type { PreparedFrame } from '../net/socket.js';
import { encodeOccupancy, encodePresenceEvents } from '../protocol/presence-frames.js';
import type { Publication } from '../stream/publication.js';
import type { Clock } from '../util/clock.js';
import { MemberTable, type Member } from './member-table.js';
import { presenceFrame } from './presence-frame.js';
import type { RedisPresence, ReplicaSink } from './redis-presence.js';

/** Who receives a channel's presence frames: one subscription made with `presence` or `occupancy`. */
export interface PresenceWatcher {
  /** A frame shared by every watcher of the channel, framed once for the transport. */
  deliverPresence(frame: Publication): void;
}

/** `presence`: joins, leaves and occupancy; `occupancy`: the count only. */
export type WatchKind = 'presence' | 'occupancy';

/** The node-wide presence settings (config `presence.*`, under the same names). */
export interface PresenceSettings {
  readonly pageSize: number;
  readonly maxEventsPerFrame: number;
}

export interface PresenceOptions {
  readonly settings: PresenceSettings;
  readonly rules: ChannelRules;
  readonly clock: Clock;
  /** Frames a payload once for the transport; shared by every watcher. */
  readonly prepare: (payload: Buffer) => PreparedFrame;
  /** Period of the node's one flush timer: the shortest positive `presenceIntervalMs` of the rules. */
  readonly tickMs: number;
  /** Members of other nodes (Redis broker); undefined on one node. */
  readonly replication?: RedisPresence | undefined;
  /** How long a channel nobody here is in stays followed after a request about it (Redis). */
  readonly lingerMs?: number;
}

export type PageOutcome =
  | { readonly ok: true; readonly total: number; readonly members: readonly Member[]; readonly cursor: string | undefined }
  | { readonly ok: false; readonly code: 'cursor_expired' };

/** One channel with presence on this node: its members, its watchers and its flush state. */
export class PresenceChannel {
  readonly table = new MemberTable();
  readonly watchers = new Map<PresenceWatcher, WatchKind>();
  eventWatchers = 0;
  /** The count last sent in an occupancy frame. */
  reported = 0;
  lastFlushAt = Number.NEGATIVE_INFINITY;
  /** Connections of this node in the table (the rest are other nodes', on Redis). */
  localConns = 0;
  /** Until when a request keeps the channel followed though nobody here is in it. */
  keepUntil = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly settings: ResolvedChannelSettings,
    /** Names this table in cursors: a cursor of another table (node, or an earlier life) is refused. */
    readonly tableId: string,
  ) {}

  idle(now: number): boolean {
    return this.localConns === 0 && this.watchers.size === 0 && this.table.changed === 0 && now >= this.keepUntil;
  }
}

/**
 * The node's presence: one member table per channel with presence, batched and coalesced
 * join/leave frames and occupancy frames, on one timer for the whole node (docs/presence.md). A
 * channel costs nothing until someone subscribes to it; a flush touches only channels with changes.
 */
export class Presence implements ReplicaSink {
  private readonly channels = new Map<string, PresenceChannel>();
  /** Channels with changes not flushed yet. */
  private readonly dirty = new Set<PresenceChannel>();
  /** Channels followed only because of a recent request (Redis). */
  private readonly lingering = new Set<PresenceChannel>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tablePrefix = randomBytes(3).toString('base64url');
  private tables = 0;
  /** Frames built and watcher deliveries (metrics, benchmarks). */
  framesBuilt = 0;
  deliveries = 0;

  constructor(private readonly options: PresenceOptions) {
    options.replication?.start(this);
  }

  /**
   * Ready to answer a request about the channel: on Redis, a channel nobody here is in is followed
   * for `lingerMs` and answered once its members were read; undefined when it can be answered now.
   */
  prepare(name: string): Promise<void> | undefined {
    const replication = this.options.replication;
    if (replication === undefined) return undefined;
    const channel = this.channelOf(name, this.settingsFor(name));
    channel.keepUntil = this.options.clock() + (this.options.lingerMs ?? 0);
    this.dropIfIdle(channel);
    return replication.loaded(name);
  }

  /** Connections of `id` on another node (Redis replication). */
  remote(name: string, id: string, delta: number, info: string | undefined): void {
    const channel = this.channels.get(name);
    if (channel !== undefined && channel.table.change(id, delta, info)) this.changed(channel);
  }

  settingsFor(name: string): ResolvedChannelSettings {
    return this.options.rules.settingsFor(name);
  }

  get(name: string): PresenceChannel | undefined {
    return this.channels.get(name);
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** Members of the channel now (0 when nobody is in it): O(1). */
  total(name: string): number {
    return this.channels.get(name)?.table.size ?? 0;
  }

  /**
   * Whether `id` may become a member: it is one already, or the channel is below `maxMembers`.
   * Checked before the subscription is made, then `join` counts it.
   */
  admits(name: string, settings: ResolvedChannelSettings, id: string): boolean {
    const table = this.channels.get(name)?.table;
    if (table === undefined || settings.maxMembers === 0) return true;
    return table.size < settings.maxMembers || table.get(id) !== undefined;
  }

  /** One more connection of `id` in the channel; `info` (JSON text) is kept if this makes it a member. */
  join(name: string, settings: ResolvedChannelSettings, id: string, info: string | undefined): void {
    const channel = this.channelOf(name, settings);
    channel.localConns++;
    this.replicate(channel, id, 1, info);
    if (channel.table.change(id, 1, info)) this.changed(channel);
  }

  /** One connection of `id` fewer. */
  leave(name: string, id: string): void {
    const channel = this.channels.get(name);
    if (channel === undefined) return;
    channel.localConns--;
    this.replicate(channel, id, -1, undefined);
    if (channel.table.change(id, -1)) this.changed(channel);
    else this.dropIfIdle(channel);
  }

  watch(name: string, settings: ResolvedChannelSettings, watcher: PresenceWatcher, kind: WatchKind): void {
    const channel = this.channelOf(name, settings);
    if (channel.watchers.has(watcher)) return;
    channel.watchers.set(watcher, kind);
    if (kind === 'presence') channel.eventWatchers++;
  }

  unwatch(name: string, watcher: PresenceWatcher): void {
    const channel = this.channels.get(name);
    const kind = channel?.watchers.get(watcher);
    if (channel === undefined || kind === undefined) return;
    channel.watchers.delete(watcher);
    if (kind === 'presence') channel.eventWatchers--;
    this.dropIfIdle(channel);
  }

  /** A page of members after `cursor` (undefined: the first page), at most `limit` (capped at `pageSize`). */
  page(name: string, cursor: string | undefined, limit: number | undefined): PageOutcome {
    const channel = this.channels.get(name);
    let after = 0;
    if (cursor !== undefined) {
      const dot = cursor.lastIndexOf('.');
      after = Number(cursor.slice(dot + 1));
      if (channel === undefined || cursor.slice(0, dot) !== channel.tableId || !Number.isSafeInteger(after)) return { ok: false, code: 'cursor_expired' };
    }
    if (channel === undefined) return { ok: true, total: 0, members: [], cursor: undefined };
    const page = channel.table.page(after, Math.min(limit ?? this.options.settings.pageSize, this.options.settings.pageSize));
    return { ok: true, total: channel.table.size, members: page.members, cursor: page.next === undefined ? undefined : `${channel.tableId}.${page.next}` };
  }

  /** Flushes every channel whose interval has passed (the node's one timer). */
  tick(): void {
    const now = this.options.clock();
    // Half a tick of slack: a timer that fires a little early must not push a flush a whole tick later.
    const due = now + this.options.tickMs / 2;
    for (const channel of this.dirty) if (due - channel.lastFlushAt >= channel.settings.presenceIntervalMs) this.flush(channel, now);
    const replication = this.options.replication;
    replication?.publish();
    for (const channel of this.lingering) this.dropIfIdle(channel);
    if (this.dirty.size === 0 && this.lingering.size === 0 && replication?.pending !== true) this.stopTimer();
  }

  /** Stops the timer; on Redis, this node's members leave the other nodes' tables at once. */
  async close(): Promise<void> {
    this.stopTimer();
    await this.options.replication?.close();
  }

  private channelOf(name: string, settings: ResolvedChannelSettings): PresenceChannel {
    let channel = this.channels.get(name);
    if (channel === undefined) {
      channel = new PresenceChannel(name, settings, `${this.tablePrefix}${(++this.tables).toString(36)}`);
      this.channels.set(name, channel);
      this.options.replication?.interest(name, true);
    }
    return channel;
  }

  /** A local change goes to the other nodes with the next tick (at once for a channel without batching). */
  private replicate(channel: PresenceChannel, id: string, delta: number, info: string | undefined): void {
    const replication = this.options.replication;
    if (replication === undefined) return;
    replication.local(channel.name, id, delta, info);
    if (channel.settings.presenceIntervalMs === 0) replication.publish([channel.name]);
    else this.startTimer();
  }

  private changed(channel: PresenceChannel): void {
    if (channel.settings.presenceIntervalMs === 0) {
      this.flush(channel, this.options.clock());
      return;
    }
    this.dirty.add(channel);
    this.startTimer();
  }

  private startTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    this.timer.unref();
  }

  /** Sends the channel's coalesced changes (one frame) and its count if it changed (one frame). */
  private flush(channel: PresenceChannel, now: number): void {
    channel.lastFlushAt = now;
    const { joins, leaves } = channel.table.takeChanges(this.options.settings.maxEventsPerFrame);
    if (channel.table.changed === 0) this.dirty.delete(channel);
    if (channel.eventWatchers > 0 && joins.length + leaves.length > 0) {
      this.send(channel, presenceFrame('events', channel.name, encodePresenceEvents(channel.name, joins, leaves), now), true);
    }
    const total = channel.table.size;
    if (total !== channel.reported) {
      channel.reported = total;
      if (channel.watchers.size > 0) this.send(channel, presenceFrame('occupancy', channel.name, encodeOccupancy(channel.name, total), now), false);
    }
    this.dropIfIdle(channel);
  }

  private send(channel: PresenceChannel, frame: Publication, eventsOnly: boolean): void {
    this.framesBuilt++;
    frame.prepared = this.options.prepare(frame.encoded);
    for (const [watcher, kind] of channel.watchers) {
      if (eventsOnly && kind !== 'presence') continue;
      this.deliveries++;
      watcher.deliverPresence(frame);
    }
  }

  private dropIfIdle(channel: PresenceChannel): void {
    const now = this.options.clock();
    if (this.dirty.has(channel) || this.channels.get(channel.name) !== channel) return;
    if (!channel.idle(now)) {
      // Kept for a request only: the tick drops it once its time is up.
      if (channel.localConns === 0 && channel.watchers.size === 0 && now < channel.keepUntil) {
        this.lingering.add(channel);
        this.startTimer();
      }
      return;
    }
    this.lingering.delete(channel);
    this.channels.delete(channel.name);
    this.options.replication?.interest(channel.name, false);
  }

  private stopTimer(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
