/**
 * Where InfluxDB answers: the in-cluster Service, or a remote URL. Hindsight's output and
 * Grafana's datasource both take their URL from here, so they cannot disagree.
 */
import type { StackConfig } from '../config/types.ts';
import { NAMES } from '../facts.ts';

/** The Service's DNS name, resolvable from the pods (host-network pods use ClusterFirstWithHostNet). */
function influxdbServiceHost(config: StackConfig): string {
  return `${NAMES.influxdb}.${config.namespaces.backend}.svc`;
}

export function influxdbUrl(config: StackConfig): string {
  if (!config.influxdb.enabled) return config.influxdb.url.replace(/\/+$/, '');
  return `http://${influxdbServiceHost(config)}:${config.influxdb.servicePort}`;
}
