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
  networkPolicy: {
    acceptedBecause: 'dev clusters are kubeadm clusters on the private 10.x range with the default pod network (10.244.0.0/16); their data is disposable',
  },
  influxdb: {
    retention: '7d',
    storage: { type: 'emptyDir', sizeLimit: '10Gi' },
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  },
};
