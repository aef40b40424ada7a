import type { Quantity } from './types.ts';

/** Kubernetes quantity suffixes (resource.Quantity), as multipliers; "m" is a thousandth. */
const MULTIPLIERS: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The one pattern of a quantity the config accepts (validate.ts), its number and its suffix. */
export const QUANTITY = /^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** A quantity's value in base units (bytes for a size). */
export function quantityValue(quantity: Quantity): number {
  const match = QUANTITY.exec(quantity);
  if (!match) throw new Error(`not a quantity: ${quantity}`);
  return Number(match[1]) * MULTIPLIERS[match[3] ?? '']!;
}
