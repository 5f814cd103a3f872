/**
 * Exit codes of `numa-avatar` (README, "Exit codes").
 *   0  success (`task`: the task is done)
 *   1  unexpected error (a bug: the message says what happened)
 *   2  `task`: the task failed (the reason is in its logs)
 *   3  `task`: the task is blocked (the agent asked a question, in its logs)
 *  64  usage error (unknown command or option, bad argument)
 *  69  the backend (or another service the command needs) is unreachable or refused us, or no
 *      sandbox can run here (`numa-avatar run`, SANDBOX_UNAVAILABLE)
 *  78  configuration error (the message names the key)
 * 130  interrupted twice (Ctrl-C during a graceful stop)
 */
export const EXIT = {
  ok: 0,
  error: 1,
  failed: 2,
  blocked: 3,
  usage: 64,
  unavailable: 69,
  config: 78,
  interrupted: 130,
} as const;
