/**
 * The real pipeline (`runTask`) on real public repositories, Go and Rust: small snapshots under
 * test/fixtures/repos/ (google/uuid, dtolnay/itoa; their numa-fixture.json says where from), run
 * against the world of test/helpers/world.ts with the sandbox it chooses (bubblewrap as root here).
 *
 * Per repository an "add" task (the scripted model adds a function and its tests: done, pushed,
 * the count after = the baseline + the new tests, both equal to what the toolchain itself prints
 * in the same sandbox) and a "break" task (an edit that breaks an existing function: failed
 * TESTS_FAILED, nothing pushed, the failing tests named).
 *
 * The toolchains are Debian's (.ci/run installs golang-go, cargo and rustc): the sandbox shows the
 * system's folders (/usr, /opt, …), so a toolchain in a home folder (rustup's ~/.cargo/bin) is
 * not what the repository's commands run. The suite skips where go or cargo cannot be seen there.
 *
 * itoa is its tag 1.0.3 (ccd581e, Aug 2022): the last with no dependency at all. From 1.0.4 an
 * optional `no-panic` dependency makes cargo read the crates.io index even offline (to write
 * Cargo.lock), and from 1.0.16 it needs Rust 1.68 (edition 2021) and criterion; bookworm has 1.63.
 * uuid is its master at 2d3c2a9 (Nov 2024), standard library only, builds with bookworm's Go 1.19.
 * The last test is itoa without its .gitignore: cargo's target/ must stay out of the commit.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScriptedSession } from '../../servers/scripted-model/index.ts';
import { finishTurn } from '../helpers/turns.ts';
import { SANDBOX_AVAILABLE, type World } from '../helpers/world.ts';
import {
  committedFiles,
  FIXTURES,
  fromFixture,
  loggedCounts,
  readFixture,
  repoWorld,
  runOn as runTaskOn,
  SANDBOX_SHOWN,
  tipOf,
  toolResults,
  toolTurn as call,
} from './harness.ts';

/**
 * The program the repository's commands find for `name`: the first on the PATH they get, among
 * the folders the sandbox shows (all of the PATH where there is no sandbox).
 */
function sandboxTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir || (SANDBOX_AVAILABLE && !SANDBOX_SHOWN.some((p) => `${dir}/`.startsWith(p)))) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const GO = sandboxTool('go');
const CARGO = sandboxTool('cargo');
const RUSTC = sandboxTool('rustc');

const runCommand = (command: string) => call('run_command', { command, timeout_s: 300 });
const finish = (message: string) => finishTurn(message);

/** What the toolchain prints itself, in the same sandbox: one line per result kind, then the versions. */
const GO_COUNTS =
  'go test -v ./... > /tmp/go.out 2>&1; echo "exit=$?"; for k in PASS FAIL SKIP; do echo "go-$k=$(grep -cE -- "^ *--- $k: " /tmp/go.out)"; done; command -v go; go version';
const CARGO_COUNTS =
  'cargo test --no-fail-fast > /tmp/cargo.out 2>&1; echo "exit=$?"; grep -E \'^test result:\' /tmp/cargo.out; command -v cargo; command -v rustc; cargo --version; rustc --version';

const UUID_ISNIL = `package uuid

// IsNil reports whether uuid is the Nil UUID (all 128 bits zero).
func (uuid UUID) IsNil() bool {
\treturn uuid == Nil
}
`;

const UUID_ISNIL_TEST = `package uuid

import "testing"

func TestIsNil(t *testing.T) {
\tt.Run("nil", func(t *testing.T) {
\t\tif !Nil.IsNil() {
\t\t\tt.Error("Nil.IsNil() = false, want true")
\t\t}
\t\tif !Must(Parse("00000000-0000-0000-0000-000000000000")).IsNil() {
\t\t\tt.Error("the parsed nil UUID is not Nil")
\t\t}
\t})
\tt.Run("random", func(t *testing.T) {
\t\tif Must(NewRandom()).IsNil() {
\t\t\tt.Error("a random UUID is Nil")
\t\t}
\t})
}
`;

