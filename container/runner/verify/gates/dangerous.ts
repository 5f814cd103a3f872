/**
 * The dangerous-pattern report: lines a change adds that deserve a person's look (code
 * evaluation, shell commands built from strings, TLS verification turned off, unsafe
 * deserialisation, SQL built by concatenation, destructive shell commands). Warnings only: the
 * run is not stopped for them.
 */
import { addedLines } from './diff.ts';

export interface DangerousFinding {
  file: string;
  line: number;
  kind: string;
}

const SQL = String.raw`(?:SELECT\b[^"'\x60]*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b`;

export const DANGEROUS_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/(?<![.\w$])eval\s*\(/, 'eval() of a string'],
  [/\bnew\s+Function\s*\(/, 'new Function() (code from a string)'],
  [
    /\b(?:child_process\.)?(?:exec|execSync)\s*\(\s*(?:[^,)]*["'`]\s*\+|[^,)]*\+\s*["'`]|`[^`]*\$\{)/,
    'a shell command built by string concatenation (child_process.exec)',
  ],
  [/\bsubprocess\.\w+\([^)]*\bshell\s*=\s*True/, 'subprocess with shell=True'],
  [/\bos\.(?:system|popen)\s*\(/, 'os.system()/os.popen() (shell command)'],
  [
    /\brm\s+(?:-[a-zA-Z]*[rR][a-zA-Z]*\s+|--recursive\s+|-[a-zA-Z]+\s+)+(?:--no-preserve-root\s+)?(?:\/\*?|~\/?|\$HOME\/?|\$\{?\w+\}?\/\*?)(?=\s|$|["';&|])/,
    'rm -rf of /, ~ or a variable path',
  ],
  [/\brejectUnauthorized\s*:\s*false\b/, 'TLS certificate verification disabled (rejectUnauthorized: false)'],
  [
    /NODE_TLS_REJECT_UNAUTHORIZED\s*[=:]\s*["']?0/,
    'TLS certificate verification disabled (NODE_TLS_REJECT_UNAUTHORIZED=0)',
  ],
  [/\bverify\s*=\s*False\b/, 'TLS certificate verification disabled (verify=False)'],
  [/\bInsecureSkipVerify\s*:\s*true\b/, 'TLS certificate verification disabled (InsecureSkipVerify)'],
  [/ssl\._create_unverified_context|\bCERT_NONE\b/, 'TLS certificate verification disabled (CERT_NONE)'],
  [
    /danger_accept_invalid_certs\s*\(\s*true\s*\)/,
    'TLS certificate verification disabled (accept invalid certs)',
  ],
  [/\bcurl\b[^\n|]*\s(?:-k|--insecure)(?=\s|$)/, 'curl --insecure'],
  [/\bcurl\b[^\n|]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b/, 'piping a download into a shell'],
  [/\b(?:c?pickle|dill)\.loads?\s*\(/, 'unsafe deserialisation (pickle.load)'],
  [/\bmarshal\.loads?\s*\(/, 'unsafe deserialisation (marshal.load)'],
  [/\byaml\.load\s*\((?![^)]*Loader\s*=\s*(?:yaml\.)?(?:Safe|CSafe)Loader)/, 'yaml.load without SafeLoader'],
  [/\bchmod\s+(?:-R\s+)?0?777\b/, 'chmod 777'],
  [/\bdangerouslySetInnerHTML\b|\.innerHTML\s*=(?!=)/, 'raw HTML injection (innerHTML)'],
  [
    new RegExp(String.raw`["'\x60]\s*${SQL}[^"'\x60]*["'\x60]\s*(?:\+|\|\|)`, 'i'),
    'SQL built by string concatenation',
  ],
  [new RegExp(String.raw`\x60\s*${SQL}[^\x60]*\$\{`, 'i'), 'SQL built by string interpolation'],
  [new RegExp(String.raw`\bf["']\s*${SQL}[^"']*\{`, 'i'), 'SQL built by string interpolation (f-string)'],
  [
    new RegExp(String.raw`["']\s*${SQL}[^"']*["']\s*(?:%\s*[(\w]|\.format\s*\()`, 'i'),
    'SQL built by string formatting',
  ],
];

export function dangerousKindsInLine(text: string): string[] {
  const kinds: string[] = [];
  for (const [re, kind] of DANGEROUS_PATTERNS) if (re.test(text) && !kinds.includes(kind)) kinds.push(kind);
  return kinds;
}

export function scanPatchForDangerousPatterns(patch: string): DangerousFinding[] {
  const findings: DangerousFinding[] = [];
  for (const added of addedLines(patch)) {
    for (const kind of dangerousKindsInLine(added.text))
      findings.push({ file: added.file, line: added.line, kind });
  }
  return findings;
}
