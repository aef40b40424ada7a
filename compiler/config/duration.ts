import type { Duration, DurationUnit } from './types.ts';

const SECONDS_PER_UNIT: Record<DurationUnit, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

const DURATION = /^([1-9][0-9]*)([smhdw])$/;

/** True for whole, positive, single-unit durations such as "10s" or "30d". */
export function isDuration(text: unknown): text is Duration {
  return typeof text === 'string' && DURATION.test(text);
}

export function durationSeconds(duration: Duration): number {
  const match = DURATION.exec(duration);
  if (!match) throw new Error(`not a duration: ${duration}`);
  return Number(match[1]) * SECONDS_PER_UNIT[match[2] as DurationUnit];
}
