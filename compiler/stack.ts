/**
 * The whole stack for one config: its two namespaces and every component's objects, in a
 * stable order.
 */
import type { StackConfig } from './config/types.ts';
import type { BuildInputs } from './inputs.ts';
import { collector } from './collector/index.ts';
import { influxdb } from './influxdb/index.ts';
import { grafana } from './grafana/index.ts';
import type { Manifest } from './kube/objects.ts';
import { LABELS, MANAGED_BY, PART_OF, POD_SECURITY, type PodSecurityLevel } from './facts.ts';

/** A namespace whose Pod Security level the API server enforces (and warns and audits at). */
function namespace(config: StackConfig, name: string, level: PodSecurityLevel): Manifest {
  const labels = {
    ...config.labels,
    [LABELS.partOf]: PART_OF,
    [LABELS.managedBy]: MANAGED_BY,
    [POD_SECURITY.enforce]: level,
    [POD_SECURITY.warn]: level,
    [POD_SECURITY.audit]: level,
  };
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function buildStack(config: StackConfig, inputs: BuildInputs): Manifest[] {
  return [
    // The collector needs the host's network, paths and ptrace, which even `baseline` forbids.
    namespace(config, config.namespaces.collector, 'privileged'),
    namespace(config, config.namespaces.backend, 'restricted'),
    ...collector(config, inputs),
    ...influxdb(config, inputs),
    ...grafana(config, inputs),
  ];
}
