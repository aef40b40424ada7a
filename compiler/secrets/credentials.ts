/**
 * Who uses which credential. The consumers follow from the architecture, so they are stated
 * here once; the config only says each credential's user name and where its password is kept.
 */
import type { CredentialId, StackConfig } from '../config/types.ts';

export type Consumer = 'collector' | 'influxdb' | 'grafana';

export interface CredentialUse {
  /** What the credential is for, as the README and error messages say it. */
  purpose: string;
  consumers: (config: StackConfig) => Consumer[];
}

const bootstrap = (config: StackConfig): Consumer[] => (config.influxdb.enabled ? ['influxdb'] : []);

export const CREDENTIAL_USES: Readonly<Record<CredentialId, CredentialUse>> = {
  influxdbAdmin: { purpose: 'InfluxDB admin, used by its bootstrap only', consumers: bootstrap },
  influxdbWriter: {
    purpose: 'InfluxDB WRITE-only user, for Hindsight',
    consumers: (config) => ['collector', ...bootstrap(config)],
  },
  influxdbReader: {
    purpose: 'InfluxDB READ-only user, for Grafana\'s datasource',
    consumers: (config) => ['grafana', ...bootstrap(config)],
  },
  grafanaAdmin: { purpose: 'Grafana admin', consumers: () => ['grafana'] },
};

/** The credentials in use with this config (the admin only exists with an in-cluster InfluxDB). */
export function usedCredentials(config: StackConfig): CredentialId[] {
  return (Object.keys(CREDENTIAL_USES) as CredentialId[]).filter((id) => CREDENTIAL_USES[id].consumers(config).length > 0);
}

/** The Secrets a consumer's pod reads. */
export function credentialSecrets(config: StackConfig, consumer: Consumer): string[] {
  return usedCredentials(config)
    .filter((id) => CREDENTIAL_USES[id].consumers(config).includes(consumer))
    .map((id) => config.credentials[id].secret);
}

/** Every Secret the config needs, with the keys it must hold and which credential needs each. */
export function requiredSecrets(config: StackConfig): Map<string, Map<string, CredentialId>> {
  const secrets = new Map<string, Map<string, CredentialId>>();
  for (const id of usedCredentials(config)) {
    const { secret, key } = config.credentials[id];
    if (!secrets.has(secret)) secrets.set(secret, new Map());
    secrets.get(secret)!.set(key, id);
  }
  return secrets;
}
