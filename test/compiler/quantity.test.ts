/** Kubernetes quantities read as numbers (compiler/config/quantity.ts), for the config's size checks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quantityValue } from '../../compiler/config/quantity.ts';

test('quantities in base units: binary and decimal suffixes, milli, plain numbers', () => {
  assert.equal(quantityValue('1Gi'), 1073741824);
  assert.equal(quantityValue('512Mi'), 536870912);
  assert.equal(quantityValue('64Ki'), 65536);
  assert.equal(quantityValue('1.5G'), 1.5e9);
  assert.equal(quantityValue('2k'), 2000);
  assert.equal(quantityValue('250m'), 0.25);
  assert.equal(quantityValue('100'), 100);
  assert.equal(quantityValue('.5Mi'), 524288);
});

test('what is not a quantity is refused', () => {
  for (const text of ['1GB', 'Gi', '-1Gi', '1 Gi', '']) assert.throws(() => quantityValue(text as never), /not a quantity/, text);
});
