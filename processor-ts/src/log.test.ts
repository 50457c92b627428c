import { describe, expect, it } from 'vitest';
import { createLogger, isLogLevel, nullLogger } from './log.js';

describe('log', () => {
  it('writes one JSON object a line with level filtering, fields and children', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l), fields: { c: 'x' }, now: () => new Date(0) });
    log.debug('hidden');
    log.info('hello', { n: 1n, err: new Error('boom') });
    log.child({ req: 7 }).warn('careful');
    log.error('bad');
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
    expect(JSON.parse(lines[0]!)).toEqual({ time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'hello', c: 'x', n: '1', err: 'boom' });
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'warn', msg: 'careful', c: 'x', req: 7 });
    expect(JSON.parse(lines[2]!)).toMatchObject({ level: 'error' });
  });

  it('knows its levels and has a silent logger', () => {
    expect(isLogLevel('debug')).toBe(true);
    expect(isLogLevel('loud')).toBe(false);
    nullLogger.error('nothing');
    const debug: string[] = [];
    createLogger({ level: 'debug', write: (l) => debug.push(l) }).debug('d');
    expect(debug).toHaveLength(1);
  });
});
