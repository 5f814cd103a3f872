#!/usr/bin/env node
// Entry point of the `numa-avatar` command. The package ships its TypeScript sources and runs them
// through tsx, so a fresh `npm ci` is all a checkout needs (no build step, no stale output).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
