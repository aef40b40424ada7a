/**
 * Facts the manifests and the images (images/) must agree on, each stated once. Everything
 * else derives from these: a path, port, user or name is never written twice.
 */

/** The project's own label and annotation prefix. */
export const DOMAIN = 'stacklight.ms';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  environment: `${DOMAIN}/environment`,
} as const;

export const ANNOTATIONS = {
  /** On pod templates: a digest of every ConfigMap and Secret the pod reads, so changes roll it. */
  configHash: `${DOMAIN}/config-hash`,
} as const;

/** Pod Security Admission's namespace labels: the API server enforces the level they name. */
export const POD_SECURITY = {
  enforce: 'pod-security.kubernetes.io/enforce',
  warn: 'pod-security.kubernetes.io/warn',
  audit: 'pod-security.kubernetes.io/audit',
} as const;
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

export const PART_OF = 'stacklight';
export const MANAGED_BY = 'ms-stacklight-compiler';

/** Object names. */
export const NAMES = {
  collector: 'collector',
  snapConfig: 'snap-config',
  hindsightConfig: 'hindsight-config',
  influxdb: 'influxdb',
  influxdbConfig: 'influxdb-config',
  grafana: 'grafana',
  grafanaProvisioning: 'grafana-provisioning',
  grafanaDashboards: 'grafana-dashboards',
  influxdbIngressPolicy: 'influxdb-ingress',
  grafanaIngressPolicy: 'grafana-ingress',
  /** The claim of InfluxDB's local PersistentVolume (plus a digest of its settings); the volume is named after it. */
  influxdbData: 'influxdb-data',
} as const;

/**
 * Where every pod finds the passwords it reads: one read-only projected volume of only the keys it
 * needs, one file per credential (credentialFile in compiler/secrets/credentials.ts names it).
 * No password is ever in an environment variable.
 */
export const CREDENTIALS = { volume: 'credentials', dir: '/etc/stacklight/credentials' } as const;

/** Flux's side: where its objects live and the Secret holding the age key it decrypts with. */
export const FLUX = {
  namespace: 'flux-system',
  sourceName: 'stacklight',
  decryptionSecret: 'sops-age',
  /** Flux reads age keys from Secret keys ending in `.agekey`. */
  ageKeyFile: 'age.agekey',
  /**
   * kustomize-controller's feature gates: a new revision cancels a running health check, so a fix
   * for a stuck rollout is applied at once instead of after the Kustomization's timeout.
   */
  kustomizeControllerFeatureGates: 'CancelHealthCheckOnNewRevision=true',
} as const;

/** Argo CD's side. */
export const ARGOCD = {
  /** The Argo CD release the bootstrap installs: the one the tests run (test/cluster/modules/argocd). */
  version: 'v3.5.8',
  namespace: 'argocd',
  project: 'stacklight',
  /** The in-cluster API server, as Argo CD names it. */
  destinationServer: 'https://kubernetes.default.svc',
  /**
   * The config management plugin that builds an overlay with its SOPS Secrets decrypted (Argo CD
   * has no SOPS support of its own): its name (the Application names it), the ConfigMap holding
   * its plugin.yaml, and the repo server sidecar that serves it.
   */
  plugin: { name: 'stacklight-sops', configMap: 'stacklight-sops-plugin', sidecar: 'stacklight-sops' },
  /** The image that builds the plugin's sops and kustomize and runs its sidecar (Go and a shell). */
  toolsImage: 'docker.io/library/golang:1.26-bookworm',
  /** The Secret holding the age key the plugin decrypts with, and its key: SOPS's default key file name. */
  ageKeySecret: 'sops-age',
  ageKeyFile: 'keys.txt',
} as const;

/** The snap image (images/snap): where its binaries look for their files. */
export const SNAP = {
  /** The image's unprivileged user, used when no collected family needs more. */
  user: 65534,
  entrypoint: '/usr/local/bin/snap-entrypoint',
  healthcheck: '/usr/local/bin/snap-healthcheck',
  /**
   * The snapd config as compiled (the snap-config ConfigMap): a template whose REST API password
   * is the placeholder below. The entrypoint renders it, with the password read from
   * `apiPasswordFileEnv`'s file, into `configFile` (a memory emptyDir, mode 0600) before snapd starts.
   */
  configTemplate: '/etc/snap/snapd.yaml',
  configTemplateEnv: 'SNAP_CONFIG_TEMPLATE',
  configFile: '/run/snap/snapd.yaml',
  configFileEnv: 'SNAP_CONFIG',
  configDir: '/run/snap',
  apiPasswordPlaceholder: '${SNAP_API_PASSWORD}',
  /** The environment variable naming the REST API password's file (the entrypoint and the healthcheck read it). */
  apiPasswordFileEnv: 'SNAP_API_PASSWORD_FILE',
  /** Any user name is accepted by snapd's basic auth; snaptel sends this one. */
  apiUser: 'snap',
  /** Task templates from the ConfigMap; the entrypoint fills in the node name. */
  taskTemplateDir: '/etc/snap/task-templates',
  /** Rendered tasks (an emptyDir); snapd loads them through auto_discover_path. */
  taskDir: '/var/lib/snap/tasks',
  /** Plugins built into the image. */
  pluginDir: '/opt/snap/plugins',
  /** In task templates, replaced by the entrypoint with $NODE_NAME. */
  nodeNamePlaceholder: '${NODE_NAME}',
  nodeNameEnv: 'NODE_NAME',
  /** The Snap tag carrying the node's name on every metric (and so the InfluxDB tag). */
  nodeTag: 'hostname',
  apiPortEnv: 'SNAP_API_PORT',
} as const;

