import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import type { UpgradeDecision, UpgradeRequest } from '../net/http.js';
import { HTTP_REFUSALS, type HttpRefusalName } from '../protocol/refusals.js';
import type { Clock } from '../util/clock.js';
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
}

export function upgradeSettings(config: Config): UpgradeSettings {
  return { queryParam: config.auth.queryParam, retryAfterSec: config.admission.retryAfterSec };
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
}

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

  constructor(private readonly deps: UpgradeGateDeps) {}

  decide(request: UpgradeRequest): UpgradeDecision | Promise<UpgradeDecision> {
    const { admission, verifier, settings, permissions } = this.deps;
    if (this.deps.draining()) return refuse('shutting_down', 1);
    const ip = admission.clientIp(request);
    const refusal = admission.admit(request, ip);
    if (refusal !== undefined) {
      // The server-wide limit is counted apart: it is the capacity signal.
      if (refusal === 'at_capacity') this.deps.stats.connectionsRejected++;
      else this.deps.stats.upgradesRefused++;
      const { status, reason } = HTTP_REFUSALS[refusal];
      this.note(ip, status, reason);
      return refuse(refusal, refusal === 'origin_not_allowed' ? undefined : settings.retryAfterSec);
    }
    if (verifier === undefined) {
      admission.release(ip);
      return accept(ip, ANONYMOUS, undefined);
    }
    const { token, protocol } = presentedToken(request, settings.queryParam);
    if (token === undefined) {
      admission.release(ip);
      if (permissions.allowsAnonymous) return accept(ip, ANONYMOUS, protocol);
      return this.unauthorized(ip, HTTP_REFUSALS.unauthorized.reason);
    }
    return verifier.verify(token).then((result) => {
      admission.release(ip);
      if (!result.ok) return this.unauthorized(ip, result.reason);
      if (this.deps.draining()) return refuse('shutting_down', 1);
      return accept(ip, result.identity, protocol);
    });
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
