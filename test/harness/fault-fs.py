#!/usr/bin/python3
"""fault-fs: a FUSE pass-through of BACKING at MOUNTPOINT that fails chosen calls.

Usage: fault-fs.py BACKING MOUNTPOINT CONTROL

CONTROL is a JSON file, re-read whenever it is replaced (a new inode) or its modification time
changes:
  {"rules": [{"op": "fsync", "errno": "EIO", "match": "\\.pack$", "times": 1}]}
`op` is one of write, fsync (fsync and fdatasync), create, rename, fsyncdir; `match` is a
regular expression searched in the path inside the mount ("/00000001.pack"); `times`, if
given, fails only that many matching calls (then they pass through again). Every injected
fault is counted per op in CONTROL.counts (JSON, replaced atomically). Runs in the foreground
until unmounted. Used by test/harness/fault-fs.ts; needs python3-fusepy (Debian) and /dev/fuse.
"""

import errno
import json
import os
import re
import sys
import threading

from fusepy import FUSE, FuseOSError, Operations


class FaultFs(Operations):
    def __init__(self, backing, control):
        self.backing = backing
        self.control = control
        self.mutex = threading.Lock()  # not `lock`: that name is a FUSE operation
        self.version = None  # (st_ino, st_mtime_ns) of the control file the rules came from
        self.held = None  # that file, kept open so its inode cannot be reused by the next one
        self.rules = []
        self.counts = {}

    def _full(self, path):
        return os.path.join(self.backing, path.lstrip('/'))

    def _reload(self):
        # Not the modification time alone: a fail() and a heal() within one timestamp tick leave
        # it unchanged. fault-fs.ts replaces the file by rename, so each version has its own
        # inode; holding the current one open keeps the kernel from handing its inode to a later
        # version, so an unchanged (inode, mtime) really is the same file.
        try:
            st = os.stat(self.control)
            version = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            version = None
        if version == self.version:
            return
        try:
            held = open(self.control)
        except FileNotFoundError:
            held = None
        rules = []
        version = None
        if held is not None:
            # The name may by now point at a newer file than the stat saw: key on the one read.
            st = os.fstat(held.fileno())
            version = (st.st_ino, st.st_mtime_ns)
            for r in json.load(held).get('rules', []):
                rules.append({'op': r['op'], 'errno': getattr(errno, r['errno']),
                              'match': re.compile(r.get('match', '')), 'left': r.get('times')})
        if self.held is not None:
            self.held.close()
        self.held = held
        self.version = version
        self.rules = rules

    def _fault(self, op, path):
        """Raises the rule's errno when a rule matches this call, and counts it."""
        with self.mutex:
            self._reload()
            for rule in self.rules:
                if rule['op'] == op and rule['left'] != 0 and rule['match'].search(path):
                    if rule['left'] is not None:
                        rule['left'] -= 1
                    self.counts[op] = self.counts.get(op, 0) + 1
                    tmp = self.control + '.counts.tmp'
                    with open(tmp, 'w') as f:
                        json.dump(self.counts, f)
                    os.replace(tmp, self.control + '.counts')
                    raise FuseOSError(rule['errno'])

    # Metadata and directories: plain pass-through.

    def getattr(self, path, fh=None):
        st = os.fstat(fh) if fh is not None else os.lstat(self._full(path))
        keys = ('st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime', 'st_nlink', 'st_size', 'st_uid')
        return {k: getattr(st, k) for k in keys}

    def access(self, path, amode):
        if not os.access(self._full(path), amode):
            raise FuseOSError(errno.EACCES)

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._full(path))

    def readlink(self, path):
        return os.readlink(self._full(path))

    def mkdir(self, path, mode):
        os.mkdir(self._full(path), mode)

    def rmdir(self, path):
        os.rmdir(self._full(path))

    def unlink(self, path):
        os.unlink(self._full(path))

    def symlink(self, target, source):
        os.symlink(source, self._full(target))

    def link(self, target, source):
        os.link(self._full(source), self._full(target))

    def rename(self, old, new):
        self._fault('rename', new)
        os.rename(self._full(old), self._full(new))

    def chmod(self, path, mode):
        os.chmod(self._full(path), mode, follow_symlinks=False)

    def chown(self, path, uid, gid):
        os.chown(self._full(path), uid, gid, follow_symlinks=False)

    def utimens(self, path, times=None):
        os.utime(self._full(path), times, follow_symlinks=False)

    def truncate(self, path, length, fh=None):
        if fh is not None:
            os.ftruncate(fh, length)
        else:
            os.truncate(self._full(path), length)

    def statfs(self, path):
        st = os.statvfs(self._full(path))
        keys = ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree', 'f_files',
                'f_flag', 'f_frsize', 'f_namemax')
        return {k: getattr(st, k) for k in keys}

    def opendir(self, path):
        return os.open(self._full(path), os.O_RDONLY | os.O_DIRECTORY)

    def releasedir(self, path, fh):
        os.close(fh)

    def fsyncdir(self, path, datasync, fh):
        self._fault('fsyncdir', path)
        os.fsync(fh)

    # Files: the calls faults are injected into.

    def create(self, path, mode, fi=None):
        self._fault('create', path)
        return os.open(self._full(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)

    def open(self, path, flags):
        return os.open(self._full(path), flags)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._fault('write', path)
        return os.pwrite(fh, data, offset)

    def fsync(self, path, datasync, fh):
        self._fault('fsync', path)
        if datasync:
            os.fdatasync(fh)
        else:
            os.fsync(fh)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        os.close(fh)


if __name__ == '__main__':
    backing, mountpoint, control = sys.argv[1:4]
    # Not allow_other: the agents under test run as the user who mounts (root).
    FUSE(FaultFs(os.path.realpath(backing), control), mountpoint, foreground=True, nothreads=False)
