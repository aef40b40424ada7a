/**
 * Renders the flat TOML InfluxDB's config file needs: top-level keys, then [sections] of scalars.
 */
export type TomlScalar = string | number | boolean;
export type TomlDocument = Record<string, TomlScalar | Record<string, TomlScalar>>;

function scalar(value: TomlScalar): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
  return String(value);
}

export function toToml(header: string, document: TomlDocument): string {
  const lines: string[] = [];
  const sections: [string, Record<string, TomlScalar>][] = [];
  for (const [key, value] of Object.entries(document)) {
    if (typeof value === 'object') sections.push([key, value]);
    else lines.push(`${key} = ${scalar(value)}`);
  }
  for (const [name, values] of sections) {
    lines.push('', `[${name}]`, ...Object.entries(values).map(([key, value]) => `  ${key} = ${scalar(value)}`));
  }
  return `${header}${lines.join('\n')}\n`;
}
