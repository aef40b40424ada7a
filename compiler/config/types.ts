/**
 * The stack's configuration, as operators write it in config/.
 *
 * These types are the documentation of every setting: what it means, its unit and who uses it.
 * config/stack.ts must be a complete StackConfig (it is what base/ is compiled from); each file in
 * config/environments/ holds the overrides of one environment (EnvironmentOverrides).
 * Values come from people, so compiler/config/validate.ts checks at run time what these types
 * cannot express (ranges, formats, cross-references).
 */

/** A node label, `key=value`, that pins a workload to the nodes carrying it. */
export interface NodeLabel {
  key: string;
  value: string;
}

/** A duration such as "10s", "5m", "12h", "30d" or "2w" (one unit only, like InfluxDB's). */
export type Duration = `${number}${DurationUnit}`;
export type DurationUnit = 's' | 'm' | 'h' | 'd' | 'w';

/** A Kubernetes resource quantity: "250m", "0.5", "128Mi", "2Gi". */
export type Quantity = string;

export interface Resources {
  requests: { cpu: Quantity; memory: Quantity };
  /** A CPU limit is optional (throttling a collector skews its own timing); memory is not. */
  limits: { cpu?: Quantity; memory: Quantity };
}

/** The four images the stack runs. Tags are bumped in config/images.ts, nowhere else. */
export type ImageName = 'snap' | 'hindsight' | 'influxdb' | 'grafana';

export interface ImageRef {
  /** Registry and repository, e.g. "ghcr.io/ms-stacklight/snap". */
  repository: string;
  /** Never "latest": a tag must name one build. */
  tag: string;
  /** Pins the exact content; when set, the cluster pulls by digest. */
  digest?: `sha256:${string}`;
}

export type Images = Record<ImageName, ImageRef>;

/**
 * Metric families Snap can collect, one per collector plugin. Their metrics are listed once, in
 * compiler/collector/metrics.ts, from which the Snap task (and later the dashboards) derive.
 */
export type MetricFamily =
  | 'cpu'
  | 'filesystem'
  | 'disk'
  | 'interface'
  | 'load'
  | 'meminfo'
  | 'processes'
  | 'swap'
  /** Needs raw disk access: the snap container then runs privileged. */
  | 'smart';

/** Snap's log levels (snapd's log_level 1..5). */
export type SnapLogLevel = 'debug' | 'info' | 'warning' | 'error' | 'fatal';

/** A host directory and where the snap container sees it (read-only). */
export interface HostMount {
  hostPath: string;
  mountPath: string;
}

/**
 * Where a component keeps its data: an emptyDir is lost when the pod is deleted (a rollout, a
 * node drain); a host directory survives pod replacement on the same node.
 */
export type Storage = { type: 'emptyDir'; sizeLimit: Quantity } | { type: 'hostPath'; path: string };

export interface CollectorConfig {
  /** Snap's collection interval (task schedule), e.g. "10s". */
  interval: Duration;
  /** The metric families the Snap task collects. */
  families: readonly MetricFamily[];
  /** Host filesystems the collectors read, mounted read-only. */
  hostMounts: { proc: HostMount; dev: HostMount; sys: HostMount };
  /**
   * Consecutive failed runs before snapd disables the task. Snap's Heka publisher fails on every
   * publish while Hindsight is down, so a small number stops collection for good after a
   * Hindsight restart; -1 never disables the task.
   */
  maxFailures: number;
  logLevel: SnapLogLevel;
  /** The Heka TCP port: Snap's publisher sends to it and Hindsight's heka_tcp input listens on it. */
  hekaPort: number;
  /** snapd's REST API port, bound to 127.0.0.1 only (the pod shares the node's network). */
  snapApiPort: number;
  /**
   * snapd's control port (the gRPC its plugins and tribe use; Snap's default is 8082), bound to
   * 127.0.0.1 only: with the node's network, it must be free on every node.
   */
  snapControlPort: number;
  resources: { snap: Resources; hindsight: Resources };
  /** Hindsight's queue and checkpoints: on a host directory, a backlog survives a rollout. */
  hindsightState: Storage;
}

/** The precision of the timestamps Hindsight writes (InfluxDB's `precision` parameter). */
export type Precision = 'ns' | 'u' | 'ms' | 's';

