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
