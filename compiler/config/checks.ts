/**
 * Small run-time checks for values that come from people. Each check returns the problems it
 * found, each naming the path of the value ("prod.influxdb.retention"), so a reader can go
 * straight to the line to fix. `object<T>` demands a check for every key of T: a setting added
 * to the types cannot be forgotten here.
 */
import { isDuration, durationSeconds } from './duration.ts';

export interface Issue {
  path: string;
  message: string;
}

export type Check = (value: unknown, path: string) => Issue[];

export function formatIssue(issue: Issue): string {
  return `${issue.path}: ${issue.message}`;
}

/** How a value is quoted in a message: strings in double quotes, the rest as JSON. */
export function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value);
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

const ok: Issue[] = [];
const problem = (path: string, message: string): Issue[] => [{ path, message }];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string matching `pattern`; `describe` completes "<value> is not …". */
export function text(pattern: RegExp, describe: string): Check {
  return (value, path) =>
    typeof value === 'string' && pattern.test(value) ? ok : problem(path, `${show(value)} is not ${describe}`);
}

export function integer(min: number, max: number): Check {
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) return problem(path, `${show(value)} is not an integer`);
    if (value < min || value > max) return problem(path, `${value} is outside ${min}-${max}`);
    return ok;
  };
}

export function duration(minSeconds: number, maxSeconds = Infinity): Check {
  return (value, path) => {
    if (!isDuration(value)) return problem(path, `${show(value)} is not a duration like 30d (a whole number and one of s, m, h, d, w)`);
    const seconds = durationSeconds(value);
    if (seconds < minSeconds) return problem(path, `${value} is shorter than the minimum of ${minSeconds}s`);
    if (seconds > maxSeconds) return problem(path, `${value} is longer than the maximum of ${maxSeconds}s`);
    return ok;
  };
}

export function oneOf(values: readonly (string | number | boolean)[]): Check {
  return (value, path) =>
    values.includes(value as string) ? ok : problem(path, `${show(value)} is not one of ${values.join(', ')}`);
}

export function optional(check: Check): Check {
  return (value, path) => (value === undefined ? ok : check(value, path));
}

export function arrayOf(item: Check, options: { nonEmpty?: boolean } = {}): Check {
  return (value, path) => {
    if (!Array.isArray(value)) return problem(path, `${show(value)} is not a list`);
    if (options.nonEmpty && value.length === 0) return problem(path, 'must not be empty');
    const issues = value.flatMap((element, index) => item(element, `${path}[${index}]`));
    const seen = new Set<string>();
    value.forEach((element, index) => {
      const key = JSON.stringify(element);
      if (seen.has(key)) issues.push(...problem(`${path}[${index}]`, `${show(element)} is listed twice`));
      seen.add(key);
    });
    return issues;
  };
}

export function recordOf(key: Check, item: Check): Check {
  return (value, path) => {
    if (!isPlainObject(value)) return problem(path, `${show(value)} is not a map`);
    return Object.entries(value).flatMap(([name, element]) => [
      ...key(name, `${path}.${name} (key)`),
      ...item(element, `${path}.${name}`),
    ]);
  };
}

export type FieldChecks<T> = { [K in keyof T]-?: Check };

/** An object with exactly these keys: a missing key or an unknown one (a typo) is a problem. */
export function object<T>(fields: FieldChecks<T>): Check {
  const known = Object.keys(fields);
  return (value, path) => {
    if (!isPlainObject(value)) return problem(path, `${show(value)} is not an object`);
    const unknown = Object.keys(value)
      .filter((name) => !known.includes(name))
      .flatMap((name) => problem(`${path}.${name}`, `unknown setting (known here: ${known.join(', ')})`));
    const checked = known.flatMap((name) => {
      const field = value[name];
      const check = fields[name as keyof T];
      if (field === undefined && check(undefined, '').length > 0) return problem(`${path}.${name}`, 'is missing');
      return check(field, `${path}.${name}`);
    });
    return [...unknown, ...checked];
  };
}

/** A tagged union: the value of `tag` picks the check for the rest. */
export function tagged(tag: string, variants: Record<string, Check>): Check {
  return (value, path) => {
    if (!isPlainObject(value)) return problem(path, `${show(value)} is not an object`);
    const variant = variants[String(value[tag])];
    if (!variant) return problem(`${path}.${tag}`, `${show(value[tag])} is not one of ${Object.keys(variants).join(', ')}`);
    return variant(value, path);
  };
}

/** Runs several checks on one value; later ones only when the earlier ones passed. */
export function all(...checks: Check[]): Check {
  return (value, path) => {
    for (const check of checks) {
      const issues = check(value, path);
      if (issues.length > 0) return issues;
    }
    return ok;
  };
}

/** A custom rule: `test` returns a message when the value breaks it. */
export function rule(test: (value: unknown) => string | undefined): Check {
  return (value, path) => {
    const message = test(value);
    return message === undefined ? ok : problem(path, message);
  };
}
