// Sends the README's and docs/api.md's requests, and a corpus of valid and malformed
// requests generated from the OpenAPI document, through Prism's validating proxy
// (prism proxy --errors) in front of `crmauthz serve`, and directly to the server.
// Fails when Prism finds an answer that breaks the document, when an answer is a 5xx
// (but 503), when the document refuses a request the server answers 2xx (the document
// would be stricter than the server), or when a request meant valid is refused by the
// document. Run by hack/openapi-check.sh.
//
// usage: node prism-corpus.mjs PRISM_URL SERVER_URL REPO_ROOT
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [prism, server, root] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(join(root, 'api/openapi/openapi.json'), 'utf8'));

const cases = []; // {name, method, path, body (string or undefined), valid: true|false|undefined}
const add = (name, method, path, body, valid) => cases.push({ name, method, path, body, valid });

// The README's and docs/api.md's requests, as documented (with a JSON Content-Type:
// curl -d sends a form's, which the server ignores and Prism does not).
const curl = /^curl -s localhost:8080(\/\S+)(?: -d '([^']*)')?/gm;
for (const file of ['README.md', 'docs/api.md']) {
  for (const m of readFileSync(join(root, file), 'utf8').matchAll(curl)) {
    add(`${file}: ${m[1]}`, m[2] ? 'POST' : 'GET', m[1], m[2], true);
  }
}

const big = 'x'.repeat(300);
const clone = (v) => JSON.parse(JSON.stringify(v));

// Mutations of each operation's example: valid ones (nulls, every enum value) and
// malformed ones (missing, unknown, mistyped, oversized members).
for (const [path, item] of Object.entries(doc.paths)) {
  const op = item.post;
  if (!op || !path.startsWith('/v1/')) continue; // the native API's rules (AuthZEN's below)
  const example = op.requestBody.content['application/json'].example;
  const schema = doc.components.schemas[op.requestBody.content['application/json'].schema.$ref.split('/').pop()];
  add(`${path} example`, 'POST', path, JSON.stringify(example), true);
  for (const key of schema.required) {
    const b = clone(example);
    delete b[key];
    add(`${path} without ${key}`, 'POST', path, JSON.stringify(b), false);
  }
  for (const key of Object.keys(schema.properties)) {
    const b = clone(example);
    b[key] = 7;
    add(`${path} ${key}: a number`, 'POST', path, JSON.stringify(b), false);
    if (!schema.required.includes(key)) {
      const n = clone(example);
      n[key] = null;
      add(`${path} ${key}: null`, 'POST', path, JSON.stringify(n), undefined);
    }
    if (typeof example[key] === 'string') {
      const s = clone(example);
      s[key] = big;
      add(`${path} ${key}: 300 bytes`, 'POST', path, JSON.stringify(s), undefined);
    }
  }
  const u = clone(example);
  u.bogus = 1;
  add(`${path} unknown member`, 'POST', path, JSON.stringify(u), false);
  const t = clone(example);
  t.tenant = 'nobody';
  add(`${path} unknown tenant`, 'POST', path, JSON.stringify(t), true);
  for (const body of ['', '[]', '{', '{"tenant":"acme"}{}', '"acme"']) {
    add(`${path} body ${JSON.stringify(body)}`, 'POST', path, body, false);
  }
  if (example.subject) {
    for (const role of [...doc.components.schemas.Role.enum, 'Intern']) {
      const r = clone(example);
      r.subject.role = role;
      add(`${path} role ${role}`, 'POST', path, JSON.stringify(r), role !== 'Intern');
    }
    const r = clone(example);
    r.subject.extra = 'x';
    add(`${path} subject.extra`, 'POST', path, JSON.stringify(r), false);
  }
}

