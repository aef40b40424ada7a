/**
 * The whole stack for one config: every component's objects, in a stable order.
 */
import type { StackConfig } from './config/types.ts';
import type { BuildInputs } from './inputs.ts';
import { collector } from './collector/index.ts';
import { influxdb } from './influxdb/index.ts';
import { grafana } from './grafana/index.ts';
import type { Manifest } from './kube/objects.ts';
import { LABELS, MANAGED_BY, PART_OF } from './facts.ts';

function namespace(config: StackConfig): Manifest {
  const labels = {
    ...config.labels,
    [LABELS.partOf]: PART_OF,
    [LABELS.managedBy]: MANAGED_BY,
    // The collector needs hostNetwork and hostPath volumes, which the baseline level forbids.
    'pod-security.kubernetes.io/enforce': 'privileged',
  };
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: config.namespace, labels } };
}

export function buildStack(config: StackConfig, inputs: BuildInputs): Manifest[] {
  return [namespace(config), ...collector(config, inputs), ...influxdb(config, inputs), ...grafana(config, inputs)];
}
