/** How sandbox.mode is resolved on a machine (a fake probe stands for each kind of host). */
import { describe, expect, it } from 'vitest';
import { chooseMode, type Probe } from '../../container/runner/sandbox/index.ts';

const probe = (bwrap: boolean, root: boolean, setpriv = true): Probe => ({
  bwrapWorks: () => bwrap,
  bwrapWorksAs: () => bwrap,
  isRoot: () => root,
  hasSetpriv: () => setpriv,
});

describe('chooseMode', () => {
  it('auto: bubblewrap where it works, else the user mode as root, else refuses saying how to get one', () => {
    expect(chooseMode({ mode: 'auto', allowUnsandboxed: false }, probe(true, false)).mode).toBe('namespaces');
    expect(chooseMode({ mode: 'auto', allowUnsandboxed: false }, probe(true, true)).mode).toBe('namespaces');
    expect(chooseMode({ mode: 'auto', allowUnsandboxed: false }, probe(false, true)).mode).toBe('user');
    expect(() => chooseMode({ mode: 'auto', allowUnsandboxed: false }, probe(false, false))).toThrow(
      /SANDBOX_UNAVAILABLE|apt-get install bubblewrap/,
    );
    expect(() => chooseMode({ mode: 'auto', allowUnsandboxed: false }, probe(false, true, false))).toThrow(
      /apt-get install bubblewrap/,
    );
  });

  it('auto falls back to none only with allow_unsandboxed, and says why', () => {
    const c = chooseMode({ mode: 'auto', allowUnsandboxed: true }, probe(false, false));
    expect(c.mode).toBe('none');
    expect(c.why).toMatch(/neither bubblewrap nor root/);
  });

  it('an explicit mode that cannot run here is refused, not replaced by another', () => {
    expect(() => chooseMode({ mode: 'namespaces', allowUnsandboxed: true }, probe(false, true))).toThrow(
      /bubblewrap cannot run here/,
    );
    expect(() => chooseMode({ mode: 'user', allowUnsandboxed: true }, probe(true, false))).toThrow(
      /needs root/,
    );
    expect(() => chooseMode({ mode: 'none', allowUnsandboxed: false }, probe(true, true))).toThrow(
      /allow_unsandboxed: true/,
    );
    expect(chooseMode({ mode: 'none', allowUnsandboxed: true }, probe(true, true)).mode).toBe('none');
  });
});
