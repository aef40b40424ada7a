/**
 * dev: a small cluster for trying changes. Data is disposable.
 */
import type { EnvironmentOverrides } from '../../compiler/config/types.ts';

export const overrides: EnvironmentOverrides = {
  collector: {
    logLevel: 'info',
    hindsightState: { type: 'emptyDir', sizeLimit: '1Gi' },
  },
  hindsight: {
    output: { staticTags: { cluster: 'dev', environment: 'dev' } },
  },
  influxdb: {
    retention: '7d',
    storage: { type: 'emptyDir', sizeLimit: '10Gi' },
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  },
};