const ITOA_DIGITS = `/// The number of decimal digits \`n\` is written with (1 for 0).
///
/// \`\`\`
/// assert_eq!(itoa::digits(0), 1);
/// assert_eq!(itoa::digits(12345), 5);
/// assert_eq!(itoa::digits(u64::max_value()), 20);
/// \`\`\`
pub fn digits(n: u64) -> usize {
    let mut count = 1;
    let mut rest = n / 10;
    while rest > 0 {
        count += 1;
        rest /= 10;
    }
    count
}

/// An integer that can be written into an [\`itoa::Buffer\`][Buffer].
`;

const ITOA_DIGITS_TEST = `#[test]
fn digits_matches_format() {
    let mut buffer = itoa::Buffer::new();
    for n in [0u64, 7, 10, 99, 100, 4294967295, u64::max_value()].iter() {
        assert_eq!(itoa::digits(*n), buffer.format(*n).len(), "{}", n);
    }
}
`;

const sessions: ScriptedSession[] = [
  {
    match: 'GORUST-UUID-ADD',
    turns: [
      runCommand(GO_COUNTS),
      call('write_file', { path: 'isnil.go', content: UUID_ISNIL }),
      call('write_file', { path: 'isnil_test.go', content: UUID_ISNIL_TEST }),
      runCommand(GO_COUNTS),
      finish('Add UUID.IsNil'),
    ],
  },
  {
    match: 'GORUST-UUID-BREAK',
    turns: [
      // The URN prefix, cased differently: only the test of the encodings (TestCoding) notices.
      call('edit_file', {
        path: 'uuid.go',
        old_text: 'copy(buf[:], "urn:uuid:")',
        new_text: 'copy(buf[:], "URN:uuid:")',
      }),
      finish('Spell the URN prefix in capitals'),
    ],
  },
  {
    match: 'GORUST-ITOA-ADD',
    turns: [
      runCommand(CARGO_COUNTS),
      call('edit_file', {
        path: 'src/lib.rs',
        old_text: '/// An integer that can be written into an [`itoa::Buffer`][Buffer].\n',
        new_text: ITOA_DIGITS,
      }),
      call('write_file', { path: 'tests/digits.rs', content: ITOA_DIGITS_TEST }),
      runCommand(CARGO_COUNTS),
      finish('Add itoa::digits'),
    ],
  },
  {
    match: 'GORUST-ITOA-UNIGNORED',
    turns: [
      call('edit_file', {
        path: 'src/lib.rs',
        old_text: '/// An integer that can be written into an [`itoa::Buffer`][Buffer].\n',
        new_text: ITOA_DIGITS,
      }),
      call('write_file', { path: 'tests/digits.rs', content: ITOA_DIGITS_TEST }),
      finish('Add itoa::digits'),
    ],
  },
  {
    match: 'GORUST-ITOA-BREAK',
    turns: [
      // The sign of i8..i64 and isize (the first of the two macros; i128 has its own): a '+'.
      call('edit_file', {
        path: 'src/lib.rs',
        old_text: "*buf_ptr.offset(curr) = b'-';\n                    }\n                }\n",
        new_text: "*buf_ptr.offset(curr) = b'+';\n                    }\n                }\n",
      }),
      finish('Write the sign of small integers faster'),
    ],
  },
];

/** go's own figures in a GO_COUNTS output: the "--- PASS/FAIL/SKIP" lines (subtests too). */
function goCounts(out: string): { exit: number; passed: number; failed: number; skipped: number } {
  const n = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    exit: n(/exit=(\d+)/),
    passed: n(/go-PASS=(\d+)/),
    failed: n(/go-FAIL=(\d+)/),
    skipped: n(/go-SKIP=(\d+)/),
  };
}

/** cargo's own figures in a CARGO_COUNTS output: the sum of its "test result:" lines. */
function cargoCounts(out: string): { exit: number; binaries: number; passed: number; failed: number } {
  const lines = [...out.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)];
  return {
    exit: Number(/exit=(\d+)/.exec(out)?.[1] ?? NaN),
    binaries: lines.length,
    passed: lines.reduce((s, m) => s + Number(m[1]), 0),
    failed: lines.reduce((s, m) => s + Number(m[2]), 0),
  };
}

