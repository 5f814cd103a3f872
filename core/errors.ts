/**
 * Typed errors. Every error the product raises on purpose is an AvatarError with a stable `code`
 * (for programs and tests) and a message that names what was wrong (for people). The original
 * failure travels as `cause`.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'BACKEND_AUTH'
  | 'BACKEND_NOT_FOUND'
  | 'BACKEND_CLIENT_ERROR'
  | 'BACKEND_UNAVAILABLE'
  | 'BACKEND_BAD_RESPONSE'
  | 'BACKEND_TIMEOUT'
  | 'MESSAGE_MALFORMED'
  | 'QUEUE_IO'
  | 'GIT_AUTH'
  | 'GIT_NOT_FOUND'
  | 'GIT_FAILED'
  | 'GIT_PUSH_REJECTED'
  | 'PATH_ESCAPE'
  | 'TOOL_INVALID'
  | 'MODEL_FAILED'
  | 'AGENT_LIMIT'
  | 'TESTS_FAILED'
  | 'TESTS_NOT_RUN'
  | 'NO_CHANGES'
  | 'RUN_ABORTED'
  | 'RUN_TIMEOUT'
  | 'LAUNCH_CAPACITY'
  | 'LAUNCH_FAILED'
  | 'AWS_FAILED'
  | 'GATE_BLOCKED'
  | 'SANDBOX_UNAVAILABLE'
  | 'GIT_HOST_NOT_ALLOWED'
  | 'GIT_DIR_TAMPERED'
  | 'POLL_FAILED'
  | 'USAGE';

export class AvatarError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AvatarError';
    this.code = code;
  }
}

export function isAvatarError(err: unknown, code?: ErrorCode): err is AvatarError {
  return err instanceof AvatarError && (code === undefined || err.code === code);
}

/** A one-line description of any thrown value, for logs. Never includes a stack. */
export function describeError(err: unknown): string {
  if (err instanceof AvatarError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
