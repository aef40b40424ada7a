/**
 * How an environment's overrides apply to the defaults: maps merge key by key, lists are
 * replaced whole, and a tagged union whose tag (`enabled` or `type`) changes is replaced whole,
 * so switching InfluxDB from in-cluster to remote leaves no in-cluster setting behind.
 */
const TAGS = ['enabled', 'type'] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function changesVariant(defaults: Record<string, unknown>, override: Record<string, unknown>): boolean {
  return TAGS.some((tag) => tag in override && tag in defaults && override[tag] !== defaults[tag]);
}

export function applyOverrides(defaults: unknown, override: unknown): unknown {
  if (override === undefined) return structuredClone(defaults);
  if (!isPlainObject(defaults) || !isPlainObject(override) || changesVariant(defaults, override)) {
    return structuredClone(override);
  }
  const merged: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(defaults), ...Object.keys(override)])) {
    merged[key] = applyOverrides(defaults[key], override[key]);
  }
  return merged;
}
