/** Rust crates: `cargo test`. */
import path from 'node:path';
import { exists, type DetectedTestCommand } from './common.ts';

export async function detectCargo(dir: string): Promise<DetectedTestCommand | undefined> {
  return (await exists(path.join(dir, 'Cargo.toml')))
    ? { command: 'cargo test', source: 'Cargo.toml' }
    : undefined;
}
