/**
 * Git failures as AvatarErrors: GIT_AUTH (401/403, credentials refused or missing), GIT_NOT_FOUND
 * (repository or branch missing), GIT_FAILED otherwise. Every detail is redacted first.
 */
import { AvatarError } from '../../../core/errors.ts';
import type { ErrorCode } from '../../../core/errors.ts';
import { Redactor } from '../../../core/redact.ts';
import type { GitAuth } from './types.ts';

const AUTH_PATTERNS =
  /Authentication failed|could not read (Username|Password)|terminal prompts disabled|returned error: 40[13]|HTTP (Error: )?40[13]|\b40[13] (Unauthorized|Forbidden)|Invalid username or password|UserCanceledError/i;
const NOT_FOUND_PATTERNS =
  /repository '[^']*' not found|Repository not found|not found in upstream|couldn't find remote ref|returned error: 404|HTTP (Error: )?404|does not appear to be a git repository|Could not find/i;

export function classifyGitFailure(detail: string): ErrorCode {
  if (AUTH_PATTERNS.test(detail)) return 'GIT_AUTH';
  if (NOT_FOUND_PATTERNS.test(detail)) return 'GIT_NOT_FOUND';
  return 'GIT_FAILED';
}

export function redactorFor(auth: GitAuth | undefined): Redactor {
  return new Redactor([auth?.password]);
}

/** The last lines of a tool's output, enough to say what went wrong. */
export function tail(text: string, maxLines = 8, maxChars = 1500): string {
  const lines = text
    .split(/[\r\n]+/)
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
  const out = lines.slice(-maxLines).join('\n');
  return out.length > maxChars ? out.slice(-maxChars) : out;
}

export function gitError(
  what: string,
  detail: string,
  redactor: Redactor,
  opts: { code?: ErrorCode; cause?: unknown } = {},
): AvatarError {
  const clean = redactor.redact(detail);
  const code = opts.code ?? classifyGitFailure(clean);
  const hint =
    code === 'GIT_AUTH'
      ? ' (the remote refused the credentials, or none were configured for it)'
      : code === 'GIT_NOT_FOUND'
        ? ' (repository or branch not found)'
        : '';
  // The cause is not attached when it could carry a secret in its own message.
  const cause = opts.cause instanceof Error ? new Error(redactor.redact(opts.cause.message)) : undefined;
  return new AvatarError(code, `${redactor.redact(what)} failed${hint}: ${clean || 'no details'}`, { cause });
}
