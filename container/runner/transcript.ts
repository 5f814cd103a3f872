/** The run's JSONL transcript: one redacted JSON object per line, kept in memory and stored at the end. */
import type { Redactor } from '../../core/redact.ts';

export class Transcript {
  private readonly lines: string[] = [];

  constructor(private readonly redactor: Redactor) {}

  record(event: object): void {
    this.lines.push(this.redactor.redact(JSON.stringify(event)));
  }

  get size(): number {
    return this.lines.length;
  }

  toJsonl(): string {
    return this.lines.length ? this.lines.join('\n') + '\n' : '';
  }
}
