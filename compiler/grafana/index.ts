/**
 * Grafana: one replica with SQLite on an emptyDir (everything it shows is provisioned), a
 * NodePort Service, the InfluxDB datasource provisioned with the READ-only user, and the
 * dashboards (compiler/grafana/dashboards/) with a file provider. The datasource's password
 * reaches the provisioning file through Grafana's environment expansion, so it is in the Secret
 * only, never in a ConfigMap. start.sh (the image's entrypoint) sets the home dashboard.
 */
import type { StackConfig } from '../config/types.ts';
import { durationSeconds } from '../config/duration.ts';
import { GRAFANA, NAMES } from '../facts.ts';
import { secretTexts, type BuildInputs } from '../inputs.ts';
import {
  configMap,
  imageReference,
  literalEnv,
  probe,
  startupProbe,
  resourceRequirements,
  restrictedSecurityContext,
  secretEnv,
  type Manifest,
} from '../kube/objects.ts';
import { podTemplate, service, singleReplicaDeployment, storageVolume } from '../kube/workloads.ts';
import { generatedYaml } from '../render/yaml.ts';
import { influxdbUrl } from '../influxdb/endpoint.ts';
import { credentialSecrets } from '../secrets/credentials.ts';
import { dashboardFiles, HOME_DASHBOARD_UID } from './dashboards/index.ts';

const COMPONENT = NAMES.grafana;
/** Provisioning files: ConfigMap key → path under the provisioning directory. */
const PROVISIONING = { datasource: ['datasource.yaml', 'datasources/stacklight.yaml'], dashboards: ['dashboards.yaml', 'dashboards/stacklight.yaml'] } as const;

/** The file provider that loads the dashboards, read-only: they change through config, not the UI. */
export function dashboardProvisioning() {
  return {
    apiVersion: 1,
    providers: [
      {
        name: 'stacklight',
        orgId: 1,
        folder: 'Stacklight',
        type: 'file',
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 60,
        options: { path: GRAFANA.dashboardsDir, foldersFromFilesStructure: false },
      },
    ],
  };
}

export function datasourceProvisioning(config: StackConfig) {
  const { datasource } = config.grafana;
  return {
    apiVersion: 1,
    datasources: [
      {
        name: datasource.name,
        uid: datasource.uid,
        type: 'influxdb',
        access: 'proxy',
        url: influxdbUrl(config),
        user: config.credentials.influxdbReader.username,
        isDefault: true,
        editable: false,
        jsonData: {
          dbName: config.influxdb.database,
          httpMode: 'GET',
          // No query may ask for a finer interval than the points are collected at.
          timeInterval: `${durationSeconds(config.collector.interval)}s`,
        },
        // Expanded by Grafana from the container's environment (a Secret key).
        secureJsonData: { password: `$${GRAFANA.env.readerPassword}` },
      },
    ],
  };
}

export function grafana(config: StackConfig, inputs: BuildInputs): Manifest[] {
  const settings = config.grafana;
  const { grafanaAdmin: admin, influxdbReader: reader } = config.credentials;
  const provisioning = {
    [PROVISIONING.datasource[0]]: generatedYaml(datasourceProvisioning(config)),
    [PROVISIONING.dashboards[0]]: generatedYaml(dashboardProvisioning()),
  };
  const dashboards = Object.fromEntries(dashboardFiles(config).map(({ file, json }) => [file, json]));
  const health = { httpGet: { path: '/api/health', port: 'http' } };
  const hashed = [provisioning, dashboards, ...secretTexts(inputs, credentialSecrets(config, 'grafana'))];
  // One replica, Recreate: each pod has its own SQLite, two at once would show two states.
  const deployment = singleReplicaDeployment(
    config,
    COMPONENT,
    podTemplate(config, COMPONENT, hashed, {
      securityContext: { fsGroup: GRAFANA.user },
      containers: [
        {
          name: 'grafana',
          image: imageReference(config.images.grafana),
          command: [GRAFANA.entrypoint],
          env: [
            literalEnv(GRAFANA.env.adminUser, admin.username),
            secretEnv(GRAFANA.env.adminPassword, admin.secret, admin.key),
            secretEnv(GRAFANA.env.readerPassword, reader.secret, reader.key),
            literalEnv('GF_PATHS_DATA', GRAFANA.dataDir),
            literalEnv('GF_PATHS_PROVISIONING', GRAFANA.provisioningDir),
            literalEnv('GF_DATABASE_TYPE', 'sqlite3'),
            literalEnv('GF_AUTH_ANONYMOUS_ENABLED', 'false'),
            literalEnv('GF_USERS_ALLOW_SIGN_UP', 'false'),
            literalEnv('GF_ANALYTICS_REPORTING_ENABLED', 'false'),
            literalEnv('GF_ANALYTICS_CHECK_FOR_UPDATES', 'false'),
            literalEnv(GRAFANA.env.homeDashboardUid, HOME_DASHBOARD_UID),
            literalEnv(GRAFANA.env.datasourceUid, config.grafana.datasource.uid),
          ],
          ports: [{ name: 'http', containerPort: GRAFANA.port, protocol: 'TCP' }],
          resources: resourceRequirements(settings.resources),
          securityContext: restrictedSecurityContext(GRAFANA.user),
          volumeMounts: [
            { name: 'data', mountPath: GRAFANA.dataDir },
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'provisioning', mountPath: GRAFANA.provisioningDir, readOnly: true },
            { name: 'dashboards', mountPath: GRAFANA.dashboardsDir, readOnly: true },
          ],
          // Database migrations after an upgrade run before the API answers.
          startupProbe: startupProbe(health, GRAFANA.maxStartSeconds),
          readinessProbe: probe(health, 0),
          livenessProbe: { ...probe(health, 0), failureThreshold: 6 },
        },
      ],
      volumes: [
        storageVolume('data', { type: 'emptyDir', sizeLimit: settings.sqliteSizeLimit }),
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
        {
          name: 'provisioning',
          configMap: { name: NAMES.grafanaProvisioning, items: Object.values(PROVISIONING).map(([key, path]) => ({ key, path })) },
        },
        { name: 'dashboards', configMap: { name: NAMES.grafanaDashboards } },
      ],
    }),
  );
  const nodePort = service(config, COMPONENT, 'NodePort', { name: 'http', port: GRAFANA.servicePort, targetPort: 'http', nodePort: settings.nodePort });
  return [
    configMap(config, NAMES.grafanaProvisioning, COMPONENT, provisioning),
    configMap(config, NAMES.grafanaDashboards, COMPONENT, dashboards),
    deployment,
    nodePort,
  ];
}
