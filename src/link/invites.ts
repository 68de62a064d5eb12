import { type Clock, type EventSink, HindsightError, isValidName } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';
import { fingerprintOf, issueNodeCertificate, loadCaKey, type NodeIdentity } from './identity.ts';
import { encodeJoinToken, hashSecret, newJoinSecret, secretMatches } from './join-token.ts';
import type { Members } from './members.ts';
import type { JoinAnswer, JoinRequest } from './peer-server.ts';

/** DEFAULT_INVITE_TTL_MS is how long a join token stays valid. */
export const DEFAULT_INVITE_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Invites issues one-time join tokens (the `invites` table; this class is its only user) and answers join requests on the node that holds the
 * cluster CA key. Only the hash of each secret is stored; a token works once, until it expires.
 */
export class Invites {
  readonly #deps: InvitesDeps;

  constructor(deps: InvitesDeps) {
    this.#deps = deps;
  }

  /** create returns a new join token for this node's peer address. */
  async create(ttlMs = DEFAULT_INVITE_TTL_MS): Promise<{ token: string; expiresAt: number }> {
    await loadCaKey(this.#deps.stateDir); // fails early, with a hint, on a node without the CA key
    const secret = newJoinSecret();
    const now = this.#deps.clock.now();
    const expiresAt = now + ttlMs;
    this.#deps.catalog
      .prepare('INSERT INTO invites (secret_hash, created_at, expires_at) VALUES (?, ?, ?)')
      .run(hashSecret(secret), now, expiresAt);
    const token = encodeJoinToken({
      address: this.#deps.listen,
      caFingerprint: fingerprintOf(this.#deps.identity.caCertPem),
      secret,
      inviter: this.#deps.identity.name,
      expiresAt,
    });
    return { token, expiresAt };
  }

  /** answer checks a join request and, if the token is good and unused, issues the certificate. */
  async answer(req: JoinRequest): Promise<JoinAnswer> {
    const { catalog, clock, members } = this.#deps;
    if (
      typeof req?.secret !== 'string' ||
      typeof req.publicKeyPem !== 'string' ||
      typeof req.listen !== 'string'
    ) {
      throw new HindsightError('E_JOIN_REFUSED', 'malformed join request');
    }
    if (!isValidName(req.name))
      throw new HindsightError('E_JOIN_REFUSED', `"${req.name}" is not a valid node name`);
    if (req.name === this.#deps.identity.name || members.addressOf(req.name) !== undefined) {
      throw new HindsightError('E_JOIN_NAME_TAKEN', `a node named ${req.name} is already in the cluster`, {
        hint: 'choose another --name',
      });
    }
    const now = clock.now();
    const rows = catalog.prepare('SELECT secret_hash, expires_at, used_by FROM invites').all() as {
      secret_hash: string;
      expires_at: number;
      used_by: string | null;
    }[];
    const invite = rows.find((r) => secretMatches(req.secret, r.secret_hash));
    if (!invite)
      throw new HindsightError('E_JOIN_REFUSED', 'unknown join token', {
        hint: "ask for a new one with 'hindsight invite'",
      });
    if (invite.used_by)
      throw new HindsightError('E_JOIN_REFUSED', `this token was used already (by ${invite.used_by})`, {
        hint: "ask for a new one with 'hindsight invite'",
      });
    if (invite.expires_at < now)
      throw new HindsightError('E_JOIN_REFUSED', 'this token has expired', {
        hint: "ask for a new one with 'hindsight invite'",
      });
    // The token is claimed before anything is awaited: two joins racing with one token cannot
    // both pass. If issuing then fails, the claim is released so the token can be used again.
    const claimed = catalog
      .prepare('UPDATE invites SET used_by = ? WHERE secret_hash = ? AND used_by IS NULL')
      .run(req.name, invite.secret_hash);
    if (Number(claimed.changes) !== 1) {
      throw new HindsightError('E_JOIN_REFUSED', 'this token was used already', {
        hint: "ask for a new one with 'hindsight invite'",
      });
    }
    let certPem: string;
    try {
      const caKeyPem = await loadCaKey(this.#deps.stateDir);
      certPem = await issueNodeCertificate(
        { caCertPem: this.#deps.identity.caCertPem, caKeyPem },
        req.name,
        req.publicKeyPem,
      );
    } catch (err) {
      catalog.prepare('UPDATE invites SET used_by = NULL WHERE secret_hash = ?').run(invite.secret_hash);
      throw err;
    }
    members.upsert({ name: req.name, address: req.listen, updatedAt: now });
    this.#deps.events.emit({
      level: 'info',
      type: 'link.joined',
      peer: req.name,
      msg: 'a node joined the cluster',
      data: { address: req.listen },
    });
    // The inviter itself is in the list: the new node must be able to dial it too.
    const self = { name: this.#deps.identity.name, address: this.#deps.listen, updatedAt: now };
    return { certPem, caCertPem: this.#deps.identity.caCertPem, members: [...members.list(), self] };
  }
}

/** InvitesDeps is what Invites is built from. */
export interface InvitesDeps {
  catalog: Catalog;
  clock: Clock;
  identity: NodeIdentity;
  stateDir: string;
  members: Members;
  events: EventSink;
  /** This node's advertised peer address, as other nodes dial it. */
  listen: string;
}
