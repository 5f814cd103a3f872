/**
 * Which shell commands run_command may run: the configuration's `commands.allow` and
 * `commands.deny` lists. A rule is a prefix of a simple command ("git push" matches
 * `git push origin main` but not `git pushy`), or a regular expression written `/…/flags`.
 *
 * A command line is split into its simple commands (at `;`, `&&`, `||`, `|`, `&`, newlines,
 * parentheses and braces, quote-aware); command substitutions (`$(…)`, backticks), `sh -c '…'`,
 * `eval …`, `xargs …` and `find -exec …` are checked as commands of their own. Each simple
 * command is normalised first: quotes removed, leading `VAR=value` assignments and wrappers
 * (`env`, `command`, `exec`, `nohup`, `time`, `nice`, `timeout`) dropped, the program's directory
 * dropped (`/usr/bin/git` → `git`), and git's global options dropped (`git -C . push` → `git push`).
 *
 * A command runs when none of its simple commands matches a deny rule (regular expressions are
 * also tried on the whole line), and, when `allow` is not empty, every one of them matches an
 * allow rule. This is a guard-rail against mistakes, not the boundary: the commands run in the
 * sandbox (container/runner/sandbox/), where no credential is in reach.
 */
import { DEFAULT_COMMAND_DENY } from '../../../core/config/schema.ts';
import { AvatarError } from '../../../core/errors.ts';

/** The default `commands.deny` (core/config/schema.ts holds it; config.example.yaml explains it). */
export const DEFAULT_DENY: readonly string[] = DEFAULT_COMMAND_DENY;

export interface CommandRules {
  allow?: readonly string[];
  deny?: readonly string[];
}

interface Rule {
  /** As configured. */
  source: string;
  regex?: RegExp;
  prefix?: string;
}

export type CommandVerdict =
  { ok: true } | { ok: false; list: 'deny' | 'allow'; rule?: string; part: string; message: string };

const REGEX_RULE = /^\/(.+)\/([a-z]*)$/s;

