/**
 * Who uses which Secret. The consumers follow from the architecture, so they are stated here
 * once; the config only says each credential's user name and where its password is kept (and,
 * with Grafana's TLS on, where its certificate is). A Secret lives in the namespace of the pods
 * that read it: the writer's password, read by the collector and by InfluxDB's bootstrap, is kept
 * in both namespaces.
 *
 * Pods read passwords from files only: one read-only projected volume per container, holding
 * exactly the keys it needs (credentialsVolume), one file per credential (credentialFile).
 */
import type { V1Volume } from '@kubernetes/client-node';
import type { CredentialId, StackConfig } from '../config/types.ts';
import { CREDENTIALS } from '../facts.ts';
import { componentNamespace, type Component } from '../kube/objects.ts';
import { byCodeUnit } from '../render/order.ts';

/** The component whose pods read a Secret. */
export type Consumer = Component;

export interface CredentialUse {
  /** What the credential is for, as the README and error messages say it. */
  purpose: string;
  consumers: (config: StackConfig) => Consumer[];
  /** The file a consumer reads it from, under CREDENTIALS.dir. */
  file: string;
}

const bootstrap = (config: StackConfig): Consumer[] => (config.influxdb.enabled ? ['influxdb'] : []);

export const CREDENTIAL_USES: Readonly<Record<CredentialId, CredentialUse>> = {
  influxdbAdmin: { purpose: 'InfluxDB admin, used by its bootstrap only', consumers: bootstrap, file: 'influxdb-admin' },
  influxdbWriter: {
    purpose: 'InfluxDB WRITE-only user, for Hindsight',
    consumers: (config) => ['collector', ...bootstrap(config)],
    file: 'influxdb-writer',
  },
  influxdbReader: {
    purpose: "InfluxDB READ-only user, for Grafana's datasource",
    consumers: (config) => ['grafana', ...bootstrap(config)],
    file: 'influxdb-reader',
  },
  grafanaAdmin: { purpose: 'Grafana admin', consumers: () => ['grafana'], file: 'grafana-admin' },
  snapApi: { purpose: "Snap's REST API (who may load plugins and tasks)", consumers: () => ['collector'], file: 'snap-api' },
};

/** Grafana's certificate and key: the keys of its TLS Secret, as Kubernetes names them. */
export const TLS_KEYS = { certificate: 'tls.crt', key: 'tls.key' } as const;

/** Where a consumer reads a credential's password. */
export function credentialFile(id: CredentialId): string {
  return `${CREDENTIALS.dir}/${CREDENTIAL_USES[id].file}`;
}

/** The credentials in use with this config (the admin only exists with an in-cluster InfluxDB). */
export function usedCredentials(config: StackConfig): CredentialId[] {
  return (Object.keys(CREDENTIAL_USES) as CredentialId[]).filter((id) => CREDENTIAL_USES[id].consumers(config).length > 0);
}

/** A Secret in a namespace: its file is overlays/<env>/secrets/<namespace>/<name>.yaml. */
export interface SecretRef {
  namespace: string;
  name: string;
}

/** How secrets/ names a Secret: `<namespace>/<name>`. */
export function secretId(ref: SecretRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/** One key of a required Secret: what needs it, and whether `npm run secrets -- init` makes it up. */
export interface SecretKeyUse {
  /** The config path that declares it, for messages: "credentials.influxdbWriter", "grafana.tls". */
  declaredAt: string;
  purpose: string;
  /** A random password (init generates it); otherwise the operator sets it (a certificate). */
  generated: boolean;
}

export interface RequiredSecret extends SecretRef {
  keys: Map<string, SecretKeyUse>;
  consumers: Set<Consumer>;
}

/**
 * Every Secret the config needs, per namespace, with the keys it must hold: the one list the
 * compile, the checks and `npm run secrets` read.
 */
export function requiredSecrets(config: StackConfig): Map<string, RequiredSecret> {
  const secrets = new Map<string, RequiredSecret>();
  const need = (consumer: Consumer, name: string, key: string, use: SecretKeyUse) => {
    const ref = { namespace: componentNamespace(config, consumer), name };
    const id = secretId(ref);
    if (!secrets.has(id)) secrets.set(id, { ...ref, keys: new Map(), consumers: new Set() });
    secrets.get(id)!.keys.set(key, use);
    secrets.get(id)!.consumers.add(consumer);
  };
  for (const id of usedCredentials(config)) {
    const { secret, key } = config.credentials[id];
    const use = { declaredAt: `credentials.${id}`, purpose: CREDENTIAL_USES[id].purpose, generated: true };
    for (const consumer of CREDENTIAL_USES[id].consumers(config)) need(consumer, secret, key, use);
  }
  const tls = config.grafana.tls;
  if (tls.enabled) {
    for (const [what, key] of Object.entries(TLS_KEYS)) {
      need('grafana', tls.secret, key, { declaredAt: 'grafana.tls', purpose: `Grafana's TLS ${what}`, generated: false });
    }
  }
  return new Map([...secrets].sort(([a], [b]) => byCodeUnit(a, b)));
}

/** The Secrets a consumer's pods read (their ids), for its config hash: a rotation rolls them. */
export function consumerSecrets(config: StackConfig, consumer: Consumer): string[] {
  return [...requiredSecrets(config)].filter(([, secret]) => secret.consumers.has(consumer)).map(([id]) => id);
}

/**
 * A read-only volume of exactly these credentials' passwords, each at credentialFile(id) once
 * mounted at CREDENTIALS.dir: one projected volume, so a container has one mount and no other key.
 */
export function credentialsVolume(config: StackConfig, ids: readonly CredentialId[], name: string = CREDENTIALS.volume): V1Volume {
  return {
    name,
    projected: {
      defaultMode: 0o444,
      sources: ids.map((id) => ({
        secret: { name: config.credentials[id].secret, items: [{ key: config.credentials[id].key, path: CREDENTIAL_USES[id].file }] },
      })),
    },
  };
}
