import { describe, expect, it } from 'vitest';
import { FileImage } from './image.js';

describe('FileImage', () => {
  const file = Buffer.from(Array.from({ length: 100 }, (_, i) => i + 1));
  const image = new FileImage(100, [
    { offset: 60, buf: file.subarray(60, 80) },
    { offset: 0, buf: file.subarray(0, 30) },
    { offset: 30, buf: file.subarray(30, 40) },
  ]);
  // What a zero-filled buffer of the whole file holding the same pieces gives.
  const zeroFilled = Buffer.alloc(100);
  for (const [a, b] of [[0, 40], [60, 80]] as const) file.copy(zeroFilled, a, a, b);

  it('serves a range inside one piece as a view of it', () => {
    const v = image.bytes(62, 70);
    expect(v.equals(file.subarray(62, 70))).toBe(true);
    expect(v.buffer).toBe(file.buffer);
    expect(image.loadedBytes).toBe(60);
    expect(image.size).toBe(100);
  });

  it('reads unread bytes and ranges across pieces as a zero-filled whole-file buffer would', () => {
    for (const [a, b] of [[0, 100], [25, 35], [35, 65], [40, 60], [79, 81], [90, 100], [0, 0], [50, 50]] as const) {
      expect(image.bytes(a, b).equals(zeroFilled.subarray(a, b)), `${a}-${b}`).toBe(true);
    }
  });

  it('clamps ranges to the file as Buffer.subarray does', () => {
    expect(image.bytes(95, 200).equals(zeroFilled.subarray(95, 200))).toBe(true);
    expect(image.bytes(-5, 3).equals(zeroFilled.subarray(0, 3))).toBe(true);
    expect(image.bytes(150, 160).length).toBe(0);
    expect(image.bytes(70, 60).length).toBe(0);
  });

  it('refuses overlapping pieces and pieces past the end', () => {
    expect(() => new FileImage(10, [{ offset: 0, buf: Buffer.alloc(6) }, { offset: 5, buf: Buffer.alloc(2) }])).toThrow(RangeError);
    expect(() => new FileImage(10, [{ offset: 8, buf: Buffer.alloc(3) }])).toThrow(RangeError);
    expect(FileImage.whole(file).bytes(10, 20).equals(file.subarray(10, 20))).toBe(true);
  });
});
