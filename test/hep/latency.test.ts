import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, latencyMetrics } from '../../src/metrics/latency.js';
import { parseExposition, sum } from '../helpers/metrics.js';

describe('latency histograms', () => {
  it('expose cumulative buckets, sum and count like a prom-client histogram', async () => {
    const r = new Registry();
    const m = latencyMetrics(r);
    m.observeFinal('hep', 'INVITE', 486, 0.004);
    m.observeFinal('hep', 'INVITE', 486, 0.3);
    m.observeFinal('hep', 'INVITE', 486, 500);
    m.observeSrd('hep', 180, 1.2);
    const s = parseExposition(await r.metrics());
    const b = (le: string) => sum(s, 'sip_final_response_delay_seconds_bucket', { method: 'INVITE', class: '4xx', source: 'hep', le });
    expect(b('0.005')).toBe(1);
    expect(b('0.25')).toBe(1);
    expect(b('0.5')).toBe(2);
    expect(b('120')).toBe(2);
    expect(b('+Inf')).toBe(3);
    expect(sum(s, 'sip_final_response_delay_seconds_count', { method: 'INVITE', class: '4xx' })).toBe(3);
    expect(sum(s, 'sip_final_response_delay_seconds_sum', { method: 'INVITE', class: '4xx' })).toBeCloseTo(500.304, 6);
    expect(sum(s, 'sip_session_request_delay_seconds_bucket', { class: '1xx', le: '2.5' })).toBe(1);
    // buckets are in ascending order with +Inf last, as Prometheus requires
    const les = s.filter((x) => x.name === 'sip_final_response_delay_seconds_bucket' && x.labels.class === '4xx').map((x) => x.labels.le);
    expect(les).toEqual([...LATENCY_BUCKETS.map(String), '+Inf']);
  });

  it('is a prom-client Histogram whose get() has the usual shape (read by the OpenTelemetry mirror)', async () => {
    const r = new Registry();
    const m = latencyMetrics(r);
    m.observeSrd('hep', 200, 0.07);
    const metric = r.getSingleMetric('sip_session_request_delay_seconds');
    expect(metric).toBeInstanceOf(Histogram);
    const data = await (metric as Histogram<string>).get();
    expect(data.type).toBe('histogram');
    const count = data.values.find((v) => v.metricName === 'sip_session_request_delay_seconds_count');
    expect(count).toMatchObject({ labels: { class: '2xx', source: 'hep' }, value: 1 });
    const bucket = data.values.find((v) => v.metricName === 'sip_session_request_delay_seconds_bucket' && v.labels.le === 0.1);
    expect(bucket?.value).toBe(1);
  });

  it('shows the dashboard series at zero and is created once per registry', async () => {
    const r = new Registry();
    expect(latencyMetrics(r)).toBe(latencyMetrics(r));
    latencyMetrics(r).showZeroSeries('hep');
    const text = await r.metrics();
    expect(text).toContain('sip_session_request_delay_seconds_count{class="1xx",source="hep"} 0');
    expect(text).toContain('sip_final_response_delay_seconds_count{method="REGISTER",class="2xx",source="hep"} 0');
    expect(text).not.toContain('source="log"');
  });
});
