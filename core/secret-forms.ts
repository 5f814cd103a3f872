/**
 * The common encodings of a secret, as a command would print it to get it past a filter: base64
 * (standard and URL-safe, starting at any of the three byte offsets a longer text could put it
 * at), hex (both cases), reversed. Each form is the part that stays the same wherever the secret
 * sits in the encoded text, so finding the form finds the secret. Defence in depth: the sandbox,
 * which keeps secrets out of reach in the first place, is the boundary.
 */

/** base64 of `secret` preceded by `offset` bytes, without the characters those bytes touch. */
function base64Core(secret: Buffer, offset: number): string {
  const padded = Buffer.concat([Buffer.alloc(offset), secret]);
  const text = padded.toString('base64').replace(/=+$/, '');
  // Leading characters mix the prefix's bits in; trailing ones mix the next bytes' in.
  const lead = Math.ceil((offset * 8) / 6);
  const usableBits = (offset + secret.length) * 8;
  const full = Math.floor(usableBits / 6);
  return text.slice(lead, full);
}

/** Forms at least `minLength` characters long (shorter ones would match ordinary text). */
export function secretForms(secret: string, minLength = 8): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = new Set<string>();
  for (let offset = 0; offset < 3; offset++) {
    const core = base64Core(bytes, offset);
    forms.add(core);
    forms.add(core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  forms.add(bytes.toString('hex'));
  forms.add(bytes.toString('hex').toUpperCase());
  forms.add([...secret].reverse().join(''));
  forms.delete(secret);
  return [...forms].filter((f) => f.length >= minLength);
}

/** Which encoding of a secret `text` holds, if any ('raw' for the secret itself). */
export function findSecretForm(text: string, secret: string): string | undefined {
  if (text.includes(secret)) return 'raw';
  return secretForms(secret).find((f) => text.includes(f));
}
