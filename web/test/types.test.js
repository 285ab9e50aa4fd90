// types/client.d.ts against src/client.js at run time: every export it declares exists
// with its kind, every member it declares on a class is there on an instance, and Close
// has the same codes. (tsc checks the declarations themselves: `npm run types`.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as client from '../src/client.js';

const dts = readFileSync(new URL('../types/client.d.ts', import.meta.url), 'utf8');

function declared(kind) {
  return [...dts.matchAll(new RegExp(`^export declare ${kind} (\\w+)`, 'gm'))].map((m) => m[1]);
}

function members(className) {
  const body = dts.split(new RegExp(`^export declare class ${className}\\b[^\\n]*\\n`, 'm'))[1].split(/^}/m)[0];
  return [...body.matchAll(/^ {2}(?:readonly )?(\w+)[(:?]/gm)].map((m) => m[1]).filter((n) => n !== 'constructor');
}

test('every declared export exists with its kind', () => {
  for (const name of declared('class')) assert.equal(typeof client[name], 'function', name);
  for (const name of declared('function')) assert.equal(typeof client[name], 'function', name);
  for (const name of declared('const')) assert.equal(typeof client[name], 'object', name);
  assert.deepEqual(declared('class').sort(), ['Connection', 'Query', 'SaetaError']);
});

test('every declared member is on an instance', () => {
  const instances = {
    Connection: new client.Connection('ws://gateway.invalid', 'session', { WebSocket: class {} }),
    Query: new client.Query({ _send() {} }, 'q1', { dataset: 'ventas' }),
    SaetaError: new client.SaetaError('TIMEOUT'),
  };
  for (const [name, instance] of Object.entries(instances)) {
    const declaredMembers = members(name);
    assert.ok(declaredMembers.length >= 3, name);
    for (const member of declaredMembers) assert.ok(member in instance, `${name}.${member}`);
  }
  assert.ok(Symbol.asyncIterator in instances.Query);
});

test('Close has the declared codes', () => {
  const body = dts.split('export declare const Close: Readonly<{')[1].split('}>')[0];
  const codes = Object.fromEntries([...body.matchAll(/(\w+): (\d+);/g)].map((m) => [m[1], Number(m[2])]));
  assert.deepEqual(codes, { ...client.Close });
});
