/**
 * The real repositories' snapshots under test/fixtures/repos/, each with its license and a
 * numa-fixture.json saying where it is from and how a person installs and tests it (read by the
 * real-repository suites and bench/real-repos.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/repos');

export interface Fixture {
  name: string;
  ecosystem: string;
  source: string;
  commit: string;
  license: string;
  byHand: { install: string; test: string };
}

export function readFixture(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, name, 'numa-fixture.json'), 'utf8')) as Fixture;
}
