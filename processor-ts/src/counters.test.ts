import { describe, expect, it } from 'vitest';
import { Counters, METRIC } from './counters.js';

describe('Counters', () => {
  it('counts by labels and renders the Prometheus text format', () => {
    const c = new Counters();
    c.inc(METRIC.filesFailed, { reason: 'file_not_found' });
    c.inc(METRIC.filesFailed, { reason: 'file_not_found' }, 2);
    c.inc(METRIC.filesFailed, { reason: 'say "hi"\n\\' });
    c.inc(METRIC.cacheHits, undefined, 0);
    c.inc(METRIC.framesResolved, undefined, 5);
    c.inc('custom_total');
    c.gauge('g', 'a gauge', () => 42);
    expect(c.get(METRIC.filesFailed, { reason: 'file_not_found' })).toBe(3);
    expect(c.get(METRIC.cacheHits)).toBe(0);
    expect(c.get('g')).toBe(42);
    expect(c.get('missing')).toBe(0);
    const text = c.render();
    expect(text).toContain(`# TYPE ${METRIC.filesFailed} counter\n`);
    expect(text).toContain(`${METRIC.filesFailed}{reason="file_not_found"} 3\n`);
    expect(text).toContain(`${METRIC.filesFailed}{reason="say \\"hi\\"\\n\\\\"} 1\n`);
    expect(text).toContain(`${METRIC.framesResolved} 5\n`);
    expect(text).toContain('# HELP custom_total custom_total\n');
    expect(text).toContain('# TYPE g gauge\ng 42\n');
    expect(text).not.toContain(METRIC.cacheHits);
  });
});
