/** Parse failure; caught at the entry point and turned into `undefined`. */
export class Fail extends Error {}
export const fail = (): never => { throw new Fail(); };

export function isDigit(c: string): boolean { return c >= '0' && c <= '9' && c.length === 1; }

/** Operator encodings: [spelling, kind] with kind b=binary, p=prefix, x=other. */
export const OPERATORS: Record<string, [string, string]> = {
  aa: ['&&', 'b'], ad: ['&', 'p'], an: ['&', 'b'], aN: ['&=', 'b'], aS: ['=', 'b'], cl: ['()', 'x'], cm: [',', 'b'],
  co: ['~', 'p'], da: [' delete[]', 'x'], de: ['*', 'p'], dl: [' delete', 'x'], dv: ['/', 'b'], dV: ['/=', 'b'],
  eo: ['^', 'b'], eO: ['^=', 'b'], eq: ['==', 'b'], ge: ['>=', 'b'], gt: ['>', 'b'], ix: ['[]', 'x'], le: ['<=', 'b'],
  ls: ['<<', 'b'], lS: ['<<=', 'b'], lt: ['<', 'b'], mi: ['-', 'b'], mI: ['-=', 'b'], ml: ['*', 'b'], mL: ['*=', 'b'],
  mm: ['--', 'x'], na: [' new[]', 'x'], ne: ['!=', 'b'], ng: ['-', 'p'], nt: ['!', 'p'], nw: [' new', 'x'],
  oo: ['||', 'b'], or: ['|', 'b'], oR: ['|=', 'b'], pm: ['->*', 'b'], pl: ['+', 'b'], pL: ['+=', 'b'], pp: ['++', 'x'],
  ps: ['+', 'p'], pt: ['->', 'x'], qu: ['?', 'x'], rm: ['%', 'b'], rM: ['%=', 'b'], rs: ['>>', 'b'], rS: ['>>=', 'b'],
  ss: ['<=>', 'b'],
};