/** Parses one rule; throws CONFIG_INVALID naming the list and the rule when a regex does not compile. */
export function parseRule(source: string, list: 'allow' | 'deny'): Rule {
  const m = REGEX_RULE.exec(source.trim());
  if (m) {
    try {
      return { source, regex: new RegExp(m[1] as string, (m[2] as string).replace(/[gy]/g, '')) };
    } catch (err) {
      throw new AvatarError(
        'CONFIG_INVALID',
        `commands.${list}: ${JSON.stringify(source)} is not a valid regular expression (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  }
  const prefix = source.trim().replace(/\s+/g, ' ');
  if (prefix === '') throw new AvatarError('CONFIG_INVALID', `commands.${list}: a rule must not be empty`);
  return { source, prefix };
}

/** Whether `part` starts with `prefix` as whole words. */
function prefixMatches(prefix: string, part: string): boolean {
  if (!part.startsWith(prefix)) return false;
  if (part.length === prefix.length) return true;
  const last = prefix[prefix.length - 1] as string;
  const next = part[prefix.length] as string;
  return !/[\w.-]/.test(last) || !/[\w.-]/.test(next);
}

function ruleMatches(rule: Rule, part: string): boolean {
  return rule.regex ? rule.regex.test(part) : prefixMatches(rule.prefix as string, part);
}

// --- splitting a command line into simple commands -------------------------------------------------

interface Lexed {
  /** Simple commands, each a list of words with quotes removed. */
  commands: string[][];
  /** Command lines found inside: command substitutions. */
  nested: string[];
}

const SEPARATORS = new Set([';', '&', '|', '\n', '(', ')', '{', '}']);

/** Reads a `$(…)` body starting after the `(`; returns the body and the index after the `)`. */
function readSubstitution(s: string, from: number): [string, number] {
  let depth = 1;
  let quote: string | undefined;
  for (let i = from; i < s.length; i++) {
    const c = s[i] as string;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '\\') i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return [s.slice(from, i), i + 1];
  }
  return [s.slice(from), s.length];
}

function readBacktick(s: string, from: number): [string, number] {
  let body = '';
  for (let i = from; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      body += s[++i];
      continue;
    }
    if (c === '`') return [body, i + 1];
    body += c;
  }
  return [body, s.length];
}

function lex(line: string): Lexed {
  const commands: string[][] = [];
  const nested: string[] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length) commands.push(words);
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\') {
      if (line[i + 1] === '\n') {
        i++;
        continue;
      }
      if (i + 1 < line.length) word += line[++i];
      inWord = true;
      continue;
    }
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word += line.slice(i + 1, end < 0 ? line.length : end);
      inWord = true;
      i = end < 0 ? line.length : end;
      continue;
    }
    if (c === '"') {
      inWord = true;
      for (i++; i < line.length && line[i] !== '"'; i++) {
        const d = line[i] as string;
        if (d === '\\' && i + 1 < line.length) word += line[++i];
        else if (d === '$' && line[i + 1] === '(') {
          const [body, next] = readSubstitution(line, i + 2);
          nested.push(body);
          word += `$(${body})`;
          i = next - 1;
        } else if (d === '`') {
          const [body, next] = readBacktick(line, i + 1);
          nested.push(body);
          word += body;
          i = next - 1;
        } else word += d;
      }
      continue;
    }
    if (c === '$' && line[i + 1] === '(') {
      const [body, next] = readSubstitution(line, i + 2);
      nested.push(body);
      word += `$(${body})`;
      inWord = true;
      i = next - 1;
      continue;
    }
    if (c === '`') {
      const [body, next] = readBacktick(line, i + 1);
      nested.push(body);
      inWord = true;
      i = next - 1;
      continue;
    }
    if (c === '#' && !inWord) {
      const nl = line.indexOf('\n', i);
      i = nl < 0 ? line.length : nl - 1;
      continue;
    }
    if (SEPARATORS.has(c)) {
      endCommand();
      continue;
    }
    if (/\s/.test(c)) {
      endWord();
      continue;
    }
    word += c;
    inWord = true;
  }
  endCommand();
  return { commands, nested };
}