// Every action on every entity, every feature, every channel: valid JSON, and each
// answered 200 or, where the entity does not take the action, 400.
const s = doc.components.schemas;
const head = { tenant: 'acme', subject: { user: 'u-12', role: 'SalesUser' } };
for (const entity of s.Entity.enum) {
  for (const action of s.RecordAction.enum) {
    add(`check ${entity}.${action}`, 'POST', '/v1/check',
      JSON.stringify({ ...head, action, resource: { entity, owner: 'u-13' }, fields: ['Stage'], explain: true }), undefined);
    add(`filter ${entity}.${action}`, 'POST', '/v1/filter', JSON.stringify({ ...head, action, entity }), undefined);
  }
}
for (const feature of s.Feature.enum) {
  add(`access ${feature}`, 'POST', '/v1/check', JSON.stringify({ ...head, action: 'access', resource: { feature } }), true);
}
for (const channel of [...s.Channel.enum, '', 'Web']) {
  add(`channel ${channel}`, 'POST', '/v1/check', JSON.stringify({ ...head, action: 'view', resource: { entity: 'leads' },
    context: { channel, ip: '203.0.113.5' } }), channel !== 'Web');
}
for (const provider of [...s.Provider.enum, 'Okta']) {
  add(`login ${provider}`, 'POST', '/v1/login', JSON.stringify({ ...head, ip: '203.0.113.20', provider }), provider !== 'Okta');
}
const batch = Array.from({ length: 101 }, () => ({ action: 'view', resource: { entity: 'leads' } }));
add('checks 101', 'POST', '/v1/checks', JSON.stringify({ ...head, checks: batch }), false);
add('checks 100', 'POST', '/v1/checks', JSON.stringify({ ...head, checks: batch.slice(1) }), true);
add('checks 0', 'POST', '/v1/checks', JSON.stringify({ ...head, checks: [] }), false);
for (const path of ['/v1/tenants/acme', '/v1/tenants/nobody', `/v1/tenants/${'x'.repeat(257)}`, '/healthz', '/readyz',
  '/metrics', '/openapi.json', '/v1/nothing', '/v1/check']) {
  add(`GET ${path.slice(0, 40)}`, 'GET', path, undefined, undefined);
}

// AuthZEN: the OpenID certification scenario's protocol checks (Basic, Batch, Search,
// Discovery) on this tenant: unknown members ignored, missing or mistyped required
// members refused, per-item errors inside a batch, empty results for unknown ids.
const az = (p) => `/tenants/acme/access/v1/${p}`;
const sub = { type: 'user', id: 'u-12', properties: { role: 'SalesUser' } };
const lead = { type: 'leads', id: 'L-1', properties: { owner: 'u-13', fields: ['Stage'] } };
const evaluation = { subject: sub, action: { name: 'edit' }, resource: lead };
const azCase = (name, p, body, valid) => add(`authzen ${name}`, 'POST', az(p), typeof body === 'string' ? body : JSON.stringify(body), valid);
for (const p of ['evaluation', 'evaluations']) {
  azCase(`${p}`, p, evaluation, true);
  azCase(`${p} unknown members`, p, { ...evaluation, foo: 'bar', futureField: { nested: true } }, true);
  azCase(`${p} context`, p, { ...evaluation, context: { time: '2025-06-27T18:03-07:00', ip: '192.168.1.1' } }, true);
  azCase(`${p} no role`, p, { ...evaluation, subject: { type: 'user', id: 'u-12' } }, true);
  azCase(`${p} feature`, p, { subject: sub, action: { name: 'access' }, resource: { type: 'feature', id: 'Reports' } }, true);
  add(`authzen ${p} unknown tenant`, 'POST', `/tenants/nobody/access/v1/${p}`, JSON.stringify(evaluation), true);
  for (const key of ['subject', 'action', 'resource']) {
    const b = clone(evaluation);
    delete b[key];
    azCase(`${p} without ${key}`, p, b, false);
    const t = clone(evaluation);
    t[key] = 'x';
    azCase(`${p} ${key}: a string`, p, t, false);
  }
  for (const [entity, key] of [['subject', 'type'], ['subject', 'id'], ['action', 'name'], ['resource', 'type'], ['resource', 'id']]) {
    const b = clone(evaluation);
    delete b[entity][key];
    azCase(`${p} without ${entity}.${key}`, p, b, false);
    const n = clone(evaluation);
    n[entity][key] = 123;
    azCase(`${p} ${entity}.${key}: a number`, p, n, false);
  }
  for (const body of ['', '{', '[]', '"x"', JSON.stringify(evaluation) + '{}', '{"subject":{},"subject":{}}']) {
    azCase(`${p} body ${JSON.stringify(body).slice(0, 30)}`, p, body, false);
  }
}
for (const semantic of ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit', 'most']) {
  azCase(`evaluations ${semantic}`, 'evaluations', { subject: sub, action: { name: 'view' }, options: { evaluations_semantic: semantic },
    evaluations: [{ resource: lead }, {}, { resource: { type: 'feature', id: 'Reports' }, action: { name: 'access' } }, 7] }, semantic !== 'most');
}
azCase('evaluations 101', 'evaluations', { ...evaluation, evaluations: Array.from({ length: 101 }, () => ({})) }, false);
const searches = {
  subject: { subject: { type: 'user', properties: { role: 'SalesUser' } }, action: { name: 'view' }, resource: lead },
  resource: { subject: sub, action: { name: 'access' }, resource: { type: 'feature' } },
  action: { subject: sub, resource: lead },
};
for (const [kind, body] of Object.entries(searches)) {
  azCase(`search ${kind}`, `search/${kind}`, body, true);
  azCase(`search ${kind} page`, `search/${kind}`, { ...body, page: { limit: 1 } }, true);
  azCase(`search ${kind} bad token`, `search/${kind}`, { ...body, page: { token: 'nope' } }, false);
  azCase(`search ${kind} unknown type`, `search/${kind}`, { ...body, resource: { type: 'spaceship', id: 'S-1' } }, true);
  azCase(`search ${kind} unknown members`, `search/${kind}`, { ...body, foo: 1 }, true);
  for (const key of Object.keys(body)) {
    const b = clone(body);
    delete b[key];
    azCase(`search ${kind} without ${key}`, `search/${kind}`, b, false);
  }
}
azCase('search resource records', 'search/resource', { subject: sub, action: { name: 'view' }, resource: { type: 'leads' } }, true);
for (const path of ['/.well-known/authzen-configuration/tenants/acme', `/.well-known/authzen-configuration/tenants/${'x'.repeat(257)}`,
  '/.well-known/authzen-configuration']) {
  add(`GET ${path.slice(0, 50)}`, 'GET', path, undefined, undefined);
}

