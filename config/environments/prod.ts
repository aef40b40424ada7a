/**
 * prod: the production cluster. InfluxDB keeps its data on its node's disk.
 */
import type { EnvironmentOverrides } from '../../compiler/config/types.ts';

export const overrides: EnvironmentOverrides = {
  hindsight: {
    output: { staticTags: { cluster: 'prod', environment: 'prod' } },
  },
  networkPolicy: {
    type: 'cluster',
    nodeCidrs: ['10.0.0.0/8'],
    podCidrs: ['10.244.0.0/16'],
    grafanaClientCidrs: ['10.0.0.0/8'],
    reason:
      'the ranges prod has run with since its first release: nodes and operators on the private 10.x network, pods on ' +
      "kubeadm's 10.244.0.0/16; narrow nodeCidrs to the nodes' subnet and grafanaClientCidrs to the operators' VPN when the cluster's owner confirms them",
  },
  influxdb: {
    retention: '90d',
    // The data directory that earlier releases used as a hostPath: the data stays where it is.
    storage: { type: 'localVolume', path: '/var/lib/stacklight/influxdb', capacity: '500Gi' },
    resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '8Gi' } },
  },
  grafana: {
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  },
};
