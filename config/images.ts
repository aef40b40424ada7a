/**
 * The images the stack runs: the ONE place their tags live. CI's image workflow and
 * `npm run bump-image` edit the tags here, in a pull request, then recompile.
 */
import type { Images } from '../compiler/config/types.ts';

export const images: Images = {
  snap: { repository: 'ghcr.io/ms-stacklight/snap', tag: '0.1.0' },
  hindsight: { repository: 'ghcr.io/ms-stacklight/hindsight', tag: '0.1.0' },
  influxdb: { repository: 'ghcr.io/ms-stacklight/influxdb', tag: '0.1.0' },
  grafana: { repository: 'ghcr.io/ms-stacklight/grafana', tag: '0.1.0' },
};
