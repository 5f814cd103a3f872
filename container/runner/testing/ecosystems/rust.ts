/**
 * Rust crates: `cargo test --no-fail-fast`. Without the flag cargo stops at the first test binary
 * that fails, so a failing unit test hides the integration tests and doc-tests after it, and the
 * count changes with which tests fail; with it every binary runs and prints its "test result:"
 * line (verify/results/cargo.ts adds them up).
 */
import path from 'node:path';
import { exists, type DetectedTestCommand } from './common.ts';

export async function detectCargo(dir: string): Promise<DetectedTestCommand | undefined> {
  return (await exists(path.join(dir, 'Cargo.toml')))
    ? { command: 'cargo test --no-fail-fast', source: 'Cargo.toml' }
    : undefined;
}
