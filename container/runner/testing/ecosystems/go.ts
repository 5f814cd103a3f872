/** Go modules: `go test` over every package. */
import path from 'node:path';
import { exists, type DetectedTestCommand } from './common.ts';

export async function detectGo(dir: string): Promise<DetectedTestCommand | undefined> {
  return (await exists(path.join(dir, 'go.mod')))
    ? { command: 'go test ./...', source: 'go.mod' }
    : undefined;
}