async function send(base, c) {
  const init = { method: c.method, headers: {} };
  if (c.body !== undefined) {
    init.body = c.body;
    init.headers['Content-Type'] = 'application/json';
  }
  const resp = await fetch(base + c.path, init);
  return { status: resp.status, type: resp.headers.get('content-type') || '', text: await resp.text() };
}

let passed = 0;
let failed = 0;
const statuses = {};
for (const c of cases) {
  const viaPrism = await send(prism, c);
  const direct = await send(server, c);
  const problems = [];
  const key = `${viaPrism.status}${viaPrism.status === direct.status ? '' : '/' + direct.status}`;
  statuses[key] = (statuses[key] || 0) + 1;
  const problem = viaPrism.type.includes('problem+json') ? JSON.parse(viaPrism.text) : null;
  if (problem && problem.type.endsWith('#VIOLATIONS')) {
    problems.push(`Prism: the answer breaks the document: ${JSON.stringify(problem.validation)}`);
  }
  for (const [who, r] of [['via Prism', viaPrism], ['direct', direct]]) {
    if (r.status >= 500 && r.status !== 503 && !(problem && who === 'via Prism')) problems.push(`${who}: ${r.status} ${r.text}`);
  }
  const refused = viaPrism.status === 422 && problem !== null;
  if (refused && direct.status < 400) {
    problems.push(`the document refuses it (${JSON.stringify(problem.validation)}) but the server answered ${direct.status}`);
  }
  if (refused && c.valid === true) problems.push(`meant valid, refused by the document: ${JSON.stringify(problem.validation)}`);
  if (c.valid === true && direct.status !== 200) problems.push(`meant valid, answered ${direct.status}: ${direct.text}`);
  if (c.valid === false && direct.status < 400) problems.push(`meant malformed, answered ${direct.status}`);
  if (!problem && viaPrism.status !== direct.status) problems.push(`Prism answered ${viaPrism.status}, the server ${direct.status}`);
  if (problems.length) {
    failed++;
    console.log(`FAIL ${c.name}: ${c.method} ${c.path.slice(0, 60)} ${(c.body || '').slice(0, 200)}\n  ${problems.join('\n  ')}`);
  } else {
    passed++;
  }
}
console.log(`prism: answers (via Prism/direct): ${JSON.stringify(statuses)}`);
console.log(`prism: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
