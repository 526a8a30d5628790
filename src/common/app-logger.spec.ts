import { Writable } from 'node:stream';
import { createAppLogger, PinoNestLogger, requestLogs } from './app-logger.js';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...chunk
          .toString('utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      );
      callback();
    },
  });
  const root = createAppLogger(level, destination);
  return { root, lines, nest: new PinoNestLogger(root) };
}

describe('PinoNestLogger', () => {
  it("writes a Nest Logger call as one JSON line with its level name and the logger's context", () => {
    const { nest, lines } = capture();
    nest.log('listening', 'Main');
    nest.warn('slow', 'Relay');
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', context: 'Main', msg: 'listening' }),
      expect.objectContaining({ level: 'warn', context: 'Relay', msg: 'slow' }),
    ]);
  });

  it("keeps Logger.error's stack apart from its context, and an Error as err", () => {
    const { nest, lines } = capture();
    nest.error('failed', 'Error: boom\n    at here', 'Audit');
    nest.error('failed without a stack', undefined, 'Audit');
    nest.error(new Error('thrown'), 'Writer');
    expect(lines[0]).toMatchObject({
      level: 'error',
      context: 'Audit',
      msg: 'failed',
      stack: 'Error: boom\n    at here',
    });
    expect(lines[1]).toMatchObject({ context: 'Audit', msg: 'failed without a stack' });
    expect(lines[1]).not.toHaveProperty('stack');
    expect(lines[2]).toMatchObject({ context: 'Writer', msg: 'thrown', err: { type: 'Error', message: 'thrown' } });
  });

  it('stays below LOG_LEVEL silent', () => {
    const { nest, lines } = capture('warn');
    nest.log('chatty', 'Main');
    nest.debug('chattier', 'Main');
    nest.warn('kept', 'Main');
    expect(lines.map((line) => line.msg)).toEqual(['kept']);
  });

  it("writes through the current request's logger, so a line made while handling it carries its requestId", () => {
    const { nest, root, lines } = capture();
    requestLogs.run(root.child({ requestId: 'req-7' }), () => nest.log('inside', 'Service'));
    nest.log('outside', 'Service');
    expect(lines[0]).toMatchObject({ requestId: 'req-7', msg: 'inside' });
    expect(lines[1]).not.toHaveProperty('requestId');
  });

  it('redacts an authorization header or a raw URL logged by mistake', () => {
    const { root, lines } = capture();
    root.info({ req: { headers: { authorization: 'Bearer secret', cookie: 'a=b' } } }, 'oops');
    root.info({ headers: { authorization: 'Bearer secret' } }, 'oops again');
    expect(JSON.stringify(lines)).not.toContain('secret');
    expect(JSON.stringify(lines)).not.toContain('a=b');
  });
});
