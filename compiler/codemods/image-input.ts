/**
 * What `npm run bump-image` accepts: a component and a tag, a digest or both, checked before
 * anything is loaded or touched (see image-ref.ts for the edit itself).
 */
import type { ImageName } from '../config/types.ts';

export const IMAGE_NAMES = ['snap', 'hindsight', 'influxdb', 'grafana'] as const satisfies readonly ImageName[];
// Every image the config knows is here: this fails to type-check when ImageName grows.
const everyImage: Record<Exclude<ImageName, (typeof IMAGE_NAMES)[number]>, never> = {};
void everyImage;

/** As compiler/config/validate.ts checks them: a Docker tag, a sha256 digest. */
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface ImageUpdate {
  tag?: string;
  digest?: `sha256:${string}`;
}

export class BumpError extends Error {}

/** Parses `<tag>`, `sha256:<64 hex>` or `<tag>@sha256:<64 hex>`; throws a BumpError saying what is wrong. */
export function parseReference(component: string, reference: string): { component: ImageName; update: ImageUpdate } {
  if (!(IMAGE_NAMES as readonly string[]).includes(component)) {
    throw new BumpError(`unknown component "${component}": expected one of ${IMAGE_NAMES.join(', ')}`);
  }
  const [tag, digest] = reference.startsWith('sha256:') ? [undefined, reference] : reference.split(/@(?=sha256:)/, 2);
  if (tag !== undefined) {
    if (tag === 'latest') throw new BumpError('"latest" names no build: give a version tag or a digest');
    if (!TAG.test(tag)) {
      throw new BumpError(`"${tag}" is not an image tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`);
    }
  }
  if (digest !== undefined && !DIGEST.test(digest)) {
    throw new BumpError(`"${digest}" is not a digest: expected sha256: followed by 64 lower-case hex digits`);
  }
  return {
    component: component as ImageName,
    update: { ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest: digest as `sha256:${string}` }) },
  };
}
