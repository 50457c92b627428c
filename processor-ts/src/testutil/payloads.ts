// Encoded ProfilesData of the memory attacks of issue 13, written with the wire writer so that
// building them costs the test little: small on the wire, large once decoded or stored.
import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** Appends field `f` holding the message written by `body`. */
function message(w: BinaryWriter, f: number, body: (w: BinaryWriter) => void): void {
  w.tag(f, 2).fork();
  body(w);
  w.join();
}

/** A resource with process.pid and one cpu profile whose samples name stacks 1..stacks. */
function cpuResource(w: BinaryWriter, pid: number, stacks: number): void {
  message(w, 1, (rp) => {
    // resource.attributes: process.pid
    message(rp, 1, (r) => message(r, 1, (kv) => {
      kv.tag(1, 2).string('process.pid');
      message(kv, 2, (v) => v.tag(3, 0).int64(pid));
    }));
    message(rp, 2, (sp) => message(sp, 2, (p) => {
      message(p, 1, (vt) => vt.tag(1, 0).int32(1).tag(2, 0).int32(2)); // samples/count
      message(p, 5, (vt) => vt.tag(1, 0).int32(3).tag(2, 0).int32(4)); // cpu/nanoseconds
      for (let s = 1; s <= stacks; s++) {
        message(p, 2, (smp) => {
          smp.tag(1, 0).int32(s);
          smp.tag(4, 2).fork().int64(1).join();
        });
      }
    }));
  });
}

/** The string table every payload starts with: "", then the profile type names. */
function baseStrings(d: BinaryWriter): void {
  for (const s of ['', 'samples', 'count', 'cpu', 'nanoseconds']) d.tag(5, 2).string(s);
}

/**
 * The flame store attack: `stacks` distinct stacks of `depth` locations, every location one
 * line of one function whose name is `nameChars` long (1,000 × 1,000 × 5,000 is 1.9 MB on
 * the wire; joined into strings it is 5 GB).
 */
export function longNameStacks(stacks = 1000, depth = 1000, nameChars = 5000): Uint8Array {
  const w = new BinaryWriter();
  cpuResource(w, 4242, stacks);
  message(w, 2, (d) => {
    d.tag(1, 2).fork().join(); // mapping 0
    d.tag(2, 2).fork().join(); // location 0
    for (let l = 1; l <= depth; l++) message(d, 2, (loc) => message(loc, 3, (ln) => ln.tag(1, 0).int32(1).tag(2, 0).int64(l)));
    d.tag(3, 2).fork().join(); // function 0
    message(d, 3, (f) => f.tag(1, 0).int32(5)); // function 1: the long name
    baseStrings(d);
    d.tag(5, 2).string('f'.repeat(nameChars));
    d.tag(7, 2).fork().join(); // stack 0
    for (let s = 1; s <= stacks; s++) {
      // A rotation of the locations: every stack distinct.
      message(d, 7, (st) => {
        st.tag(1, 2).fork();
        for (let i = 0; i < depth; i++) st.int32(1 + ((i + s) % depth));
        st.join();
      });
    }
  });
  return w.finish();
}

/** `n` empty Locations: 2 bytes each on the wire. */
export function emptyLocations(n = 1_000_000): Uint8Array {
  const w = new BinaryWriter();
  cpuResource(w, 4243, 0);
  message(w, 2, (d) => {
    baseStrings(d);
    for (let i = 0; i < n; i++) d.tag(2, 2).fork().join();
  });
  return w.finish();
}

/** `n` one-character strings. */
export function manyStrings(n = 2_000_000): Uint8Array {
  const w = new BinaryWriter();
  message(w, 2, (d) => {
    baseStrings(d);
    for (let i = 0; i < n; i++) d.tag(5, 2).string('x');
  });
  return w.finish();
}

/** One location in a mapping of `path` for process `pid`: a request that makes the symbolizer open the file. */
export function mappingOf(path: string, pid: number): Uint8Array {
  const w = new BinaryWriter();
  cpuResource(w, pid, 1);
  message(w, 2, (d) => {
    d.tag(1, 2).fork().join(); // mapping 0
    message(d, 1, (m) => m.tag(1, 0).uint64(0x400000).tag(2, 0).uint64(0x800000).tag(3, 0).uint64(0).tag(4, 0).int32(5));
    d.tag(2, 2).fork().join(); // location 0
    message(d, 2, (loc) => loc.tag(1, 0).int32(1).tag(2, 0).uint64(0x401234));
    baseStrings(d);
    d.tag(5, 2).string(path);
    d.tag(7, 2).fork().join(); // stack 0
    message(d, 7, (st) => st.tag(1, 2).fork().int32(1).join());
  });
  return w.finish();
}
