import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import type { UpgradeDecision, UpgradeRequest } from '../net/http.js';
import { HTTP_REFUSALS, type HttpRefusalName } from '../protocol/refusals.js';
import type { Clock } from '../util/clock.js';
import type { HookClient } from '../hooks/hook-client.js';
import type { ConnectAnswer } from '../hooks/messages.js';
import type { Admission } from './admission.js';
import { ANONYMOUS, type AdmittedClient, type Identity } from './identity.js';
import type { JwtVerifier } from './jwt-verifier.js';
import type { Permissions } from './permissions.js';
import { presentedToken } from './credentials.js';

/** What an accepted upgrade hands to the connection. */
/** What the upgrade decision needs of the configuration, under the config names. */
export interface UpgradeSettings {
  /** `auth.queryParam`: the query parameter that may carry the token ('' = not read). */
  readonly queryParam: string;
  /** `admission.retryAfterSec`: the Retry-After of a temporary admission refusal. */
  readonly retryAfterSec: number;
  /** `outbound.batchMaxBytes` > 0: `sluice.batch` is selected when offered. */
  readonly batching: boolean;
}

export function upgradeSettings(config: Config): UpgradeSettings {
  return { queryParam: config.auth.queryParam, retryAfterSec: config.admission.retryAfterSec, batching: config.outbound.batchMaxBytes > 0 };
}

export interface UpgradeGateDeps {
  readonly settings: UpgradeSettings;
  readonly admission: Admission;
  /** Undefined when auth is off. */
  readonly verifier: JwtVerifier | undefined;
  readonly permissions: Permissions;
  readonly stats: Stats;
  readonly log: Logger;
  readonly clock: Clock;
  readonly draining: () => boolean;
  /** The application's connect hook, if configured (docs/hooks.md). */
  readonly connectHook?: HookClient<ConnectAnswer> | undefined;
  /** True while the memory budget is above its soft mark: new connections are refused. */
  readonly underPressure: () => boolean;
}

/** Request headers the connect hook receives (the backend may authenticate by cookie). */
const HOOK_HEADERS = ['cookie', 'origin', 'user-agent'] as const;

/** Refusal log lines per second; beyond that they are counted and summarised (a flood must not flood the log). */
const LOG_LINES_PER_SECOND = 10;

/**
 * The upgrade decision: admission limits first (cheap, synchronous), then the token. Answers
 * synchronously unless a token has to be verified. An admission slot is held while the token is
 * verified and released when the decision is made; the connection then holds its own.
 */
export class UpgradeGate {
  private logWindow = 0;
  private logLines = 0;
  private suppressed = 0;
  private warnedProxy = false;

  constructor(private readonly deps: UpgradeGateDeps) {}

  decide(request: UpgradeRequest): UpgradeDecision | Promise<UpgradeDecision> {
    const { admission, verifier, settings, permissions } = this.deps;
    if (this.deps.draining()) return refuse('shutting_down', 1);
    const ip = admission.clientIp(request);
    if (this.deps.underPressure()) {
      this.deps.stats.upgradesRefused++;
      this.note(ip, HTTP_REFUSALS.memory_pressure.status, HTTP_REFUSALS.memory_pressure.reason);
      return refuse('memory_pressure', settings.retryAfterSec);
    }
    const refusal = admission.admit(request, ip);
    if (refusal !== undefined) {
      // The server-wide limit is counted apart: it is the capacity signal.
      if (refusal === 'at_capacity') this.deps.stats.connectionsRejected++;
      else this.deps.stats.upgradesRefused++;
      const { status, reason } = HTTP_REFUSALS[refusal];
      if (refusal === 'too_many_from_address') this.warnIfProxied(request, ip);
      this.note(ip, status, reason);
      return refuse(refusal, refusal === 'origin_not_allowed' ? undefined : settings.retryAfterSec);
    }
    const hook = this.deps.connectHook;
    const { token, protocol } = presentedToken(request, settings.queryParam, settings.batching);
    if (verifier === undefined) {
      if (hook !== undefined) return this.consult(hook, request, ip, ANONYMOUS, token, protocol);
      admission.release(ip);
      return accept(ip, ANONYMOUS, protocol);
    }
    if (token === undefined) {
      if (hook !== undefined) return this.consult(hook, request, ip, ANONYMOUS, undefined, protocol);
      admission.release(ip);
      if (permissions.allowsAnonymous) return accept(ip, ANONYMOUS, protocol);
      return this.unauthorized(ip, HTTP_REFUSALS.unauthorized.reason);
    }
    return verifier.verify(token).then((result) => {
      if (result.ok && hook !== undefined) return this.consult(hook, request, ip, result.identity, token, protocol);
      admission.release(ip);
      if (!result.ok) return this.unauthorized(ip, result.reason);
      if (this.deps.draining()) return refuse('shutting_down', 1);
      return accept(ip, result.identity, protocol);
    });
  }

