/**
 * The collector: one DaemonSet whose pod runs Snap (collects the node's metrics) and Hindsight
 * (receives them over Heka TCP on loopback and writes them to InfluxDB), plus their ConfigMaps.
 */
import type { V1Container, V1PodSpec, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { StackConfig } from '../config/types.ts';
import { CREDENTIALS, HINDSIGHT, NAMES, SNAP } from '../facts.ts';
import { secretTexts, type BuildInputs } from '../inputs.ts';
import {
  configMap,
  imageReference,
  literalEnv,
  metadata,
  probe,
  resourceRequirements,
  restrictedSecurityContext,
  nameAndPartOfLabels,
  volumeOwnerInit,
  type Manifest,
} from '../kube/objects.ts';
import { podTemplate, storageVolume } from '../kube/workloads.ts';
import { consumerSecrets, credentialFile, credentialsVolume } from '../secrets/credentials.ts';
import { METRIC_FAMILIES } from './metrics.ts';
import { SNAP_FILES, snapFiles } from './snap.ts';
import { hindsightFiles, type ConfigFile } from './hindsight.ts';

const COMPONENT = NAMES.collector;

const VOLUMES = {
  snapConfig: 'snap-config',
  snapTasks: 'snap-tasks',
  snapTmp: 'snap-tmp',
  hindsightConfig: 'hindsight-config',
  hindsightRun: 'hindsight-run',
  hindsightState: 'hindsight-state',
  snapRun: 'snap-run',
  // one per container: each sees only its own password
  snapCredentials: 'snap-credentials',
  hindsightCredentials: 'hindsight-credentials',
} as const;

const hostVolumeName = (mount: string) => `host-${mount}`;

/** The least privilege the collected families need (see Privilege in metrics.ts). */
function snapSecurityContext(config: StackConfig): NonNullable<V1Container['securityContext']> {
  const levels = new Set(config.collector.families.map((name) => METRIC_FAMILIES[name].privilege?.level));
  if (levels.has('privileged')) return { privileged: true, readOnlyRootFilesystem: true };
  if (levels.has('ptrace')) {
    return { ...restrictedSecurityContext(0), capabilities: { drop: ['ALL'], add: ['SYS_PTRACE'] } };
  }
  return restrictedSecurityContext(SNAP.user);
}

function snapContainer(config: StackConfig): V1Container {
  const { collector } = config;
  const hostMounts: V1VolumeMount[] = Object.entries(collector.hostMounts).map(([name, mount]) => ({
    name: hostVolumeName(name),
    mountPath: mount.mountPath,
    readOnly: true,
  }));
  // Each probe names itself: the healthcheck compares a task's runs with that probe's previous check.
  const healthcheck = (name: string) => probe({ exec: { command: [SNAP.healthcheck, name] } }, 20);
  return {
    name: 'snap',
    image: imageReference(config.images.snap),
    command: [SNAP.entrypoint],
    args: ['--config', SNAP.configFile],
    env: [
      { name: SNAP.nodeNameEnv, valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      literalEnv(SNAP.apiPortEnv, collector.snapApiPort),
      literalEnv(SNAP.configTemplateEnv, SNAP.configTemplate),
      literalEnv(SNAP.configFileEnv, SNAP.configFile),
      literalEnv(SNAP.apiPasswordFileEnv, credentialFile('snapApi')),
    ],
    resources: resourceRequirements(collector.resources.snap),
    securityContext: snapSecurityContext(config),
    volumeMounts: [
      ...hostMounts,
      { name: VOLUMES.snapConfig, mountPath: SNAP.configTemplate, subPath: SNAP_FILES.config, readOnly: true },
      { name: VOLUMES.snapRun, mountPath: SNAP.configDir },
      { name: VOLUMES.snapCredentials, mountPath: CREDENTIALS.dir, readOnly: true },
      { name: VOLUMES.snapConfig, mountPath: `${SNAP.taskTemplateDir}/${SNAP_FILES.task}`, subPath: SNAP_FILES.task, readOnly: true },
      { name: VOLUMES.snapTasks, mountPath: SNAP.taskDir },
      { name: VOLUMES.snapTmp, mountPath: '/tmp' },
    ],
    // The healthcheck asks snapd's API (with the password) whether the task is Running and its recent runs did not fail.
    livenessProbe: { ...healthcheck('liveness'), failureThreshold: 6 },
    readinessProbe: healthcheck('readiness'),
  };
}

/**
 * Hindsight runs as a native sidecar (an init container with restartPolicy Always, Kubernetes
 * 1.29+): the kubelet starts Snap only once the startup probe finds the Heka input listening,
 * so Snap's first publish is not lost to a refused connection, and stops Hindsight only after
 * Snap has exited, so Snap's last one is not either.
 */
function hindsightSidecar(config: StackConfig): V1Container {
  const { collector } = config;
  const hekaInput = { tcpSocket: { host: '127.0.0.1', port: collector.hekaPort } };
  return {
    name: 'hindsight',
    restartPolicy: 'Always',
    image: imageReference(config.images.hindsight),
    command: [HINDSIGHT.entrypoint],
    resources: resourceRequirements(collector.resources.hindsight),
    securityContext: restrictedSecurityContext(HINDSIGHT.user),
    volumeMounts: [
      { name: VOLUMES.hindsightConfig, mountPath: HINDSIGHT.configDir, readOnly: true },
      { name: VOLUMES.hindsightRun, mountPath: HINDSIGHT.runDir },
      { name: VOLUMES.hindsightCredentials, mountPath: CREDENTIALS.dir, readOnly: true },
      { name: VOLUMES.hindsightState, mountPath: HINDSIGHT.outputDir },
    ],
    // Live while no plugin has been terminated (Hindsight leaves <run>/<type>/<name>.err).
    livenessProbe: probe({ exec: { command: [HINDSIGHT.healthcheck] } }, 20),
    // Snap starts once the Heka input accepts connections (checked every second, for up to 2 minutes).
    startupProbe: { ...hekaInput, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 },
    readinessProbe: probe(hekaInput, 0),
  };
}

function volumes(config: StackConfig, files: readonly ConfigFile[]): V1Volume[] {
  const { collector } = config;
  return [
    ...Object.entries(collector.hostMounts).map(([name, mount]) => ({
      name: hostVolumeName(name),
      hostPath: { path: mount.hostPath, type: 'Directory' },
    })),
    { name: VOLUMES.snapConfig, configMap: { name: NAMES.snapConfig } },
    { name: VOLUMES.snapTasks, emptyDir: { sizeLimit: '1Mi' } },
    { name: VOLUMES.snapTmp, emptyDir: { sizeLimit: '64Mi' } },
    // the rendered snapd config holds the API password: memory only, never the node's disk
    { name: VOLUMES.snapRun, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    {
      name: VOLUMES.hindsightConfig,
      configMap: { name: NAMES.hindsightConfig, items: files.map(({ key, path }) => ({ key, path })) },
    },
    { name: VOLUMES.hindsightRun, emptyDir: { sizeLimit: '16Mi' } },
    storageVolume(VOLUMES.hindsightState, collector.hindsightState),
    credentialsVolume(config, ['snapApi'], VOLUMES.snapCredentials),
    credentialsVolume(config, ['influxdbWriter'], VOLUMES.hindsightCredentials),
  ];
}

function podSpec(config: StackConfig, files: readonly ConfigFile[]): V1PodSpec {
  return {
    // Interface metrics must describe the node, not a pod network namespace.
    hostNetwork: true,
    // With hostNetwork, only this policy resolves the InfluxDB Service's name.
    dnsPolicy: 'ClusterFirstWithHostNet',
    // Every node, control plane and tainted nodes included.
    tolerations: [{ operator: 'Exists' }],
    terminationGracePeriodSeconds: 30,
    initContainers: [
      volumeOwnerInit(
        imageReference(config.images.hindsight),
        HINDSIGHT.user,
        VOLUMES.hindsightState,
        HINDSIGHT.outputDir,
        config.collector.resources.hindsight,
      ),
      hindsightSidecar(config),
    ],
    containers: [snapContainer(config)],
    volumes: volumes(config, files),
  };
}

/** The collector's objects, by role. */
export interface CollectorObjects {
  snapConfig: Manifest;
  hindsightConfig: Manifest;
  daemonSet: Manifest;
}

export function collector(config: StackConfig, inputs: BuildInputs): CollectorObjects {
  const snapData = snapFiles(config.collector);
  const files = hindsightFiles(config, inputs.lua);
  const hindsightData = Object.fromEntries(files.map(({ key, content }) => [key, content]));
  const daemonSet: Manifest = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: metadata(config, NAMES.collector, COMPONENT),
    spec: {
      selector: { matchLabels: nameAndPartOfLabels(COMPONENT) },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: podTemplate(
        config,
        COMPONENT,
        [snapData, hindsightData, ...secretTexts(inputs, consumerSecrets(config, COMPONENT))],
        podSpec(config, files),
      ),
    },
  };
  return {
    snapConfig: configMap(config, NAMES.snapConfig, COMPONENT, snapData),
    hindsightConfig: configMap(config, NAMES.hindsightConfig, COMPONENT, hindsightData),
    daemonSet,
  };
}

