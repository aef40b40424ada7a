/**
 * IPv4 CIDR arithmetic for the NetworkPolicy settings (inputs already match an IPv4 CIDR).
 */
interface Range {
  first: number;
  prefix: number;
}

function rangeOf(cidr: string): Range {
  const [address, prefix] = cidr.split('/') as [string, string];
  const bits = Number(prefix);
  const value = address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const size = 2 ** (32 - bits);
  return { first: value - (value % size), prefix: bits };
}

/** Whether every address of `inner` is in `outer`. */
export function cidrContains(outer: string, inner: string): boolean {
  const [a, b] = [rangeOf(outer), rangeOf(inner)];
  if (b.prefix < a.prefix) return false;
  const size = 2 ** (32 - a.prefix);
  return b.first - (b.first % size) === a.first;
}
