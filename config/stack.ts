/**
 * The stack's settings for every environment; base/ is compiled from exactly this.
 * Each file in environments/ overrides some of them for one environment.
 * What every setting means: compiler/config/types.ts.
 */
import type { StackConfig } from '../compiler/config/types.ts';
import { images } from './images.ts';

const MiB = 1024 * 1024;

export const stack: StackConfig = {
  // The collector's pods need the host (privileged); InfluxDB and Grafana run under `restricted`.
  namespaces: { collector: 'stacklight-collector', backend: 'stacklight' },
  labels: { 'app.kubernetes.io/instance': 'stacklight' },
  images,

  collector: {
    interval: '10s',
    families: ['cpu', 'filesystem', 'disk', 'interface', 'load', 'meminfo', 'processes', 'swap'],
    hostMounts: {
      proc: { hostPath: '/proc', mountPath: '/host/proc' },
      dev: { hostPath: '/dev', mountPath: '/host/dev' },
      sys: { hostPath: '/sys', mountPath: '/host/sys' },
    },
    // Never disable the task: a Hindsight restart must not stop collection for good.
    maxFailures: -1,
    logLevel: 'warning',
    hekaPort: 5565,
    snapApiPort: 8181,
    snapControlPort: 8082,
    resources: {
      snap: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      hindsight: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    },
    hindsightState: { type: 'hostPath', path: '/var/lib/stacklight/hindsight' },
  },

  hindsight: {
    output: {
      batchMaxPoints: 5000,
      batchMaxBytes: MiB / 2, // at most memoryLimit / 16: the sandbox counts garbage too
      flushInterval: '5s',
      timeout: '5s',
      maxRetryBackoff: '30s',
      precision: 'ms',
      staticTags: {},
      // plugin_running_on repeats the node; the interface collector's mtu and hardware_addr would
      // start a new series for an interface whenever its MTU or MAC changes
      excludedTags: ['plugin_running_on', 'mtu', 'hardware_addr'],
    },
    limits: { memoryLimit: 8 * MiB, instructionLimit: 1_000_000, outputLimit: 64 * 1024 },
    // Hindsight's output opens the next queue file at most once a second: with 64 MiB files a
    // backlog drain stalls every ~80,000 messages (npm run bench: 34k points/s, 50k with 1 GiB)
    queueFileSize: 256 * MiB,
  },

  influxdb: {
    enabled: true,
    database: 'stacklight',
    retentionPolicy: 'stacklight',
    retention: '30d',
    nodeSelector: { key: 'stacklight.ms/influxdb', value: 'true' },
    storage: { type: 'localVolume', path: '/var/lib/stacklight/influxdb', capacity: '100Gi' },
    servicePort: 8086,
    resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '2Gi' } },
  },

  grafana: {
    nodePort: 30300,
    tls: { enabled: false },
    resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    sqliteSizeLimit: '256Mi',
    datasource: { name: 'InfluxDB', uid: 'stacklight-influxdb' },
  },

  credentials: {
    influxdbAdmin: { username: 'admin', secret: 'influxdb-admin', key: 'password' },
    influxdbWriter: { username: 'hindsight', secret: 'influxdb-writer', key: 'password' },
    influxdbReader: { username: 'grafana', secret: 'influxdb-reader', key: 'password' },
    grafanaAdmin: { username: 'admin', secret: 'grafana-admin', key: 'password' },
    snapApi: { username: 'snap', secret: 'snap-api', key: 'password' },
  },

  // Placeholders (kubeadm's usual pod network inside the private 10.x range): every environment
  // states its cluster's ranges or says why these are right for it. The collector reaches InfluxDB
  // from node addresses (hostNetwork); pod addresses inside a node or client range are excepted.
  networkPolicy: {
    type: 'placeholder',
    nodeCidrs: ['10.0.0.0/8'],
    podCidrs: ['10.244.0.0/16'],
    grafanaClientCidrs: ['10.0.0.0/8'],
  },

  gitops: {
    engine: 'flux',
    repository: { url: 'https://github.com/ms-stacklight/ms-stacklight.git', branch: 'main' },
    interval: '5m',
    healthCheckTimeout: '10m',
  },
};