const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'ash', 'fish']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** Drops assignments and wrappers; returns the words of the command proper. */
function stripWrappers(words: string[]): string[] {
  let w = words.slice();
  for (let guard = 0; guard < 20; guard++) {
    while (w.length && (ASSIGNMENT.test(w[0] as string) || w[0] === '!')) w.shift();
    const head = (w[0] ?? '').replace(/^.*\//, '');
    if (head === 'command' || head === 'exec' || head === 'nohup' || head === 'builtin') {
      w = w.slice(1);
      while (w.length && (w[0] as string).startsWith('-')) w.shift();
    } else if (head === 'time') {
      w = w.slice(1);
      while (w.length && (w[0] as string).startsWith('-')) w.shift();
    } else if (head === 'env') {
      w = w.slice(1);
      while (w.length && ((w[0] as string).startsWith('-') || ASSIGNMENT.test(w[0] as string))) {
        const opt = w.shift() as string;
        if ((opt === '-u' || opt === '-C' || opt === '-S') && w.length) w.shift();
      }
    } else if (head === 'nice' || head === 'ionice' || head === 'stdbuf') {
      w = w.slice(1);
      while (w.length && (w[0] as string).startsWith('-')) {
        const opt = w.shift() as string;
        if (/^-[nc]$/.test(opt) && w.length) w.shift();
      }
    } else if (head === 'timeout') {
      w = w.slice(1);
      while (w.length && (w[0] as string).startsWith('-')) {
        const opt = w.shift() as string;
        if ((opt === '-s' || opt === '-k') && w.length) w.shift();
      }
      if (w.length) w.shift(); // the duration
    } else {
      break;
    }
  }
  if (w.length) w[0] = (w[0] as string).replace(/^.*\//, '');
  return w;
}

/** git's global options come before the subcommand: `git -C dir -c k=v --no-pager push` → `git push`. */
function dropGitGlobals(w: string[]): string[] {
  if (w[0] !== 'git') return w;
  const out = ['git'];
  let i = 1;
  while (i < w.length && (w[i] as string).startsWith('-')) {
    const opt = w[i] as string;
    i++;
    if (/^-(C|c)$/.test(opt) || /^--(git-dir|work-tree|namespace|exec-path|config-env)$/.test(opt)) i++;
  }
  return out.concat(w.slice(i));
}

/** Commands that run another command given as arguments: that command, as a line. */
function innerCommands(w: string[]): string[] {
  const head = w[0] ?? '';
  const found: string[] = [];
  if (SHELLS.has(head)) {
    const c = w.findIndex((x, i) => i > 0 && /^-[a-zA-Z]*c[a-zA-Z]*$/.test(x));
    if (c > 0 && w[c + 1] !== undefined) found.push(w[c + 1] as string);
  }
  if (head === 'eval' && w.length > 1) found.push(w.slice(1).join(' '));
  if (head === 'xargs') {
    let i = 1;
    while (i < w.length && (w[i] as string).startsWith('-')) {
      if (/^-[IdaEeLlnPs]$/.test(w[i] as string)) i++;
      i++;
    }
    if (i < w.length) found.push(w.slice(i).join(' '));
  }
  if (head === 'find') {
    w.forEach((x, i) => {
      if (x === '-exec' || x === '-execdir' || x === '-ok' || x === '-okdir') {
        const rest = w.slice(i + 1);
        const end = rest.findIndex((y) => y === ';' || y === '+');
        found.push(rest.slice(0, end < 0 ? rest.length : end).join(' '));
      }
    });
  }
  return found;
}

/** The normalised simple commands of a command line (nested ones included), e.g. for tests and messages. */
export function commandParts(line: string, depth = 0): string[] {
  if (depth > 6) return [];
  const { commands, nested } = lex(line);
  const parts: string[] = [];
  for (const words of commands) {
    const w = dropGitGlobals(stripWrappers(words));
    if (w.length === 0) continue;
    parts.push(w.join(' ').replace(/\s+/g, ' ').trim());
    for (const inner of innerCommands(w)) parts.push(...commandParts(inner, depth + 1));
  }
  for (const n of nested) parts.push(...commandParts(n, depth + 1));
  return parts.filter((p) => p !== '');
}

export class CommandPolicy {
  private constructor(
    private readonly allow: Rule[],
    private readonly deny: Rule[],
  ) {}

  /** Compiles the rules (deny defaults to DEFAULT_DENY); throws CONFIG_INVALID for a bad rule. */
  static compile(rules: CommandRules = {}): CommandPolicy {
    return new CommandPolicy(
      (rules.allow ?? []).map((r) => parseRule(r, 'allow')),
      (rules.deny ?? DEFAULT_DENY).map((r) => parseRule(r, 'deny')),
    );
  }

  check(command: string): CommandVerdict {
    const parts = commandParts(command);
    const whole = command.replace(/\s+/g, ' ').trim();
    for (const rule of this.deny) {
      const part = parts.find((p) => ruleMatches(rule, p)) ?? (rule.regex?.test(whole) ? whole : undefined);
      if (part !== undefined) {
        return {
          ok: false,
          list: 'deny',
          rule: rule.source,
          part,
          message: `command refused: ${JSON.stringify(part)} matches the commands.deny rule ${JSON.stringify(rule.source)}. Do not commit, push, publish, change git remotes or configuration, use sudo, or reach hosts other than this machine: the pipeline commits and pushes after finish.`,
        };
      }
    }
    if (this.allow.length > 0) {
      for (const part of parts) {
        if (!this.allow.some((rule) => ruleMatches(rule, part))) {
          return {
            ok: false,
            list: 'allow',
            part,
            message: `command refused: ${JSON.stringify(part)} is not in commands.allow (allowed: ${this.allow.map((r) => JSON.stringify(r.source)).join(', ')}).`,
          };
        }
      }
    }
    return { ok: true };
  }
}
