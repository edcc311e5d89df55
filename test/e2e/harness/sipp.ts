/**
 * Drives sipp against a harness Kamailio: renders the scenario templates in ./scenarios, starts one
 * sipp UAS and one sipp UAC per call group, waits for both, and returns the outcome table the plan
 * must produce. See ./index.ts for the overview.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kamailio } from './kamailio.js';
import { expectedOutcome, normalizeGroup, type CallGroup, type Expected, type NormalizedGroup } from './plan.js';
import { freePort, isBound, LOOPBACK, requireBinary, startChild, stopChild, type Child } from './proc.js';

export const SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));

/**
 * Copies scenario `name` (e.g. "uac-reject.xml") to `outFile`, replacing every __NAME__ placeholder
 * with vars[NAME]. sipp cannot take response codes or methods from -key (it checks them when it loads
 * the file), hence the templates. Throws on a missing variable or a value that would break the XML.
 */
export function renderScenario(name: string, vars: Record<string, string | number>, outFile: string): string {
  const text = readFileSync(join(SCENARIO_DIR, name), 'utf8');
  const out = text.replace(/__([A-Z][A-Z0-9_]*)__/g, (_m, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new Error(`scenario ${name}: no value for __${key}__`);
    const s = String(v);
    if (/[<>&"\r\n]|\]\]/.test(s)) throw new Error(`scenario ${name}: unsafe value for __${key}__: ${JSON.stringify(s)}`);
    return s;
  });
  writeFileSync(outFile, out);
  return outFile;
}

export interface RunCallsOptions {
  /** Answered calls: time between ACK and BYE (sipp -d). Default 20 ms. */
  holdMs?: number;
  /** Groups running at the same time. Default 4. Groups are independent (own UAS, own ports). */
  concurrency?: number;
  /** Retransmit groups: the UAS's first retransmission interval (doubles each time). Default 200 ms. */
  retransmitT1Ms?: number;
  /** Retransmit groups: how long the UAS keeps a call and retransmits. Default 1000 ms (=> 2 copies at T1 200). */
  retransmitForMs?: number;
  /** Keep sipp's message and error traces in each group's directory (-trace_msg -trace_err). Default false. */
  trace?: boolean;
}

export interface GroupRun {
  group: NormalizedGroup;
  /** Directory with the rendered scenarios (and traces). */
  dir: string;
  /** Request-URI user the caller dialled: "uas-<uasPort>" or "nobody" for unknown-user. */
  service: string;
  uasPort: number | undefined;
  uacPort: number;
  elapsedMs: number;
}

export interface CallsResult {
  /** What this plan must produce, derived from the plan and Kamailio's acc settings only. */
  expected: Expected;
  groups: GroupRun[];
  elapsedMs: number;
}

let runSeq = 0;

interface GroupSetup {
  uas?: { file: string; vars: Record<string, string | number> };
  uac: { file: string; vars: Record<string, string | number> };
  /** How long the UAS keeps a call beyond the caller's last message (timeouts, retransmissions). */
  lingerMs: number;
}

function setupFor(g: NormalizedGroup, k: Kamailio, o: Required<Omit<RunCallsOptions, 'trace' | 'concurrency'>>): GroupSetup {
  // The caller expects g.code; the UAS sends g.uasCode (they differ for 503, which arrives as 500).
  const reject = { file: 'uac-reject.xml', vars: { CODE: g.code } };
  const uasCode = g.uasCode ?? g.code;
  switch (g.kind) {
    case 'answer':
      return { uas: { file: 'uas-answer.xml', vars: {} }, uac: { file: 'uac-answer.xml', vars: {} }, lingerMs: 0 };
    case 'reject':
      return { uas: { file: 'uas-reject.xml', vars: { CODE: uasCode, REASON: g.reason } }, uac: reject, lingerMs: 0 };
    case 'reject-retransmit':
      return {
        uas: { file: 'uas-reject-retransmit.xml', vars: { CODE: uasCode, REASON: g.reason, RETRANS: o.retransmitT1Ms, LINGER: o.retransmitForMs } },
        uac: reject,
        lingerMs: o.retransmitForMs,
      };
    case 'cancel':
      return { uas: { file: 'uas-ring-cancel.xml', vars: {} }, uac: { file: 'uac-cancel.xml', vars: {} }, lingerMs: 0 };
    case 'timeout': {
      // Outlive the proxy's fr_timer so its request retransmissions hit the same (silent) call.
      const linger = k.settings.frTimerMs + 500;
      const uac = g.method === 'INVITE' ? reject : { file: 'uac-non-invite.xml', vars: { CODE: g.code, METHOD: g.method } };
      return { uas: { file: 'uas-noanswer.xml', vars: { METHOD: g.method, LINGER: linger } }, uac, lingerMs: linger };
    }
    case 'unknown-user':
      return { uac: g.method === 'INVITE' ? reject : { file: 'uac-non-invite.xml', vars: { CODE: g.code, METHOD: g.method } }, lingerMs: 0 };
    case 'non-invite':
      return {
        uas: { file: 'uas-non-invite.xml', vars: { CODE: uasCode, REASON: g.reason } },
        uac: { file: 'uac-non-invite.xml', vars: { CODE: g.code, METHOD: g.method } },
        lingerMs: 0,
      };
  }
}

function describe(g: NormalizedGroup): string {
  return `${g.count} x ${g.method} ${g.kind} ${g.uasCode ?? g.code}->${g.code} over ${g.transport}`;
}

function failure(what: string, g: NormalizedGroup, dir: string, parts: Array<[string, Child | undefined]>): Error {
  const detail = parts
    .filter((p): p is [string, Child] => p[1] !== undefined)
    .map(([name, c]) => `--- ${name} (pid ${c.pid}, exit ${JSON.stringify(c.exit)}):\n${c.stderr().slice(0, 3000)}\n${c.stdout().slice(-2500)}`)
    .join('\n');
  return new Error(`sipp group "${describe(g)}" ${what} (files in ${dir})\n${detail}`);
}

async function runGroup(k: Kamailio, g: NormalizedGroup, index: number, runDir: string, o: Required<RunCallsOptions>): Promise<GroupRun> {
  const sipp = requireBinary('sipp');
  const started = Date.now();
  const dir = join(runDir, `g${index}-${g.kind}-${g.method}-${g.uasCode ?? g.code}`);
  mkdirSync(dir, { recursive: true });
  const setup = setupFor(g, k, o);
  const limitS = Math.ceil(g.count / g.rate + (setup.lingerMs + k.settings.frInvTimerMs) / 1000 + 15);
  const common = ['-i', LOOPBACK, '-m', String(g.count), '-nostdin', '-timeout', String(limitS), '-timeout_error'];
  const trace = (name: string): string[] =>
    o.trace ? ['-trace_msg', '-message_file', join(dir, `${name}.messages.log`), '-trace_err', '-error_file', join(dir, `${name}.errors.log`)] : [];

  let uas: Child | undefined;
  let uasPort: number | undefined;
  if (setup.uas) {
    const file = renderScenario(setup.uas.file, setup.uas.vars, join(dir, setup.uas.file));
    uasPort = await freePort('udp');
    uas = startChild(sipp, ['-sf', file, '-p', String(uasPort), '-t', 'u1', ...common, ...trace('uas')], { cwd: dir });
    const deadline = Date.now() + 10_000;
    while (!isBound(uasPort, 'udp')) {
      if (uas.exit !== undefined) throw failure('UAS did not start', g, dir, [['uas', uas]]);
      if (Date.now() > deadline) {
        await stopChild(uas);
        throw failure('UAS did not bind its port', g, dir, [['uas', uas]]);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  const service = uasPort === undefined ? 'nobody' : `uas-${uasPort}`;
  const uacFile = renderScenario(setup.uac.file, setup.uac.vars, join(dir, setup.uac.file));
  const uacPort = await freePort(g.transport === 'tcp' ? 'both' : 'udp');
  const uac = startChild(
    sipp,
    [
      '-sf', uacFile,
      '-s', service,
      '-p', String(uacPort),
      '-t', g.transport === 'tcp' ? 't1' : 'u1',
      '-r', String(g.rate), '-rp', '1000',
      '-d', String(o.holdMs),
      ...common,
      ...trace('uac'),
      `${k.host}:${k.sipPort}`,
    ],
    { cwd: dir },
  );
  const uacExit = await uac.exited;
  if (uacExit.code !== 0) {
    if (uas) await stopChild(uas);
    throw failure(`caller failed (sipp exit ${uacExit.code ?? uacExit.signal})`, g, dir, [['uac', uac], ['uas', uas]]);
  }
  if (uas) {
    // The UAS ends its last call right after the caller (plus its linger time), then exits by -m.
    const timer = setTimeout(() => void stopChild(uas), setup.lingerMs + 10_000);
    const uasExit = await uas.exited;
    clearTimeout(timer);
    if (uasExit.code !== 0) throw failure(`callee failed (sipp exit ${uasExit.code ?? uasExit.signal})`, g, dir, [['uas', uas], ['uac', uac]]);
  }
  return { group: g, dir, service, uasPort, uacPort, elapsedMs: Date.now() - started };
}

/**
 * Runs every group of `plan` through Kamailio `k` and resolves when all sipp processes have finished
 * successfully (every call followed its scenario, so every response in the plan really happened).
 * Throws with sipp's output when a caller or callee fails. The returned `expected` table comes from
 * the plan alone; wait for the log with waitForAccLines(k, total).
 */
export async function runCalls(k: Kamailio, plan: readonly CallGroup[], options: RunCallsOptions = {}): Promise<CallsResult> {
  const groups = plan.map(normalizeGroup); // validate everything before starting anything
  const expected = expectedOutcome(plan, k.settings);
  const o: Required<RunCallsOptions> = {
    holdMs: options.holdMs ?? 20,
    concurrency: Math.max(1, options.concurrency ?? 4),
    retransmitT1Ms: options.retransmitT1Ms ?? 200,
    retransmitForMs: options.retransmitForMs ?? 1000,
    trace: options.trace ?? false,
  };
  const started = Date.now();
  const runDir = join(k.dir, `sipp-run-${++runSeq}`);
  mkdirSync(runDir, { recursive: true });
  const results: GroupRun[] = new Array<GroupRun>(groups.length);
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < groups.length) {
      const i = next++;
      try {
        results[i] = await runGroup(k, groups[i]!, i, runDir, o);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, groups.length) }, worker));
  if (failed !== undefined) throw failed;
  return { expected, groups: results, elapsedMs: Date.now() - started };
}
