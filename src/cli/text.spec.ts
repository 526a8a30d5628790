import { formatTable, printable } from './text.js';

describe('printable', () => {
  it('turns control characters (terminal escapes, newlines) into spaces', () => {
    expect(printable('a\u001b[2Jb\r\nc\u0085d\u2028e')).toBe('a [2Jb c d e');
    expect(printable(undefined)).toBe('');
    expect(printable(42)).toBe('42');
  });
});

describe('formatTable', () => {
  it('pads each column to its widest cell and leaves the last one unpadded', () => {
    expect(
      formatTable(
        ['A', 'LONG HEADER', 'LAST'],
        [
          ['1', 'x', 'free text'],
          ['wide cell', '', ''],
        ],
      ),
    ).toBe(
      [
        'A          LONG HEADER  LAST',
        '---------  -----------  ---------',
        '1          x            free text',
        'wide cell',
      ].join('\n') + '\n',
    );
  });

  it('cleans the cells it prints', () => {
    const table = formatTable(['X'], [['evil\u001b]0;title\u0007']]);
    expect(table.split('\n')[2]).toBe('evil ]0;title');
    expect(table.replace(/\n/g, '')).not.toMatch(/[\u0000-\u001f]/);
  });
});
