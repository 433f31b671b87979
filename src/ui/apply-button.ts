/**
 * The status page's optional "Apply this plan" button (`serve --ui-apply-header NAME`). Off by default:
 * the page is read-only. shipshape does no sign-in of its own: it sits behind a reverse proxy that
 * authenticates people (OIDC through oauth2-proxy, Pomerium, Apache mod_auth_openidc, nginx
 * auth_request…) and passes the signed-in user in a header. The header is believed only on requests
 * whose TCP peer is one of the trusted proxy addresses (default: loopback, where a proxy on the same
 * host connects from), because anyone who reaches serve directly could set it themselves.
 *
 * A press applies exactly the pending plan the person saw: the form carries the plan's id, and a token
 * bound to the user and that id (HMAC with a key that lives only in this process), so another site
 * cannot make a signed-in browser post the form (CSRF), and a plan that changed since the page was
 * loaded is refused rather than applied unseen. Apply then runs the plan as a saved plan: only its
 * actions, each refused if what it touches changed since.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Plan } from '../plan/types';

export interface UiApplyOptions {
  /** The header the proxy sets to the signed-in user, e.g. X-Forwarded-User or X-Auth-Request-Email. */
  userHeader: string;
  /** TCP peers whose user header is believed: the proxy's addresses (default 127.0.0.1 and ::1). */
  trustedProxies?: string[];
  /** Queues the apply of exactly this plan on behalf of `user`. */
  apply(plan: Plan, user: string): Promise<void>;
}

const LOOPBACK = ['127.0.0.1', '::1', '::ffff:127.0.0.1'];
/** What a user name from a header may look like: a login or an e-mail address, nothing that could inject. */
const USER = /^[\w.@+-]{1,128}$/;

/** The signed-in user, when the request came through a trusted proxy that named one. */
export function signedInUser(req: IncomingMessage, o: UiApplyOptions): string | undefined {
  const peer = req.socket.remoteAddress ?? '';
  if (!(o.trustedProxies?.length ? o.trustedProxies : LOOPBACK).includes(peer)) return undefined;
  const v = req.headers[o.userHeader.toLowerCase()];
  const user = (Array.isArray(v) ? v[0] : v)?.trim();
  return user && USER.test(user) ? user : undefined;
}

/** A plan's identity: what it was made from and what it saw (the same plan made twice has one id). */
export function planId(plan: Plan): string {
  return createHash('sha256')
    .update(`${plan.desiredDigest}\n${plan.observedDigest}\n${plan.createdAt}`)
    .digest('hex')
    .slice(0, 32);
}

export class ApplyTokens {
  private readonly key = randomBytes(32);

  token(user: string, id: string): string {
    return createHmac('sha256', this.key).update(`${user}\n${id}`).digest('base64url');
  }

  valid(user: string, id: string, token: string): boolean {
    const want = Buffer.from(this.token(user, id));
    const got = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

/**
 * A browser sends Sec-Fetch-Site (and Origin) on a form post: one from another site is refused even
 * with a valid token. Clients that send neither (curl through the proxy) rely on the token alone.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site && site !== 'same-origin') return false;
  const origin = req.headers.origin;
  if (!origin || origin === 'null') return !origin;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** Reads an application/x-www-form-urlencoded body of at most `limit` bytes. */
export function readForm(req: IncomingMessage, limit = 4096): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('form too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/** The changes a press would apply: the plan's actions that are not no-ops and not blocked. */
export function applicable(plan: Plan): number {
  return plan.actions.filter((a) => a.action !== 'noop' && !a.blocked).length;
}
