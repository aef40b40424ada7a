/**
 * The images' Dockerfiles and shell scripts as data, for the static and contract tests:
 * parsed with dockerfile-ast, split into stages, with build-argument defaults substituted into
 * FROM lines, and the environment variables each script reads.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DockerfileParser, Keyword, type Dockerfile, type Instruction } from 'dockerfile-ast';
import { IMAGES } from './support.ts';

export const IMAGE_NAMES = ['snap', 'hindsight', 'influxdb', 'grafana'] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

/** Images compiled from source: multi-stage, no toolchain in the final stage. */
export const COMPILED: readonly ImageName[] = ['snap', 'hindsight'];

export interface Stage {
  /** The FROM line's image, build arguments substituted. */
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  text: string;
  dockerfile: Dockerfile;
  /** Build arguments declared before the first FROM, with their defaults. */
  args: Map<string, string>;
  stages: Stage[];
  final: Stage;
}

const KEYWORDS = new Set<string>(Object.values(Keyword));

export function substitute(text: string, args: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    return args.get(name) ?? whole;
  });
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const dockerfile = DockerfileParser.parse(text);
  const args = new Map<string, string>();
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    if (property) args.set(property.getName(), property.getValue() ?? '');
  }
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === Keyword.FROM) {
      const values = instruction.getArguments().map((argument) => argument.getValue());
      const asIndex = values.findIndex((value) => value.toUpperCase() === 'AS');
      stages.push({
        image: substitute(values[0] ?? '', args),
        name: asIndex >= 0 ? values[asIndex + 1] : undefined,
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  const final = stages.at(-1);
  if (!final) throw new Error('no FROM');
  return { text, dockerfile, args, stages, final };
}

export function readDockerfile(image: ImageName): ParsedDockerfile {
  return parseDockerfile(readFileSync(path.join(IMAGES, image, 'Dockerfile'), 'utf8'));
}

/** Problems that make a Dockerfile unparseable or ambiguous to a builder. */
export function parseProblems(parsed: ParsedDockerfile): string[] {
  const problems: string[] = [];
  const instructions = parsed.dockerfile.getInstructions();
  if (instructions.length === 0) problems.push('no instruction');
  for (const instruction of instructions) {
    const keyword = instruction.getKeyword();
    const line = instruction.getRange().start.line + 1;
    if (!KEYWORDS.has(keyword)) problems.push(`line ${line}: unknown instruction ${instruction.getInstruction()}`);
    if (instruction.getArguments().length === 0) problems.push(`line ${line}: ${keyword} without arguments`);
    if (keyword === Keyword.ENTRYPOINT || keyword === Keyword.CMD) {
      const raw = instruction.getRawArgumentsContent() ?? '';
      try {
        const value: unknown = JSON.parse(raw);
        if (!Array.isArray(value)) problems.push(`line ${line}: ${keyword} is not an exec-form JSON array`);
      } catch {
        problems.push(`line ${line}: ${keyword} is not valid exec-form JSON`);
      }
    }
  }
  const first = instructions.find((instruction) => instruction.getKeyword() !== Keyword.ARG);
  if (first?.getKeyword() !== Keyword.FROM) problems.push('the first instruction after the ARGs is not FROM');
  return problems;
}

/** The value of a flag such as --from or --chmod on an instruction. */
export function flag(instruction: Instruction, name: string): string | undefined {
  const flags = (instruction as Instruction & { getFlags?: () => { getName(): string; getValue(): string | null }[] }).getFlags?.() ?? [];
  return flags.find((candidate) => candidate.getName() === name)?.getValue() ?? undefined;
}

export function argumentsOf(instruction: Instruction): string[] {
  return instruction.getArguments().map((argument) => argument.getValue());
}

export function instructionsOf(stage: Stage, keyword: Keyword): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.getKeyword() === keyword);
}

/** Exec-form JSON arguments of ENTRYPOINT/CMD/HEALTHCHECK CMD. */
export function execForm(instruction: Instruction): string[] {
  const raw = instruction.getRawArgumentsContent() ?? '';
  const json = raw.slice(raw.indexOf('['));
  return JSON.parse(json) as string[];
}

/** The shared script every image installs Debian packages with, and how a RUN must mount it. */
export const APT_SNAPSHOT = { script: 'apt-snapshot.sh', mount: 'type=bind,from=shared,target=/mnt/shared', context: 'shared=images/shared' } as const;

/**
 * Debian packages come from the pinned snapshot, through images/shared/apt-snapshot.sh only: a
 * RUN that calls apt itself, or edits apt's sources, would bypass the one pin.
 */
export function aptProblems(parsed: ParsedDockerfile): string[] {
  const problems: string[] = [];
  for (const run of parsed.stages.flatMap((stage) => instructionsOf(stage, Keyword.RUN))) {
    const text = run.getRawArgumentsContent() ?? '';
    const line = run.getRange().start.line + 1;
    if (/\bapt(-get)?\s+(update|install|upgrade)\b|sources\.list/.test(text)) {
      problems.push(`line ${line}: installs Debian packages without images/shared/${APT_SNAPSHOT.script}`);
    }
    if (text.includes(APT_SNAPSHOT.script) && flag(run, 'mount') !== APT_SNAPSHOT.mount) {
      problems.push(`line ${line}: runs ${APT_SNAPSHOT.script} without --mount=${APT_SNAPSHOT.mount}`);
    }
  }
  return problems;
}

/** Destination paths of the final stage's COPY instructions. */
export function copyDestinations(stage: Stage): string[] {
  return instructionsOf(stage, Keyword.COPY).map((instruction) => argumentsOf(instruction).at(-1) ?? '');
}

/** The final stage's USER (the last one), as "uid[:gid]". */
export function finalUser(parsed: ParsedDockerfile): string | undefined {
  return instructionsOf(parsed.final, Keyword.USER).map((instruction) => argumentsOf(instruction)[0]).at(-1);
}

export function exposedPorts(parsed: ParsedDockerfile): number[] {
  return instructionsOf(parsed.final, Keyword.EXPOSE)
    .flatMap((instruction) => argumentsOf(instruction))
    .map((port) => Number.parseInt(port, 10));
}

/** Every shell script under images/, relative to it. */
export function shellScripts(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (entry.endsWith('.sh') || /^#!.*\b(ba)?sh\b/.test(readFileSync(full, 'utf8').split('\n', 1)[0] ?? '')) {
        found.push(path.relative(IMAGES, full));
      }
    }
  };
  walk(IMAGES);
  return found.sort();
}

export interface ScriptVariable {
  name: string;
  /** The default after ":-", or undefined when the script has none (a required variable). */
  defaultValue: string | undefined;
}

/**
 * Environment variables a script reads. The images' scripts read their environment only as
 * ${NAME:-default}, ${NAME:-} (required, checked by the script) or ${NAME:?message}; plain
 * $NAME / ${NAME} are the scripts' own variables.
 */
export function scriptVariables(text: string): Map<string, ScriptVariable> {
  const variables = new Map<string, ScriptVariable>();
  for (const match of text.matchAll(/\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*)|:\?[^}]*)\}/g)) {
    const name = match[1] ?? '';
    const defaultValue = match[2] === '' ? undefined : match[2];
    const known = variables.get(name);
    if (!known || (known.defaultValue === undefined && defaultValue !== undefined)) variables.set(name, { name, defaultValue });
  }
  return variables;
}

export function readScript(relative: string): string {
  return readFileSync(path.join(IMAGES, relative), 'utf8');
}
