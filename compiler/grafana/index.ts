/**
 * Grafana: one replica with SQLite on an emptyDir (everything it shows is provisioned), a
 * NodePort Service that keeps the client's address, a NetworkPolicy admitting the configured
 * client ranges only, HTTPS when configured, the InfluxDB datasource provisioned with the
 * READ-only user, and the dashboards (compiler/grafana/dashboards/) with a file provider.
 * Passwords are files from their Secrets: Grafana reads the admin's through its `__FILE`
 * variable and the datasource's through `$__file{}` in the provisioning file, so neither is in a
 * ConfigMap or the environment. start.sh (the image's entrypoint) sets the home dashboard.
 */
import type { V1Container, V1EnvVar, V1Volume } from '@kubernetes/client-node';
import type { StackConfig } from '../config/types.ts';
import { durationSeconds } from '../config/duration.ts';
import { CREDENTIALS, GRAFANA, NAMES } from '../facts.ts';
import { secretTexts, type BuildInputs } from '../inputs.ts';
import {
  configMap,
  imageReference,
  literalEnv,
  probe,
  startupProbe,
  resourceRequirements,
  restrictedSecurityContext,
  type Manifest,
} from '../kube/objects.ts';
import { ingressPolicy } from '../kube/network-policy.ts';
import { podTemplate, service, singleReplicaDeployment, storageVolume } from '../kube/workloads.ts';
import { generatedYaml } from '../render/yaml.ts';
import { influxdbUrl } from '../influxdb/endpoint.ts';
import { consumerSecrets, credentialFile, credentialsVolume, TLS_KEYS } from '../secrets/credentials.ts';
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
        // Read by Grafana from the file (the Secret's key, mounted), never written here.
        secureJsonData: { password: `$__file{${credentialFile('influxdbReader')}}` },
      },
    ],
  };
}

const TLS_VOLUME = 'tls';

/** The port's name says what it speaks: probes and the Service follow it. */
function portName(config: StackConfig): 'http' | 'https' {
  return config.grafana.tls.enabled ? 'https' : 'http';
}

function tlsEnv(config: StackConfig): V1EnvVar[] {
  const tls = config.grafana.tls;
  if (!tls.enabled) return [];
  return [
    literalEnv(GRAFANA.env.protocol, 'https'),
    literalEnv(GRAFANA.env.certFile, `${GRAFANA.tlsDir}/${TLS_KEYS.certificate}`),
    literalEnv(GRAFANA.env.certKey, `${GRAFANA.tlsDir}/${TLS_KEYS.key}`),
    literalEnv(GRAFANA.env.domain, tls.domain),
  ];
}

function tlsVolumes(config: StackConfig): V1Volume[] {
  const tls = config.grafana.tls;
  if (!tls.enabled) return [];
  const items = Object.values(TLS_KEYS).map((key) => ({ key, path: key }));
  // the key readable by Grafana's group only (fsGroup)
  return [{ name: TLS_VOLUME, secret: { secretName: tls.secret, items, defaultMode: 0o440 } }];
}