export interface HindsightConfig {
  output: {
    /** A batch is sent when it holds this many points... */
    batchMaxPoints: number;
    /** ...or this many bytes of line protocol (at most a sixteenth of the plugin's memory limit: the sandbox counts garbage too)... */
    batchMaxBytes: number;
    /** ...or when it is this old (the output plugin's ticker_interval, whole seconds). */
    flushInterval: Duration;
    /** HTTP timeout of one socket operation of a write to InfluxDB. */
    timeout: Duration;
    /** Longest wait between two retries of a failed write (the back-off doubles from 1 s up to it). */
    maxRetryBackoff: Duration;
    precision: Precision;
    /** Tags added to every point, e.g. { cluster: "prod-1", environment: "prod" }. */
    staticTags: Readonly<Record<string, string>>;
    /** Snap tags not written to InfluxDB. */
    excludedTags: readonly string[];
  };
  /** lua_sandbox limits of the output plugin: hindsight.cfg's output_defaults, which every output starts from. */
  limits: {
    /** Bytes; the sandbox default is 8 MiB. */
    memoryLimit: number;
    /** Lua instructions per call; 0 = unlimited. */
    instructionLimit: number;
    /** Bytes one output call may produce. */
    outputLimit: number;
  };
  /**
   * Bytes a Hindsight queue file may grow to before it rolls over. Hindsight deletes a file once
   * every reader is past it, so up to one file more than the backlog stays on disk; its output
   * moves to the next file at most once a second, which small files make a drain's bottleneck.
   */
  queueFileSize: number;
}

/**
 * Where InfluxDB keeps its data: an emptyDir is lost with the pod (a rollout, a drain); a local
 * PersistentVolume is a directory of the labelled node that outlives the pod. The directory must
 * exist on that node (the kubelet does not create it); the pod's fsGroup makes it writable for
 * InfluxDB's user, so no container runs as root (Pod Security `restricted`).
 */
export type InfluxDBStorage =
  | { type: 'emptyDir'; sizeLimit: Quantity }
  | { type: 'localVolume'; path: string; capacity: Quantity };

interface InfluxDBCommon {
  /** The database Hindsight writes and Grafana reads. */
  database: string;
  /** The retention policy points are written to. */
  retentionPolicy: string;
}

/** InfluxDB runs in the cluster: one replica on a dedicated, labelled node. */
export interface InClusterInfluxDB extends InfluxDBCommon {
  enabled: true;
  /** How long points are kept (the retention policy's duration), at least 1h. */
  retention: Duration;
  /** The node label that pins InfluxDB to its dedicated node. */
  nodeSelector: NodeLabel;
  storage: InfluxDBStorage;
  servicePort: number;
  resources: Resources;
}

/** InfluxDB runs elsewhere; the stack only writes to and reads from it. */
export interface RemoteInfluxDB extends InfluxDBCommon {
  enabled: false;
  /** Base URL, e.g. "https://influxdb.example.net:8086". */
  url: string;
}

export type InfluxDBConfig = InClusterInfluxDB | RemoteInfluxDB;

/**
 * Grafana over HTTPS: the certificate (`tls.crt`, the chain, leaf first) and key (`tls.key`) are in
 * the Secret `secret` of the environment (SOPS-encrypted like the passwords: `npm run secrets --
 * set <env> <secret> tls.crt < cert.pem`); `domain` is the DNS name the certificate is issued for,
 * the one people open Grafana at.
 */
export type GrafanaTls = { enabled: false } | { enabled: true; secret: string; domain: string };

export interface GrafanaConfig {
  /**
   * The NodePort of Grafana's Service, 30000-32767. The Service keeps the client's address
   * (externalTrafficPolicy Local) so that Grafana's NetworkPolicy can admit by client range: the
   * port answers on the node Grafana runs on (pin it with nodeSelector for a stable address).
   */
  nodePort: number;
  /** A node label that pins Grafana to the node(s) people reach it at; anywhere when absent. */
  nodeSelector?: NodeLabel;
  /** Plain HTTP by default; with TLS on the admin login never crosses the network in clear text. */
  tls: GrafanaTls;
  resources: Resources;
  /** Grafana keeps its SQLite database on an emptyDir of this size: dashboards are provisioned. */
  sqliteSizeLimit: Quantity;
  datasource: { name: string; uid: string };
}

/**
 * The credentials the stack uses. Their consumers are fixed by the architecture
 * (compiler/secrets/credentials.ts): influxdbAdmin → InfluxDB's bootstrap; influxdbWriter →
 * InfluxDB's bootstrap and Hindsight; influxdbReader → InfluxDB's bootstrap and Grafana's
 * datasource; grafanaAdmin → Grafana; snapApi → Snap's REST API (snapd and its health check; the
 * user name is not checked by snapd).
 */
