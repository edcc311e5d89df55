#!/usr/bin/env node
// Helpers for stack.sh, which runs the compose recipe's containers without a container engine.
//
//   stack-helper.mjs env COMPOSE_FILE SERVICE          the service's environment, NAME=VALUE per line
//   stack-helper.mjs entrypoint COMPOSE_FILE SERVICE   its entrypoint, one argument per line
//   stack-helper.mjs expect KAMAILIO_DIR               the final responses the demo calls must produce,
//                                                      as JSON {"INVITE 486": 2, ...} (from kamailio.cfg's
//                                                      routing and demo-users.csv)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const [cmd, a, b] = process.argv.slice(2);
const service = () => {
  const doc = parse(readFileSync(a, 'utf8'));
  const s = doc.services?.[b];
  if (!s) throw new Error(`no service ${b} in ${a}`);
  return s;
};

if (cmd === 'env') {
  for (const [k, v] of Object.entries(service().environment ?? {})) console.log(`${k}=${v}`);
} else if (cmd === 'entrypoint') {
  for (const x of service().entrypoint ?? []) console.log(x);
} else if (cmd === 'expect') {
  const cfg = readFileSync(join(a, 'kamailio.cfg'), 'utf8');
  const byUser = new Map([...cfg.matchAll(/\$rU == "(\w+)"\) \{\s*t_reply\("(\d{3})"/g)].map((m) => [m[1], Number(m[2])]));
  const users = readFileSync(join(a, 'demo-users.csv'), 'utf8').split('\n').slice(1).map((l) => l.split(';')[0].trim()).filter(Boolean);
  const out = {};
  const add = (k) => (out[k] = (out[k] ?? 0) + 1);
  for (const u of users) {
    if (u === 'answer') {
      add('INVITE 200');
      add('BYE 200');
    } else add(`INVITE ${byUser.get(u) ?? 404}`);
  }
  console.log(JSON.stringify(out));
} else {
  console.error('usage: stack-helper.mjs env|entrypoint COMPOSE_FILE SERVICE | expect KAMAILIO_DIR');
  process.exit(2);
}