  /**
   * Asks the connect hook (after admission and any token verification, holding the admission slot
   * meanwhile). The backend may accept with an identity, grants and info, or refuse with a 4xx
   * status; when it cannot answer, the hook's failOpen decides between the identity so far and 503.
   */
  private consult(hook: HookClient<ConnectAnswer>, request: UpgradeRequest, ip: string, identity: Identity, token: string | undefined, protocol: string | undefined): Promise<UpgradeDecision> {
    const headers: Record<string, string> = {};
    for (const name of HOOK_HEADERS) {
      const value = request.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    const body = JSON.stringify({ ip, token, sub: identity.sub, headers });
    return hook.call(body).then((verdict) => {
      this.deps.admission.release(ip);
      if (this.deps.draining()) return refuse('shutting_down', 1);
      if (!verdict.ok) {
        if (hook.failOpen) return accept(ip, identity, protocol);
        const { status, reason } = HTTP_REFUSALS.backend_unavailable;
        this.note(ip, status, `connect hook: ${verdict.why}`);
        return { accept: false, status, headers: { 'Retry-After': String(Math.ceil(verdict.retryMs / 1000)) }, body: `${reason}\n` };
      }
      const answer = verdict.answer;
      if (!answer.allow) {
        const status = answer.status ?? HTTP_REFUSALS.connect_refused.status;
        const reason = answer.reason ?? HTTP_REFUSALS.connect_refused.reason;
        this.note(ip, status, reason);
        return { accept: false, status, headers: {}, body: `${reason}\n` };
      }
      const admitted: Identity = {
        authenticated: true,
        sub: answer.sub ?? identity.sub,
        expiresAt: answer.expireInSec === undefined ? identity.expiresAt : this.deps.clock() + answer.expireInSec * 1000,
        grants: answer.grants ?? identity.grants,
        info: answer.info,
      };
      return accept(ip, admitted, protocol);
    });
  }

  /**
   * Once per process: a per-IP refusal of a request that came through a proxy nobody said to
   * trust means every client behind that proxy shares one address's limit.
   */
  private warnIfProxied(request: UpgradeRequest, ip: string): void {
    if (this.warnedProxy || !this.deps.admission.proxyNotTrusted(request)) return;
    this.warnedProxy = true;
    this.deps.log.warn(
      { ip },
      'per-IP connection limit reached for an address whose requests carry X-Forwarded-For/Forwarded while admission.trustProxy is off: every client behind that proxy counts as its address (set admission.trustProxy behind your own proxy, or raise admission.maxConnectionsPerIp)',
    );
  }

  private unauthorized(ip: string, reason: string): UpgradeDecision {
    this.deps.stats.authFailures++;
    const { status } = HTTP_REFUSALS.unauthorized;
    this.note(ip, status, reason);
    return { accept: false, status, headers: { 'WWW-Authenticate': 'Bearer' }, body: `${reason}\n` };
  }

  private note(ip: string, status: number, reason: string): void {
    const { log, clock } = this.deps;
    const second = Math.floor(clock() / 1000);
    if (second !== this.logWindow) {
      if (this.suppressed > 0) log.warn({ suppressed: this.suppressed }, 'upgrade refusals not logged individually (more than 10 per second)');
      this.logWindow = second;
      this.logLines = 0;
      this.suppressed = 0;
    }
    if (++this.logLines <= LOG_LINES_PER_SECOND) log.info({ ip, status, reason }, 'upgrade refused');
    else this.suppressed++;
  }
}

function accept(ip: string, identity: Identity, protocol: string | undefined): UpgradeDecision {
  const context: AdmittedClient = { ip, identity };
  return protocol === undefined ? { accept: true, context } : { accept: true, context, protocol };
}

function refuse(name: HttpRefusalName, retryAfterSec: number | undefined): UpgradeDecision {
  const { status, reason } = HTTP_REFUSALS[name];
  return { accept: false, status, headers: retryAfterSec === undefined ? {} : { 'Retry-After': String(retryAfterSec) }, body: `${reason}\n` };
}