/** The hindsight image (images/hindsight). */
export const HINDSIGHT = {
  user: 65532,
  entrypoint: '/usr/local/bin/hindsight-entrypoint',
  healthcheck: '/usr/local/bin/hindsight-healthcheck',
  /** hindsight.cfg, plugin cfgs and Lua files from the hindsight-config ConfigMap. */
  configDir: '/etc/hindsight',
  /** The sandbox run directory (an emptyDir): the entrypoint copies the plugin cfgs in. */
  runDir: '/var/run/hindsight',
  /** Queues and checkpoints: the state volume. */
  outputDir: '/var/lib/hindsight',
  /** Where lua_sandbox_extensions install their sandboxes (heka_tcp.lua is in input/). */
  installDir: '/usr/share/luasandbox/sandboxes/heka',
  /** lua_sandbox_extensions' modules for input and output sandboxes (socket, ...). */
  moduleDir: '/usr/lib/luasandbox/io_modules',
  /** lua_sandbox_extensions' plain modules (cjson, lpeg, lfs, heka helpers), for every sandbox. */
  plainModuleDir: '/usr/lib/luasandbox/modules',
  /** Our own Lua modules, from the ConfigMap. */
  projectModuleDir: '/etc/hindsight/modules',
} as const;

/** The influxdb image (images/influxdb). */
export const INFLUXDB = {
  user: 999,
  port: 8086,
  /** How long a start may take before liveness counts: opening a large data directory (30 min). */
  maxStartSeconds: 1800,
  configFile: '/etc/influxdb/influxdb.conf',
  dataDir: '/var/lib/influxdb',
  /** Environment the image's bootstrap reads: passwords as the paths of their files, never values. */
  env: {
    database: 'INFLUXDB_DB',
    retentionPolicy: 'INFLUXDB_RP',
    retention: 'INFLUXDB_RETENTION',
    adminUser: 'INFLUXDB_ADMIN_USER',
    adminPasswordFile: 'INFLUXDB_ADMIN_PASSWORD_FILE',
    writerUser: 'INFLUXDB_WRITE_USER',
    writerPasswordFile: 'INFLUXDB_WRITE_USER_PASSWORD_FILE',
    readerUser: 'INFLUXDB_READ_USER',
    readerPasswordFile: 'INFLUXDB_READ_USER_PASSWORD_FILE',
  },
} as const;

/** The grafana image (images/grafana). */
export const GRAFANA = {
  user: 472,
  port: 3000,
  /** How long a start may take before liveness counts: database migrations after an upgrade (10 min). */
  maxStartSeconds: 600,
  servicePort: 3000,
  /** images/grafana/start.sh: starts Grafana, then configures what provisioning cannot. */
  entrypoint: '/usr/local/bin/start.sh',
  dataDir: '/var/lib/grafana',
  provisioningDir: '/etc/grafana/provisioning',
  /** The dashboard JSON files, from the grafana-dashboards ConfigMap. */
  dashboardsDir: '/etc/grafana/dashboards',
  /** With TLS on: the certificate and key files (from their Secret, mounted read-only). */
  tlsDir: '/etc/stacklight/tls',
  env: {
    adminUser: 'GF_SECURITY_ADMIN_USER',
    /**
     * The `__FILE` form the Grafana image's run.sh reads (into the Grafana process, not the pod's
     * spec): the admin password stays in its Secret's file; start.sh reads that file too.
     */
    adminPasswordFile: 'GF_SECURITY_ADMIN_PASSWORD__FILE',
    /** Grafana's own server settings, read by start.sh too: https, its certificate and key files, the name in the certificate. */
    protocol: 'GF_SERVER_PROTOCOL',
    certFile: 'GF_SERVER_CERT_FILE',
    certKey: 'GF_SERVER_CERT_KEY',
    domain: 'GF_SERVER_DOMAIN',
    homeDashboardUid: 'STACKLIGHT_HOME_DASHBOARD_UID',
    datasourceUid: 'STACKLIGHT_DATASOURCE_UID',
  },
} as const;
