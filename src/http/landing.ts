import type { Catalogue } from '../classify/catalogue.js';
import { CLASSES } from '../classify/status.js';
import { PACKAGE } from '../paths.js';

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** The landing page: what this is, links, and a readable catalogue. Built once at start-up. */
export function renderLanding(catalogue: Catalogue, metricsPath: string, inputs: readonly string[]): string {
  const sections = CLASSES.map((cls) => {
    const info = catalogue.classInfo(cls);
    const rows = catalogue
      .entries()
      .filter((e) => e.class === cls)
      .map((e) => {
        const flags = [e.expected ? 'expected' : '', e.legacy ? 'legacy' : '', e.deprecated ? 'deprecated' : ''].filter(Boolean).join(', ');
        return `<tr id="code-${e.code}"><td><a href="api/v1/codes/${e.code}">${e.code}</a></td><td>${esc(e.reason)}</td><td>${esc(e.meaning)}</td><td>${esc(e.rfc)}</td><td>${flags}</td></tr>`;
      })
      .join('\n');
    return `<h3>${cls} ${esc(info.name)}</h3><p>${esc(info.meaning)}</p>
<table><thead><tr><th>Code</th><th>Reason</th><th>Meaning</th><th>RFC</th><th>Flags</th></tr></thead><tbody>
${rows}
</tbody></table>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SIP Response Exporter</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f4f4f4}</style>
</head><body>
<h1>SIP Response Exporter</h1>
<p>Version ${esc(PACKAGE.version)}. Counts SIP responses from proxy logs, HEP and syslog, classified by status code.</p>
<p>Inputs enabled: ${inputs.length > 0 ? inputs.map(esc).join(', ') : 'none'}.</p>
<ul>
<li><a href="${esc(metricsPath.replace(/^\//, ''))}">Metrics</a></li>
<li><a href="-/healthy">Health</a> and <a href="-/ready">readiness</a></li>
<li><a href="api/v1/codes">Catalogue as JSON</a> (one code: <code>api/v1/codes/486</code>)</li>
</ul>
<h2>Status code catalogue</h2>
<p>Codes not listed here are valid when they are three digits from 100 to 699; they are counted with reason "Unrecognized" and, as RFC 3261 says, treated like the x00 code of their class.</p>
${sections}
</body></html>
`;
}
