/**
 * The dashboards the stack provisions, as JSON files for Grafana's file provider.
 */
import type { StackConfig } from '../../config/types.ts';
import { dashboardContext } from './panels.ts';
import { nodeDashboard, NODE_DASHBOARD_UID } from './node.ts';
import { clusterDashboard, CLUSTER_DASHBOARD_UID } from './cluster.ts';
import { pipelineDashboard, PIPELINE_DASHBOARD_UID } from './pipeline.ts';

/** Grafana's home page: every node at a glance. */
export const HOME_DASHBOARD_UID = CLUSTER_DASHBOARD_UID;

export interface DashboardFile {
  uid: string;
  file: string;
  json: string;
}

export function dashboardFiles(config: StackConfig): DashboardFile[] {
  const context = dashboardContext(config);
  return [
    { uid: CLUSTER_DASHBOARD_UID, dashboard: clusterDashboard(context) },
    { uid: NODE_DASHBOARD_UID, dashboard: nodeDashboard(context) },
    { uid: PIPELINE_DASHBOARD_UID, dashboard: pipelineDashboard(context) },
  ].map(({ uid, dashboard }) => ({ uid, file: `${uid}.json`, json: `${JSON.stringify(dashboard, null, 2)}\n` }));
}
