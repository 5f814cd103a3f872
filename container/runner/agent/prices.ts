/**
 * What model calls cost: a price table in USD per 1M tokens (`model.prices` in the configuration,
 * merged over DEFAULT_PRICES). A model is found by its exact name, else by the longest table
 * entry its name starts with at a `-`, `:`, `@` or `.` boundary (`gpt-4o-mini-2024-07-18` →
 * `gpt-4o-mini`), with any `provider/` prefix removed. A model that is not in the table has an
 * unknown cost: the cost limit does not apply to it and reports say so.
 */
import { DEFAULT_MODEL_PRICES } from '../../../core/config/schema.ts';

export interface ModelPrice {
  /** USD per 1M prompt (input) tokens. */
  prompt: number;
  /** USD per 1M completion (output) tokens. */
  completion: number;
}

export type PriceTable = Readonly<Record<string, ModelPrice>>;

/** List prices of a few common models (USD per 1M tokens): `model.prices`' default (core/config/schema.ts). */
export const DEFAULT_PRICES: PriceTable = DEFAULT_MODEL_PRICES;

/** The price of `model`, or undefined when the table has none. */
export function priceOf(model: string, table: PriceTable = DEFAULT_PRICES): ModelPrice | undefined {
  const exact = table[model];
  if (exact) return exact;
  const name = model.slice(model.lastIndexOf('/') + 1);
  if (table[name]) return table[name];
  let best: string | undefined;
  for (const key of Object.keys(table)) {
    if (name.startsWith(key) && /[-:@.]/.test(name[key.length] ?? '') && key.length > (best?.length ?? 0)) {
      best = key;
    }
  }
  return best === undefined ? undefined : table[best];
}

/** USD for the given tokens at `price`. */
export function costUsd(price: ModelPrice, promptTokens: number, completionTokens: number): number {
  return (promptTokens * price.prompt + completionTokens * price.completion) / 1_000_000;
}

/** "$0.0123" (at least 4 significant decimals for small amounts). */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (usd >= 1) return `$${usd.toFixed(2)}`;
  return `$${usd.toFixed(Math.max(4, 2 - Math.floor(Math.log10(usd))))}`;
}
