import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { HindsightError } from '../core/index.ts';

/** KEY_LINE_PREFIX starts the one line of a key file (docs/backup-format.md, "The key"). */
const KEY_LINE_PREFIX = 'hindsight-backup-key-v1 ';
const KEY_BYTES = 64;
const MAGIC = Buffer.from('HSB1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const AAD_PREFIX = Buffer.from('hindsight-backup-v1\0');
const FLAG_RAW = 0;
const FLAG_ZSTD = 1;
const FLAG_RAW_BYTE = Buffer.of(FLAG_RAW);
const FLAG_ZSTD_BYTE = Buffer.of(FLAG_ZSTD);
/** NONCE_POOL is how many nonces one call to the random source fills (a call per object costs more than the object). */
const NONCE_POOL = 1024;

/** sealedLength is the size of a sealed object whose stored body has `bodyBytes` bytes. */
export function sealedLength(bodyBytes: number): number {
  return MAGIC.length + NONCE_BYTES + 1 + bodyBytes + TAG_BYTES;
}

/** SealBody is a body already in its sealed plain form: zstd-compressed (`isZstd`) or raw. */
export interface SealBody {
  isZstd: boolean;
  data: Uint8Array;
}

/**
 * RepoKey is a repository's master key: `K_enc` encrypts every sealed object, `K_id` names
 * chunks and checks the key (docs/backup-format.md). It never leaves the node but through
 * `toKeyFile`, for the administrator to keep.
 */
export class RepoKey {
  readonly #enc: Buffer;
  readonly #id: Buffer;
  // KeyObjects made once: a Buffer key costs a KeyObject per cipher and per HMAC (most of an HMAC's time).
  readonly #encKey: KeyObject;
  readonly #idKey: KeyObject;
  readonly #nonces = Buffer.alloc(NONCE_POOL * NONCE_BYTES);
  #nonceAt = NONCE_POOL;

  private constructor(bytes: Buffer) {
    this.#enc = Buffer.from(bytes.subarray(0, 32));
    this.#id = Buffer.from(bytes.subarray(32, 64));
    this.#encKey = createSecretKey(this.#enc);
    this.#idKey = createSecretKey(this.#id);
  }

  /** generate makes a new random key. */
  static generate(): RepoKey {
    return new RepoKey(randomBytes(KEY_BYTES));
  }

  /** fromKeyFile reads the text of a key file; anything else is E_BACKUP_KEY_FILE with a hint. */
  static fromKeyFile(text: string): RepoKey {
    const line = text.trim();
    const bytes = line.startsWith(KEY_LINE_PREFIX)
      ? Buffer.from(line.slice(KEY_LINE_PREFIX.length), 'base64')
      : Buffer.alloc(0);
    if (bytes.length !== KEY_BYTES) {
      throw new HindsightError('E_BACKUP_KEY_FILE', 'this is not a Hindsight backup key file', {
        hint: `a key file is one line starting "${KEY_LINE_PREFIX.trim()}", as printed by hindsight backup key export`,
      });
    }
    return new RepoKey(bytes);
  }

  /** toKeyFile is the key as the one line of a key file. */
  toKeyFile(): string {
    return `${KEY_LINE_PREFIX}${Buffer.concat([this.#enc, this.#id]).toString('base64')}\n`;
  }

  /** chunkId names a chunk of the mirror's store (by its BLAKE3 address) in the repository. */
  chunkId(address: Buffer): string {
    return this.#mac('chunk', address).toString('hex');
  }

  /** keyCheck is the value the repository header keeps so that a wrong key is told apart. */
  keyCheck(repository: string): string {
    return this.#mac('key-check', Buffer.from(repository)).toString('hex');
  }

  /** isKeyOf says whether this key is the one whose `keyCheck` the header holds. */
  isKeyOf(repository: string, keyCheck: string): boolean {
    const expected = Buffer.from(this.keyCheck(repository), 'hex');
    const given = Buffer.from(keyCheck, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** seal compresses (when it helps) and encrypts `body` as the object called `name`. */
  seal(name: string, body: Uint8Array): Buffer {
    const packed = zstdCompressSync(body);
    return packed.length < body.length
      ? this.sealStored(name, { isZstd: true, data: packed })
      : this.sealStored(name, { isZstd: false, data: body });
  }

  /**
   * sealStored encrypts a body already in the form it is kept in (docs/backup-format.md, sealed
   * objects): a chunk the mirror's store holds zstd-compressed is sealed as it is, and one it
   * holds raw (it did not compress) is not tried again.
   */
  sealStored(name: string, body: SealBody): Buffer {
    const out = Buffer.allocUnsafe(sealedLength(body.data.length));
    this.sealInto(name, body, out, 0);
    return out;
  }

  /**
   * sealInto is `sealStored` written into `target` at `at` (a pack being filled), without a
   * buffer of its own; `target` must have `sealedLength(body.data.length)` bytes free there.
   * Returns the sealed length.
   */
  sealInto(name: string, body: SealBody, target: Buffer, at: number): number {
    const start = at;
    MAGIC.copy(target, at);
    at += MAGIC.length;
    const nonce = target.subarray(at, at + NONCE_BYTES);
    this.#nextNonce().copy(nonce);
    at += NONCE_BYTES;
    const cipher = createCipheriv('aes-256-gcm', this.#encKey, nonce);
    cipher.setAAD(aadOf(name));
    at += cipher.update(body.isZstd ? FLAG_ZSTD_BYTE : FLAG_RAW_BYTE).copy(target, at);
    at += cipher.update(body.data).copy(target, at);
    at += cipher.final().copy(target, at);
    at += cipher.getAuthTag().copy(target, at);
    return at - start;
  }

  /** open decrypts the object `name`; damage, another key or another name is E_BACKUP_CORRUPT. */
  open(name: string, sealed: Uint8Array): Buffer {
    const data = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const corrupt = (why: string) =>
      new HindsightError('E_BACKUP_CORRUPT', `backup object ${name} is damaged: ${why}`, {
        hint: 'run hindsight backup verify; restore from another tier if one has it',
      });
    if (data.length < MAGIC.length + NONCE_BYTES + TAG_BYTES + 1 || !data.subarray(0, 4).equals(MAGIC)) {
      throw corrupt('not a sealed object');
    }
    const nonce = data.subarray(4, 4 + NONCE_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.#encKey, nonce);
    decipher.setAAD(aadOf(name));
    decipher.setAuthTag(tag);
    let plain: Buffer;
    try {
      plain = decipher.update(data.subarray(4 + NONCE_BYTES, data.length - TAG_BYTES));
      const rest = decipher.final(); // empty for GCM, a stream mode; kept in case it is not
      if (rest.length > 0) plain = Buffer.concat([plain, rest]);
    } catch {
      throw corrupt('its authentication tag does not match (changed bytes, or another object or key)');
    }
    if (plain[0] === FLAG_RAW) return plain.subarray(1);
    if (plain[0] === FLAG_ZSTD) return zstdDecompressSync(plain.subarray(1));
    throw corrupt(`unknown flags ${plain[0]}`);
  }

  #mac(purpose: string, data: Buffer): Buffer {
    return createHmac('sha256', this.#idKey).update(`${purpose}\0`).update(data).digest();
  }

  /**
   * #nextNonce is 12 fresh random bytes, taken from a pool filled by one call to the system's
   * random source; each nonce is handed out once (a pool is never refilled while it has any left).
   */
  #nextNonce(): Buffer {
    if (this.#nonceAt === NONCE_POOL) {
      randomFillSync(this.#nonces);
      this.#nonceAt = 0;
    }
    const at = this.#nonceAt++ * NONCE_BYTES;
    return this.#nonces.subarray(at, at + NONCE_BYTES);
  }
}

function aadOf(name: string): Buffer {
  return Buffer.concat([AAD_PREFIX, Buffer.from(name)]);
}

/**
 * readKeyFile reads the key of the node's repositories from `path`; with `create`, a missing
 * file is made with a new key (mode 0600). A missing key is E_BACKUP_KEY_MISSING: without it no
 * backup can be read.
 */
export function readKeyFile(path: string, create = false): RepoKey {
  try {
    return RepoKey.fromKeyFile(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!create) {
      throw new HindsightError('E_BACKUP_KEY_MISSING', `the repository key ${path} is missing`, {
        hint: 'put back the key file printed by hindsight backup key export; without it no backup can be read',
      });
    }
    const key = RepoKey.generate();
    writeFileSync(path, key.toKeyFile(), { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return key;
  }
}
