/**
 * Open files that tell, in two reads, whether a running container's init is still the process runc
 * started and whether its cgroup is frozen. Every GET of a container reads its state: by path that
 * is a check of the bundle, runc's state.json, /proc/<pid>/stat, the exec fifo and the freezer file
 * (about a dozen system calls); through files held open it is one pread of each.
 *
 * Nothing here is a cache of the answer: both files are read again on every call. What is kept is
 * only what cannot change while the same init lives: an open /proc/<pid>/stat refers to that one
 * process (reading it fails with ESRCH once the process is gone, even if its pid is reused), and a
 * started init never waits on an exec fifo again. When a read fails or the init is a zombie, the
 * probe is closed and the caller reads everything by path.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { frozenIn, type CgroupLayout } from '../cgroups.ts';

/** How many containers are probed through open files at once; past it the one opened first is closed. */
const MAX_PROBES = 256;

interface Probe {
  pid: number;
  startTicks: number;
  statFd: number;
  freezerFd: number;
  layout: CgroupLayout;
}

/** /proc/<pid>/stat is under 1 KB with a command name of at most 16 bytes; freezer files are a word. */
const buffer = Buffer.alloc(1024);

/** A small file's text from the start, through an open descriptor (pread at 0: procfs and cgroupfs generate it anew). */
function readFromStart(fd: number): string {
  const n = readSync(fd, buffer, 0, buffer.length, 0);
  return buffer.toString('latin1', 0, n);
}

/** The state letter and start time (clock ticks) of a /proc/<pid>/stat text. */
export function parseProcStat(stat: string): { state: string; startTicks: number; session: number } {
  // after the command name (which may hold spaces and parentheses): field 3 (state) is index 0, field 6 (session) index 3, field 22 (starttime) index 19
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 20);
  return { state: fields[0] ?? '', startTicks: Number(fields[19]), session: Number(fields[3]) };
}

/** The live init of each probed container, read through files kept open. */
export class InitProbes {
  private readonly probes = new Map<string, Probe>();

  constructor(private readonly max = MAX_PROBES) {}

  /**
   * 'running' or 'paused' when the container's init is still the process the probe was opened on
   * and not a zombie; undefined when there is no probe or the init is gone (the probe is closed).
   */
  status(id: string): 'running' | 'paused' | undefined {
    const probe = this.probes.get(id);
    if (!probe) return undefined;
    try {
      const { state } = parseProcStat(readFromStart(probe.statFd));
      if (state !== 'Z' && state !== 'X') return frozenIn(probe.layout, readFromStart(probe.freezerFd)) ? 'paused' : 'running';
    } catch {
      // ESRCH: the process is gone; ENODEV: the cgroup was removed
    }
    this.close(id);
    return undefined;
  }

  /** The pid of a probed container's init. */
  pid(id: string): number | undefined {
    return this.probes.get(id)?.pid;
  }

  /**
   * Opens a probe on a started init (`pid`, started at `startTicks` as runc recorded) and its
   * freezer file; none when the process is not that init any more or a file cannot be opened.
   */
  open(id: string, pid: number, startTicks: number, freezerFile: string, layout: CgroupLayout): void {
    const known = this.probes.get(id);
    if (known?.pid === pid && known.startTicks === startTicks) return;
    this.close(id);
    let statFd = -1;
    let freezerFd = -1;
    try {
      statFd = openSync(`/proc/${pid}/stat`, 'r');
      // read through the descriptor: it proves the open file is the init runc started, not a process that took its pid since
      const seen = parseProcStat(readFromStart(statFd));
      if (seen.startTicks !== startTicks || seen.state === 'Z' || seen.state === 'X') throw new Error('not the recorded init');
      freezerFd = openSync(freezerFile, 'r');
      readFromStart(freezerFd);
    } catch {
      if (statFd >= 0) closeSync(statFd);
      if (freezerFd >= 0) closeSync(freezerFd);
      return;
    }
    if (this.probes.size >= this.max) {
      const oldest = this.probes.keys().next().value;
      if (oldest !== undefined) this.close(oldest);
    }
    this.probes.set(id, { pid, startTicks, statFd, freezerFd, layout });
  }

  /** Closes a container's probe (it stopped, or is being removed). */
  close(id: string): void {
    const probe = this.probes.get(id);
    if (!probe) return;
    this.probes.delete(id);
    closeSync(probe.statFd);
    closeSync(probe.freezerFd);
  }

  /** Closes every probe. */
  closeAll(): void {
    for (const id of [...this.probes.keys()]) this.close(id);
  }

  /** How many probes are open. */
  get size(): number {
    return this.probes.size;
  }
}
