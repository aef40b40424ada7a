/**
 * The whole stack for one config: its two namespaces and every component's objects, in a
 * stable order.
 */
import type { StackConfig } from './config/types.ts';
import type { BuildInputs } from './inputs.ts';
import { collector, type CollectorObjects } from './collector/index.ts';
import { influxdb, type InfluxDBObjects } from './influxdb/index.ts';
import { grafana, type GrafanaObjects } from './grafana/index.ts';
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

/** The stack's objects, by component and role. */
export interface StackObjects {
  namespaces: { collector: Manifest; backend: Manifest };
  collector: CollectorObjects;
  influxdb?: InfluxDBObjects;
  grafana: GrafanaObjects;
}

export function stackObjects(config: StackConfig, inputs: BuildInputs): StackObjects {
  return {
    namespaces: {
      // The collector needs the host's network, paths and ptrace, which even `baseline` forbids.
      collector: namespace(config, config.namespaces.collector, 'privileged'),
      backend: namespace(config, config.namespaces.backend, 'restricted'),
    },
    collector: collector(config, inputs),
    influxdb: influxdb(config, inputs),
    grafana: grafana(config, inputs),
  };
}

/** Every object of a named tree, in the tree's order. */
function flatten(tree: object | undefined): Manifest[] {
  if (!tree) return [];
  if ('apiVersion' in tree && 'kind' in tree) return [tree as Manifest];
  return Object.values(tree).flatMap((value) => flatten(value as object | undefined));
}

/** The whole stack as the list of objects the renderer writes. */
export function buildStack(config: StackConfig, inputs: BuildInputs): Manifest[] {
  return flatten(stackObjects(config, inputs));
}
