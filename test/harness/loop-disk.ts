import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * LoopDisk is an ext4 file system in an image file, loop-mounted, that can lose power: `cut`
 * copies the image as the disk holds it at that instant — what was fsynced is there, what sat
 * only in the page cache is not — then checks the copy with e2fsck (replaying the journal, as
 * a boot would) and mounts it in place of the original. Write-back of dirty pages is held back
 * while the disk exists (`holdWriteBack`), so unsynced data really is missing at the cut rather
 * than flushed by the kernel's periodic write-back a moment before.
 *
 * The processes writing to the disk must be stopped (SIGSTOP) before `cut` and killed after it:
 * nothing may reach the image while it is copied.
 */
export class LoopDisk {
  readonly mountPoint: string;
  readonly #image: string;
  #cuts = 0;

  private constructor(image: string, mountPoint: string) {
    this.#image = image;
    this.mountPoint = mountPoint;
  }

  /** create makes an image of `mib` MiB beside `mountPoint`, formats it and mounts it there. */
  static async create(mountPoint: string, mib: number): Promise<LoopDisk> {
    const image = `${mountPoint}.img`;
    await run('truncate', ['-s', `${mib}M`, image]);
    await run('mkfs.ext4', ['-q', '-F', image]);
    mkdirSync(mountPoint, { recursive: true });
    const disk = new LoopDisk(image, mountPoint);
    await disk.#mount();
    return disk;
  }

  async #mount(): Promise<void> {
    // commit=600: the journal is committed by fsync, not every 5 s, so an unsynced rename or
    // create is as likely to be lost as the hardware allows.
    await run('mount', ['-o', 'loop,commit=600', this.#image, this.mountPoint]);
  }

  /** sync flushes everything on the disk, for files a test put there itself without fsync. */
  async sync(): Promise<void> {
    await run('sync', ['-f', this.mountPoint]);
  }

  /**
   * cut loses power: the image is copied as it stands, the original is unmounted, and the copy
   * is checked and mounted in its place. Returns what e2fsck said.
   */
  async cut(): Promise<string> {
    const copy = `${this.#image}.cut${++this.#cuts}`;
    copyFileSync(this.#image, copy);
    await run('umount', ['-l', this.mountPoint]);
    rmSync(this.#image);
    const fsck = await run('e2fsck', ['-f', '-y', copy]).catch((err: { code?: number; stdout?: string }) => {
      // 1: errors corrected; 2: corrected, reboot advised. Both leave a usable file system.
      if (err.code === 1 || err.code === 2) return { stdout: err.stdout ?? '' };
      throw err;
    });
    await run('mv', [copy, this.#image]);
    await this.#mount();
    return fsck.stdout;
  }

  /** destroy unmounts (lazily, if a process still holds it) and removes the image. */
  async destroy(): Promise<void> {
    await run('umount', ['-l', this.mountPoint]).catch(() => {});
    rmSync(this.#image, { force: true });
  }
}

const WRITEBACK = '/proc/sys/vm/dirty_writeback_centisecs';
const EXPIRE = '/proc/sys/vm/dirty_expire_centisecs';

/**
 * holdWriteBack stops the kernel's periodic write-back of dirty pages (machine-wide) and
 * returns the function that restores it. Pages are then written only when a program syncs them
 * or memory runs short, which is the harshest power cut a file system allows.
 */
export function holdWriteBack(): () => void {
  const saved = [readFileSync(WRITEBACK, 'utf8'), readFileSync(EXPIRE, 'utf8')];
  const restore = () => {
    writeFileSync(WRITEBACK, saved[0]);
    writeFileSync(EXPIRE, saved[1]);
    process.off('exit', restore);
  };
  // Also when the test process ends early (a time limit, an uncaught error): the setting is
  // the whole machine's.
  process.on('exit', restore);
  writeFileSync(WRITEBACK, '0');
  writeFileSync(EXPIRE, '360000');
  return restore;
}

/** loopDiskMissing says what a power-cut test lacks on this machine, if anything. */
export async function loopDiskMissing(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'root (loop mounts)';
  for (const tool of ['mkfs.ext4', 'e2fsck', 'mount', 'umount', 'truncate', 'sync']) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `${tool} (e2fsprogs, mount)`;
    }
  }
  if (!existsSync('/dev/loop-control')) return 'loop devices (/dev/loop-control)';
  return undefined;
}
