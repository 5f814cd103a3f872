/** The rlimits every sandboxed command runs under (prlimit from util-linux sets them). */
export interface SandboxLimits {
  /** RLIMIT_FSIZE: the largest file a command may write. */
  fileBytes: number;
  /** RLIMIT_NPROC: processes (counted per uid). */
  processes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
  /** RLIMIT_DATA: heap and private mappings (RLIMIT_AS would break runtimes that reserve address space). */
  memoryBytes: number;
  /** The size of the namespaces sandbox's own /tmp (a tmpfs, so memory). */
  tmpBytes: number;
}

export function prlimitArgs(l: SandboxLimits, prlimit = '/usr/bin/prlimit'): string[] {
  return [
    prlimit,
    `--fsize=${l.fileBytes}`,
    `--nproc=${l.processes}`,
    `--nofile=${l.openFiles}`,
    `--data=${l.memoryBytes}`,
    '--',
  ];
}

/** 1073741824 → "1 GiB", 1536 → "1.5 KiB". */
export function bytesText(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** The limits as the task log's sandbox line gives them. */
export function describeLimits(l: SandboxLimits): string {
  return (
    `limits: files ≤ ${bytesText(l.fileBytes)}, ${l.processes} processes, ${l.openFiles} open files, ` +
    `${bytesText(l.memoryBytes)} of data per process`
  );
}
