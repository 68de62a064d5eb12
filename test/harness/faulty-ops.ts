import { NODE_FILE_OPS, type TreeOps } from '../../src/sys/index.ts';

/** FaultRule fails calls named `call` whose path (or the path the descriptor was opened on) matches. */
export interface FaultRule {
  call: keyof TreeOps;
  /** Which paths it applies to; a descriptor call uses the path the descriptor was opened on. */
  path: (path: string) => boolean;
  /** The errno code of the error it throws, e.g. 'EIO' or 'ENOSPC'. */
  code: string;
  /** How many calls it fails before it is spent (default: every one). */
  times?: number;
}

/**
 * FaultyTreeOps is the real TreeOps (node:fs) with chosen calls failing, after Kopia's
 * FaultyStorage: everything else is done for real, on real files. A failed call does nothing.
 * `failed` lists what was refused, so a test can check its fault was reached.
 */
export class FaultyTreeOps implements TreeOps {
  readonly failed: string[] = [];
  readonly #rules: FaultRule[] = [];
  readonly #pathOf = new Map<number, string>();
  readonly #real: TreeOps = NODE_FILE_OPS;

  /** fail adds a rule; rules are checked in the order they were added. */
  fail(rule: FaultRule): this {
    this.#rules.push({ ...rule });
    return this;
  }

  /** heal removes every rule: the disk is fixed. */
  heal(): void {
    this.#rules.length = 0;
  }

  #check(call: keyof TreeOps, path: string | undefined): void {
    if (path === undefined) return;
    for (const rule of this.#rules) {
      if (rule.call !== call || !rule.path(path) || rule.times === 0) continue;
      if (rule.times !== undefined) rule.times--;
      this.failed.push(`${call} ${path}`);
      throw Object.assign(new Error(`${rule.code}: injected fault, ${call} '${path}'`), { code: rule.code });
    }
  }

  #fd(call: keyof TreeOps, fd: number): void {
    this.#check(call, this.#pathOf.get(fd));
  }

  openSync(path: string, flags: number, mode?: number): number {
    this.#check('openSync', path);
    const fd = this.#real.openSync(path, flags, mode);
    this.#pathOf.set(fd, path);
    return fd;
  }
  async open(path: string, flags: number, mode?: number): Promise<number> {
    this.#check('open', path);
    const fd = await this.#real.open(path, flags, mode);
    this.#pathOf.set(fd, path);
    return fd;
  }
  closeSync(fd: number): void {
    this.#pathOf.delete(fd);
    this.#real.closeSync(fd);
  }
  async close(fd: number): Promise<void> {
    this.#pathOf.delete(fd);
    await this.#real.close(fd);
  }
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.#fd('writeSync', fd);
    return this.#real.writeSync(fd, buffer, offset, length, position);
  }
  async write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number) {
    this.#fd('write', fd);
    return this.#real.write(fd, buffer, offset, length, position);
  }
  async writev(fd: number, buffers: Uint8Array[], position: number): Promise<number> {
    this.#fd('writev', fd);
    return this.#real.writev(fd, buffers, position);
  }
  async fsync(fd: number): Promise<void> {
    this.#fd('fsync', fd);
    await this.#real.fsync(fd);
  }
  async fdatasync(fd: number): Promise<void> {
    this.#fd('fdatasync', fd);
    await this.#real.fdatasync(fd);
  }
  async fchmod(fd: number, mode: number): Promise<void> {
    this.#fd('fchmod', fd);
    await this.#real.fchmod(fd, mode);
  }
  async futimes(fd: number, atimeS: number, mtimeS: number): Promise<void> {
    this.#fd('futimes', fd);
    await this.#real.futimes(fd, atimeS, mtimeS);
  }
  mkdirSync(path: string, options: { recursive: boolean; mode: number }): string | undefined {
    this.#check('mkdirSync', path);
    return this.#real.mkdirSync(path, options);
  }
  async mkdir(path: string, mode: number): Promise<void> {
    this.#check('mkdir', path);
    await this.#real.mkdir(path, mode);
  }
  async rename(from: string, to: string): Promise<void> {
    this.#check('rename', to);
    await this.#real.rename(from, to);
  }
  unlinkSync(path: string): void {
    this.#check('unlinkSync', path);
    this.#real.unlinkSync(path);
  }
  async unlink(path: string): Promise<void> {
    this.#check('unlink', path);
    await this.#real.unlink(path);
  }
  async chmod(path: string, mode: number): Promise<void> {
    this.#check('chmod', path);
    await this.#real.chmod(path, mode);
  }
  async utimes(path: string, atimeS: number, mtimeS: number): Promise<void> {
    this.#check('utimes', path);
    await this.#real.utimes(path, atimeS, mtimeS);
  }
  async symlink(target: string, path: string): Promise<void> {
    this.#check('symlink', path);
    await this.#real.symlink(target, path);
  }
  async lutimes(path: string, atimeS: number, mtimeS: number): Promise<void> {
    this.#check('lutimes', path);
    await this.#real.lutimes(path, atimeS, mtimeS);
  }
  async rmTree(path: string): Promise<void> {
    this.#check('rmTree', path);
    await this.#real.rmTree(path);
  }
}
