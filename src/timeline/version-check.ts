import {
  CHANGE_KINDS,
  type Change,
  checkRelativePath,
  HASH_BYTES,
  HindsightError,
  isValidName,
} from '../core/index.ts';

/** MAX_TARGET_BYTES bounds a symlink target, as Linux bounds a path (PATH_MAX). */
export const MAX_TARGET_BYTES = 4096;

/** MAX_MODE is the largest permission value a version may carry (mode & 0o7777). */
const MAX_MODE = 0o7777;

/**
 * checkChange validates one change received from a peer before it may become a version, and
 * throws E_VERSION_INVALID (or E_PATH_INVALID from checkRelativePath) on the first defect.
 * Everything a later stage trusts is checked here: the apply loop joins the path beneath a
 * root and hands the numbers to the kernel, so a bad value must never reach the catalog.
 */
export function checkChange(change: Change): void {
  if (change === null || typeof change !== 'object') refuse(change, 'not an object');
  if (!isValidName(change.volume)) refuse(change, 'bad volume name');
  if (!(CHANGE_KINDS as readonly unknown[]).includes(change.kind))
    refuse(change, `unknown kind ${String(change.kind)}`);
  checkRelativePath(change.path);
  for (const field of ['epoch', 'seq', 'mode', 'mtimeMs', 'size', 'capturedAt'] as const) {
    const value = change[field];
    if (!Number.isSafeInteger(value) || value < 0) refuse(change, `${field} is not a non-negative integer`);
  }
  // seq 0 is the "nothing applied yet" position of a view; a version must come after it.
  if (change.seq < 1) refuse(change, 'seq must be at least 1');
  if (change.mode > MAX_MODE) refuse(change, 'mode has bits beyond 0o7777');
  if (change.kind === 'put') {
    if (!(change.chunks instanceof Uint8Array)) refuse(change, 'put without a chunk list');
    if (change.chunks.length % HASH_BYTES !== 0) refuse(change, 'chunk list is not a multiple of 32 bytes');
  } else if (change.chunks !== null) {
    refuse(change, `${change.kind} must not carry chunks`);
  }
  if (change.kind === 'symlink') {
    const target = change.target;
    if (typeof target !== 'string' || target.length === 0) refuse(change, 'symlink without a target');
    if (target.includes('\0')) refuse(change, 'symlink target contains NUL');
    if (Buffer.byteLength(target) > MAX_TARGET_BYTES) refuse(change, 'symlink target too long');
  } else if (change.target !== null) {
    refuse(change, `${change.kind} must not carry a target`);
  }
}

function refuse(change: Change, why: string): never {
  throw new HindsightError('E_VERSION_INVALID', `refused change seq ${String(change?.seq)}: ${why}`, {
    hint: 'the sender is misbehaving or hostile; nothing of this batch was recorded',
  });
}