function grafanaContainer(config: StackConfig): V1Container {
  const settings = config.grafana;
  const { grafanaAdmin: admin } = config.credentials;
  const scheme = settings.tls.enabled ? 'HTTPS' : 'HTTP';
  const health = { httpGet: { path: '/api/health', port: portName(config), scheme } };
  return {
    name: 'grafana',
    image: imageReference(config.images.grafana),
    command: [GRAFANA.entrypoint],
    env: [
      literalEnv(GRAFANA.env.adminUser, admin.username),
      literalEnv(GRAFANA.env.adminPasswordFile, credentialFile('grafanaAdmin')),
      literalEnv('GF_PATHS_DATA', GRAFANA.dataDir),
      literalEnv('GF_PATHS_PROVISIONING', GRAFANA.provisioningDir),
      literalEnv('GF_DATABASE_TYPE', 'sqlite3'),
      literalEnv('GF_AUTH_ANONYMOUS_ENABLED', 'false'),
      literalEnv('GF_USERS_ALLOW_SIGN_UP', 'false'),
      literalEnv('GF_ANALYTICS_REPORTING_ENABLED', 'false'),
      literalEnv('GF_ANALYTICS_CHECK_FOR_UPDATES', 'false'),
      ...tlsEnv(config),
      literalEnv(GRAFANA.env.homeDashboardUid, HOME_DASHBOARD_UID),
      literalEnv(GRAFANA.env.datasourceUid, settings.datasource.uid),
    ],
    ports: [{ name: portName(config), containerPort: GRAFANA.port, protocol: 'TCP' }],
    resources: resourceRequirements(settings.resources),
    securityContext: restrictedSecurityContext(GRAFANA.user),
    volumeMounts: [
      { name: 'data', mountPath: GRAFANA.dataDir },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'provisioning', mountPath: GRAFANA.provisioningDir, readOnly: true },
      { name: 'dashboards', mountPath: GRAFANA.dashboardsDir, readOnly: true },
      { name: CREDENTIALS.volume, mountPath: CREDENTIALS.dir, readOnly: true },
      ...(settings.tls.enabled ? [{ name: TLS_VOLUME, mountPath: GRAFANA.tlsDir, readOnly: true }] : []),
    ],
    // Database migrations after an upgrade run before the API answers.
    startupProbe: startupProbe(health, GRAFANA.maxStartSeconds),
    readinessProbe: probe(health, 0),
    livenessProbe: { ...probe(health, 0), failureThreshold: 6 },
  };
}

/** Grafana's objects, by role. */
export interface GrafanaObjects {
  provisioning: Manifest;
  dashboards: Manifest;
  deployment: Manifest;
  service: Manifest;
  ingressPolicy: Manifest;
}

export function grafana(config: StackConfig, inputs: BuildInputs): GrafanaObjects {
  const settings = config.grafana;
  const provisioning = {
    [PROVISIONING.datasource[0]]: generatedYaml(datasourceProvisioning(config)),
    [PROVISIONING.dashboards[0]]: generatedYaml(dashboardProvisioning()),
  };
  const dashboards = Object.fromEntries(dashboardFiles(config).map(({ file, json }) => [file, json]));
  const hashed = [provisioning, dashboards, ...secretTexts(inputs, consumerSecrets(config, COMPONENT))];
  // One replica, Recreate: each pod has its own SQLite, two at once would show two states.
  const deployment = singleReplicaDeployment(
    config,
    COMPONENT,
    podTemplate(config, COMPONENT, hashed, {
      ...(settings.nodeSelector && { nodeSelector: { [settings.nodeSelector.key]: settings.nodeSelector.value } }),
      securityContext: { runAsNonRoot: true, fsGroup: GRAFANA.user },
      containers: [grafanaContainer(config)],
      volumes: [
        storageVolume('data', { type: 'emptyDir', sizeLimit: settings.sqliteSizeLimit }),
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
        {
          name: 'provisioning',
          configMap: { name: NAMES.grafanaProvisioning, items: Object.values(PROVISIONING).map(([key, path]) => ({ key, path })) },
        },
        { name: 'dashboards', configMap: { name: NAMES.grafanaDashboards } },
        credentialsVolume(config, ['grafanaAdmin', 'influxdbReader']),
        ...tlsVolumes(config),
      ],
    }),
  );
  // Local: the client's address reaches the pod (not the node's, after a hop), so the
  // NetworkPolicy's client ranges mean what they say; the port answers on Grafana's node.
  const nodePort = service(
    config,
    COMPONENT,
    'NodePort',
    { name: portName(config), port: GRAFANA.servicePort, targetPort: portName(config), nodePort: settings.nodePort },
    { externalTrafficPolicy: 'Local' },
  );
  const { grafanaClientCidrs, podCidrs } = config.networkPolicy;
  return {
    provisioning: configMap(config, NAMES.grafanaProvisioning, COMPONENT, provisioning),
    dashboards: configMap(config, NAMES.grafanaDashboards, COMPONENT, dashboards),
    deployment,
    service: nodePort,
    ingressPolicy: ingressPolicy(config, NAMES.grafanaIngressPolicy, COMPONENT, GRAFANA.port, {
      cidrs: grafanaClientCidrs,
      exceptPodCidrs: podCidrs,
    }),
  };
}