export type CredentialId = 'influxdbAdmin' | 'influxdbWriter' | 'influxdbReader' | 'grafanaAdmin' | 'snapApi';

export interface Credential {
  username: string;
  /** The Secret holding the password, in overlays/<env>/secrets/<secret>.yaml (SOPS). */
  secret: string;
  /** The key of the password in that Secret's stringData. */
  key: string;
}

interface NetworkRanges {
  /**
   * The collector runs with hostNetwork, so its traffic to InfluxDB comes from node addresses,
   * which pod selectors do not match on most CNIs: list the nodes' CIDRs here.
   */
  nodeCidrs: readonly string[];
  /**
   * The cluster's pod network(s) (kubeadm's --pod-network-cidr; the nodes' spec.podCIDR ranges).
   * A pod CIDR inside a node or client CIDR is excepted from it, so that a broad range does not
   * admit every pod; one that contains a node CIDR is refused. [] when no pod range overlaps.
   */
  podCidrs: readonly string[];
  /** Where people (or the load balancer in front of the NodePort) reach Grafana from. */
  grafanaClientCidrs: readonly string[];
}

/**
 * The address ranges the NetworkPolicies of InfluxDB and Grafana admit. Only an operator knows
 * a cluster's ranges, so the shipped ones are marked as placeholders: an environment compiled with
 * them must say why it accepts them (`acceptedBecause`), or state its own (`type: 'cluster'`, with
 * the reason they are right). Anything else is a config error.
 */
export type NetworkPolicyConfig =
  | (NetworkRanges & { type: 'placeholder'; acceptedBecause?: string })
  | (NetworkRanges & { type: 'cluster'; reason: string });

/** Which GitOps engine applies the overlays. */
export type GitOpsEngine = 'flux' | 'argocd';

export interface GitOpsConfig {
  /**
   * flux: Flux's GitRepository + Kustomization, which decrypts the SOPS Secrets itself;
   * argocd: an AppProject + Application built through a config management plugin that decrypts
   * the Secrets with sops before kustomize builds the overlay (Argo CD has no SOPS of its own).
   * The overlays carry their Secrets in the form the engine needs.
   */
  engine: GitOpsEngine;
  /** The repository the cluster pulls this repository from, and the branch it follows. */
  repository: { url: string; branch: string };
  /** How often the engine reconciles the cluster with the repository. */
  interval: Duration;
  /**
   * How long a sync waits for the collector, InfluxDB and Grafana to be healthy before it is
   * reported failed (Flux's Kustomization timeout; at least 30s). Long enough for a DaemonSet to
   * roll on every node; a new revision cancels a running wait (see docs/gitops.md).
   */
  healthCheckTimeout: Duration;
}

/**
 * The two namespaces, the same in every environment. Pod Security is enforced per namespace: the
 * collector needs the host's network, paths and ptrace (`privileged`); everything else meets
 * `restricted`, which its namespace enforces.
 */
export interface Namespaces {
  /** The collector DaemonSet and what it reads (labelled enforce: privileged). */
  collector: string;
  /** InfluxDB and Grafana (labelled enforce: restricted). */
  backend: string;
}

export interface StackConfig {
  namespaces: Namespaces;
  /** Labels on every object. */
  labels: Readonly<Record<string, string>>;
  images: Images;
  collector: CollectorConfig;
  hindsight: HindsightConfig;
  influxdb: InfluxDBConfig;
  grafana: GrafanaConfig;
  credentials: Record<CredentialId, Credential>;
  networkPolicy: NetworkPolicyConfig;
  gitops: GitOpsConfig;
}

/** Recursively optional, except that arrays and tagged unions are replaced whole. */
export type Overrides<T> = T extends readonly unknown[]
  ? T
  : T extends { enabled: boolean } | { type: string }
    ? T | OverridesOfObject<T>
    : T extends object
      ? OverridesOfObject<T>
      : T;
type OverridesOfObject<T> = { [K in keyof T]?: Overrides<T[K]> };

/**
 * One file in config/environments/: the environment's name is the file's name. The namespaces are
 * not overridable: the overlays move objects between environments, not between namespaces.
 */
export type EnvironmentOverrides = Overrides<Omit<StackConfig, 'namespaces'>>;
