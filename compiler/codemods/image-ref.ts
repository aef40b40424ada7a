/**
 * The image-reference codemod behind `npm run bump-image`: sets the tag and/or digest of one
 * image in config/images.ts. ts-morph finds the exact string literals in the syntax tree; the
 * edit splices only those characters into the original text, so comments, quotes, spacing and
 * every other line stay byte for byte as they were (a one-line diff).
 *
 * - a tag replaces the `tag: '…'` value, and drops a `digest` on the same object: a digest
 *   picks the content whatever the tag says, so an old one would silently keep the old image;
 * - a digest sets (or replaces) `digest: '…'`, written right after the tag, on the same line;
 * - `<tag>@sha256:<digest>` does both at once.
 */
import { Node, Project, type Expression, type ObjectLiteralExpression, type PropertyAssignment } from 'ts-morph';
import type { ImageName } from '../config/types.ts';
import { BumpError, type ImageUpdate } from './image-input.ts';

function unwrap(expression: Expression | undefined): Expression | undefined {
  let current = expression;
  while (current && (Node.isSatisfiesExpression(current) || Node.isAsExpression(current) || Node.isParenthesizedExpression(current))) {
    current = current.getExpression();
  }
  return current;
}

function propertyName(property: PropertyAssignment): string {
  const name = property.getNameNode();
  return Node.isStringLiteral(name) || Node.isNoSubstitutionTemplateLiteral(name) ? name.getLiteralText() : name.getText();
}

function property(object: ObjectLiteralExpression, name: string): PropertyAssignment | undefined {
  return object.getProperties().find((p): p is PropertyAssignment => Node.isPropertyAssignment(p) && propertyName(p) === name);
}

function stringValue(property: PropertyAssignment | undefined, where: string): { node: Node; value: string; quote: string } | undefined {
  if (!property) return undefined;
  const initializer = property.getInitializer();
  if (!initializer || !(Node.isStringLiteral(initializer) || Node.isNoSubstitutionTemplateLiteral(initializer))) {
    throw new BumpError(`${where}: ${propertyName(property)} is not a string literal; edit it by hand`);
  }
  return { node: initializer, value: initializer.getLiteralText(), quote: initializer.getText().charAt(0) };
}

interface Splice {
  start: number;
  end: number;
  text: string;
}

export interface ImageEdit {
  /** The whole new file. */
  text: string;
  /** 1-based line numbers of the changed lines, and their text before and after. */
  changes: { line: number; before: string; after: string }[];
  /** What the component's reference was and is. */
  before: ImageUpdate;
  after: ImageUpdate;
}

/** The object literal of one image in images.ts, found through the syntax tree. */
function imageObject(text: string, file: string, component: ImageName) {
  // Syntax only: no lib, no type check, so a program is cheap to make.
  const project = new Project({
    useInMemoryFileSystem: true,
    skipAddingFilesFromTsConfig: true,
    compilerOptions: { noLib: true, types: [] },
  });
  const source = project.createSourceFile('images.ts', text);
  const [syntaxError] = project.getProgram().getSyntacticDiagnostics(source);
  if (syntaxError) {
    const message = syntaxError.getMessageText();
    throw new BumpError(`${file}:${syntaxError.getLineNumber() ?? '?'}: ${typeof message === 'string' ? message : message.getMessageText()}`);
  }
  const declaration = source.getVariableDeclaration('images');
  const images = unwrap(declaration?.getInitializer());
  if (!images || !Node.isObjectLiteralExpression(images)) throw new BumpError(`${file}: no \`export const images = { ... }\` object found`);
  const entry = property(images, component);
  const value = unwrap(entry?.getInitializer());
  if (!entry || !value || !Node.isObjectLiteralExpression(value)) throw new BumpError(`${file}: no \`${component}: { ... }\` entry in images`);
  return value;
}

/** The component's current tag and digest. */
export function readImage(text: string, file: string, component: ImageName): ImageUpdate {
  const object = imageObject(text, file, component);
  const tag = stringValue(property(object, 'tag'), `${file} ${component}`);
  const digest = stringValue(property(object, 'digest'), `${file} ${component}`);
  return { ...(tag && { tag: tag.value }), ...(digest && { digest: digest.value as `sha256:${string}` }) };
}

/** The file with the component's reference updated; `changes` is empty when it already was. */
export function editImage(text: string, file: string, component: ImageName, update: ImageUpdate): ImageEdit {
  const object = imageObject(text, file, component);
  const where = `${file} ${component}`;
  const tagProperty = property(object, 'tag');
  const digestProperty = property(object, 'digest');
  const tag = stringValue(tagProperty, where);
  const digest = stringValue(digestProperty, where);
  if (!tag || !tagProperty) throw new BumpError(`${where}: no \`tag: '...'\` property`);
  const splices: Splice[] = [];
  const literal = (quote: string, value: string) => `${quote}${value}${quote}`;

  if (update.tag !== undefined && update.tag !== tag.value) {
    splices.push({ start: tag.node.getStart(), end: tag.node.getEnd(), text: literal(tag.quote, update.tag) });
  }
  if (update.digest !== undefined) {
    if (digest && digest.value !== update.digest) {
      splices.push({ start: digest.node.getStart(), end: digest.node.getEnd(), text: literal(digest.quote, update.digest) });
    } else if (!digest) {
      splices.push({ start: tagProperty.getEnd(), end: tagProperty.getEnd(), text: `, digest: ${literal(tag.quote, update.digest)}` });
    }
  } else if (update.tag !== undefined && digestProperty && update.tag !== tag.value) {
    // A new tag with the old digest would still run the old image: the digest goes.
    const properties = object.getProperties();
    const index = properties.indexOf(digestProperty);
    const previous = properties[index - 1];
    const next = properties[index + 1];
    if (previous) splices.push({ start: previous.getEnd(), end: digestProperty.getEnd(), text: '' });
    else splices.push({ start: digestProperty.getStart(), end: next ? next.getStart() : digestProperty.getEnd(), text: '' });
  }

  let result = text;
  for (const splice of [...splices].sort((a, b) => b.start - a.start)) {
    result = result.slice(0, splice.start) + splice.text + result.slice(splice.end);
  }
  const before = readImage(text, file, component);
  const after = readImage(result, file, component);
  const expected = { ...before, ...update };
  if (update.tag !== undefined && update.tag !== before.tag && update.digest === undefined) delete expected.digest;
  if (after.tag !== expected.tag || after.digest !== expected.digest) {
    throw new BumpError(`${where}: the edit did not produce ${JSON.stringify(expected)} (got ${JSON.stringify(after)}); edit it by hand`);
  }
  return { text: result, changes: changedLines(text, result), before, after };
}

function changedLines(before: string, after: string): ImageEdit['changes'] {
  const [a, b] = [before.split('\n'), after.split('\n')];
  if (a.length !== b.length) {
    // Only a property removed across lines changes the count; report the region.
    let start = 0;
    while (start < a.length && a[start] === b[start]) start++;
    return [{ line: start + 1, before: a.slice(start, start + a.length - b.length + 1).join('\n'), after: b[start] ?? '' }];
  }
  return a.flatMap((line, index) => (line === b[index] ? [] : [{ line: index + 1, before: line, after: b[index]! }]));
}
