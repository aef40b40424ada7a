/**
 * prod: the production cluster. InfluxDB keeps its data on its node's disk.
 */
import type { EnvironmentOverrides } from '../../compiler/config/types.ts';

export const overrides: EnvironmentOverrides = {
  hindsight: {
    output: { staticTags: { cluster: 'prod', environment: 'prod' } },
  },
  influxdb: {
    retention: '90d',
    storage: { type: 'hostPath', path: '/var/lib/stacklight/influxdb' },
    resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '8Gi' } },
  },
  grafana: {
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  },
};
