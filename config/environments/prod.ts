/**
 * prod: the production cluster. InfluxDB keeps its data on its node's disk.
 */
import type { EnvironmentOverrides } from '../../compiler/config/types.ts';

export const overrides: EnvironmentOverrides = {
  hindsight: {
    output: { staticTags: { cluster: 'prod', environment: 'prod' } },
  },
  // Written out so that a reviewer sees what prod admits. They are config/stack.ts's placeholders:
  // replace them with type 'cluster', the cluster's ranges and the reason once its owner states them.
  networkPolicy: {
    type: 'placeholder',
    nodeCidrs: ['10.0.0.0/8'],
    podCidrs: ['10.244.0.0/16'],
    grafanaClientCidrs: ['10.0.0.0/8'],
    acceptedBecause:
      "prod's nodes and operators are on the private 10.x network and its pods on kubeadm's 10.244.0.0/16; " +
      "the nodes' own subnet and the operators' VPN range are not recorded here yet",
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
