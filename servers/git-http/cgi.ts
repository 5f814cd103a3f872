/**
 * Parsing of a CGI response (RFC 3875 §6): header lines (`Status:` and ordinary headers) up to a
 * blank line, then the body. Used to relay `git http-backend`'s output to an HTTP response.
 */
export interface CgiHead {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
}

/** Finds the end of the header block; returns the index where the body starts, or -1 when incomplete. */
export function cgiHeaderEnd(buf: Buffer): { headerEnd: number; bodyStart: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return undefined;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { headerEnd: crlf, bodyStart: crlf + 4 };
  return { headerEnd: lf, bodyStart: lf + 2 };
}

export function parseCgiHead(text: string): CgiHead {
  let status = 200;
  let statusText = 'OK';
  const headers: Array<[string, string]> = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const m = /^(\d{3})\s*(.*)$/.exec(value);
      if (m) {
        status = Number(m[1]);
        statusText = m[2] || '';
      }
    } else {
      headers.push([name, value]);
    }
  }
  return { status, statusText, headers };
}
