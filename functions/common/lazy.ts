/**
 * A value built once per Lambda container (clients, secrets), on first use. A failed build is not
 * kept: the next invocation tries again (a secret that was briefly unreadable, a throttled call).
 */
export function lazy<T>(build: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      pending = build();
      pending.catch(() => {
        pending = undefined;
      });
    }
    return pending;
  };
}
