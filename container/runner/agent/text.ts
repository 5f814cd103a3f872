/** Text helpers shared by the tools: output capping and binary detection. */

/** Keeps the first `headChars` and the last `tailChars` of a stream of text. */
export class HeadTail {
  private head = '';
  private tail = '';
  private total = 0;

  constructor(
    private readonly headChars: number,
    private readonly tailChars: number,
  ) {}

  push(s: string): void {
    this.total += s.length;
    if (this.head.length < this.headChars) {
      const take = s.slice(0, this.headChars - this.head.length);
      this.head += take;
      s = s.slice(take.length);
    }
    if (s) {
      this.tail += s;
      if (this.tail.length > this.tailChars * 2) this.tail = this.tail.slice(-this.tailChars);
    }
  }

  get length(): number {
    return this.total;
  }

  text(): string {
    const tail = this.tail.length > this.tailChars ? this.tail.slice(-this.tailChars) : this.tail;
    const omitted = this.total - this.head.length - tail.length;
    if (omitted <= 0) return this.head + tail;
    return `${this.head}\n… [output cut: ${omitted} characters omitted from the middle; showing the first ${this.head.length} and the last ${tail.length}] …\n${tail}`;
  }
}

/** Caps a text at about `max` characters, keeping its head (40%) and tail (60%) with a note between. */
export function capText(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = Math.floor(max * 0.4);
  const ht = new HeadTail(head, Math.max(0, max - head - 120));
  ht.push(text);
  return ht.text();
}

/** Keeps the end of a text (test output: the failures are at the end). */
export function tailText(text: string, max: number): string {
  if (text.length <= max) return text;
  return `… [${text.length - max} earlier characters cut] …\n${text.slice(-max)}`;
}

/** Git's heuristic: a NUL byte in the first 8000 bytes means binary. */
export function looksBinary(buf: Buffer): boolean {
  return buf.subarray(0, 8000).includes(0);
}

export function plural(n: number, word: string, many = word + 's'): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Splits file text into lines; a final newline does not start another line. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