describe.skipIf(!GO || !CARGO || !RUSTC)(
  `real repositories, Go and Rust (${!GO || !CARGO || !RUSTC ? 'skipped: go, cargo or rustc is not where the sandbox sees it (/usr/bin: apt-get install golang-go cargo rustc)' : `${GO}, ${CARGO}`})`,
  () => {
    let world: World;
    let apps: Record<string, number> = {};

    beforeAll(async () => {
      // itoa-unignored: the same crate without its .gitignore (target/, Cargo.lock).
      const unignored: Record<string, string> = {};
      for (const file of ['Cargo.toml', 'src/lib.rs', 'src/udiv128.rs', 'tests/test.rs', 'LICENSE-MIT'])
        unignored[file] = readFileSync(path.join(FIXTURES, 'itoa', file), 'utf8');
      ({ world, apps } = await repoWorld(sessions, {
        uuid: fromFixture('uuid'),
        itoa: fromFixture('itoa'),
        'itoa-unignored': { files: unignored },
      }));
    });

    afterAll(async () => {
      await world?.close();
    });

    const runOn = (
      app: 'uuid' | 'itoa' | 'itoa-unignored',
      title: string,
      extra: Record<string, unknown> = {},
    ) => runTaskOn(world, apps, app, title, extra);

    it('fixtures: each says where it is from, with its license beside it', () => {
      for (const [name, license, licenseFiles] of [
        ['uuid', 'BSD-3-Clause', ['LICENSE']],
        ['itoa', 'MIT OR Apache-2.0', ['LICENSE-MIT', 'LICENSE-APACHE']],
      ] as const) {
        const f = readFixture(name);
        expect(f).toMatchObject({ name, license });
        expect(f.commit).toMatch(/^[0-9a-f]{40}$/);
        for (const file of licenseFiles) accessSync(path.join(FIXTURES, name, file));
      }
    });

    it('google/uuid, add: UUID.IsNil and its test; done, pushed, go test -v counts 212 + 3', async () => {
      const { branch, result, log, bare } = await runOn('uuid', 'GORUST-UUID-ADD: add UUID.IsNil');
      expect(result, log).toMatchObject({ status: 'done' });
      expect(log).toMatch(/test command: go test -v \.\/\.\.\. \(go\.mod\)/);
      const counts = loggedCounts(log);
      // What go itself printed in the same sandbox, before and after the change.
      const [beforeOut, afterOut] = toolResults(world, 'GORUST-UUID-ADD').filter((r) =>
        r.includes('go-PASS='),
      );
      expect(beforeOut, log).toBeDefined();
      expect(afterOut, log).toBeDefined();
      expect(beforeOut).toContain(GO!);
      const goBefore = goCounts(beforeOut!);
      const goAfter = goCounts(afterOut!);
      expect(goBefore).toMatchObject({ exit: 0, failed: 0 });
      expect(goAfter).toMatchObject({ exit: 0, failed: 0, skipped: goBefore.skipped });
      expect(counts.before).toBe(goBefore.passed);
      expect(counts.after).toBe(goAfter.passed);
      expect(counts.afterFailed).toBe(0);
      // 212 results at the snapshot's commit (tests and subtests; TestClockSeqRace skips), and 3
      // new ones: TestIsNil, TestIsNil/nil, TestIsNil/random.
      expect(counts.before).toBe(212);
      expect(counts.after).toBe(counts.before + 3);

      expect(await tipOf(bare, branch)).toMatch(/^[0-9a-f]{40}$/);
      expect(await committedFiles(bare, branch)).toEqual(['isnil.go', 'isnil_test.go']);
    });

    it('google/uuid, break: the URN prefix; failed TESTS_FAILED, TestCoding named, nothing pushed', async () => {
      const { branch, result, log, bare } = await runOn('uuid', 'GORUST-UUID-BREAK: spell the URN prefix', {
        limits: { repair_rounds: 0 },
      });
      expect(result, log).toMatchObject({ status: 'failed', errorCode: 'TESTS_FAILED' });
      expect(`${result.reason}\n${log}`).toContain('github.com/google/uuid.TestCoding');
      expect(log).toMatch(
        /tests after the change: 211 passed, 1 failed; new failures: github.com\/google\/uuid.TestCoding;/,
      );
      expect(await tipOf(bare, branch)).toBeUndefined();
    });

    it('dtolnay/itoa, add: itoa::digits with a doc-test and a test; done, pushed, cargo counts 11 + 2', async () => {
      const { branch, result, log, bare } = await runOn('itoa', 'GORUST-ITOA-ADD: add itoa::digits');
      expect(result, log).toMatchObject({ status: 'done' });
      expect(log).toMatch(/test command: cargo test --no-fail-fast \(Cargo\.toml\)/);
      const counts = loggedCounts(log);
      const [beforeOut, afterOut] = toolResults(world, 'GORUST-ITOA-ADD').filter((r) =>
        r.includes('test result:'),
      );
      expect(beforeOut, log).toBeDefined();
      expect(afterOut, log).toBeDefined();
      // Debian's toolchain (the one CI installs), not one from a home folder.
      expect(beforeOut).toContain(CARGO!);
      expect(beforeOut).toContain(RUSTC!);
      const cargoBefore = cargoCounts(beforeOut!);
      const cargoAfter = cargoCounts(afterOut!);
      // Unit tests, tests/test.rs and the doc-tests; then tests/digits.rs too.
      expect(cargoBefore).toMatchObject({ exit: 0, binaries: 3, failed: 0 });
      expect(cargoAfter).toMatchObject({ exit: 0, binaries: 4, failed: 0 });
      expect(counts.before).toBe(cargoBefore.passed);
      expect(counts.after).toBe(cargoAfter.passed);
      expect(counts.afterFailed).toBe(0);
      // 9 tests and 2 doc-tests at the snapshot's commit; the new doc-test and test.
      expect(counts.before).toBe(11);
      expect(counts.after).toBe(counts.before + 2);

      expect(await tipOf(bare, branch)).toMatch(/^[0-9a-f]{40}$/);
      // Neither target/ nor the Cargo.lock the runs wrote (the crate's .gitignore has both).
      expect(await committedFiles(bare, branch)).toEqual(['src/lib.rs', 'tests/digits.rs']);
    });

    it('dtolnay/itoa, break: the minus sign; failed TESTS_FAILED, test_i16_min and test_i64_min named, nothing pushed', async () => {
      const { branch, result, log, bare } = await runOn('itoa', 'GORUST-ITOA-BREAK: write the sign faster', {
        limits: { repair_rounds: 0 },
      });
      expect(result, log).toMatchObject({ status: 'failed', errorCode: 'TESTS_FAILED' });
      const said = `${result.reason}\n${log}`;
      expect(said).toContain('test_i16_min');
      expect(said).toContain('test_i64_min');
      expect(log).toMatch(
        /tests after the change: 9 passed, 2 failed; new failures: (test_i16_min, test_i64_min|test_i64_min, test_i16_min);/,
      );
      expect(await tipOf(bare, branch)).toBeUndefined();
    });

    // cargo writes target/ in the repository when it does not ignore it, and the run after the
    // change writes new files there (new hashes, the new test binary): the runner's own
    // .git/info/exclude (git/build-output.ts) keeps them out of the gates and the commit, and the
    // Cargo.lock the baseline wrote is left out as the setup's (pipeline.ts, madeBySetup).
    it('dtolnay/itoa without its .gitignore: what cargo wrote (target/, Cargo.lock) is not committed, only the change', async () => {
      const { branch, result, log, bare } = await runOn(
        'itoa-unignored',
        'GORUST-ITOA-UNIGNORED: add itoa::digits',
        { limits: { repair_rounds: 0 } },
      );
      expect(result, log).toMatchObject({ status: 'done' });
      expect(loggedCounts(log)).toEqual({ before: 11, beforeFailed: 0, after: 13, afterFailed: 0 });
      // The baseline's build output: left out, and said so.
      expect(log).toMatch(
        /the setup and the baseline tests left \d+ path\(s\) that git does not ignore; they are not committed: .*(Cargo\.lock|target)/,
      );
      expect(await committedFiles(bare, branch)).toEqual(['src/lib.rs', 'tests/digits.rs']);
    });
  },
);
