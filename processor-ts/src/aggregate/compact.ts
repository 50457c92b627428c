import { create } from '@bufbuild/protobuf';
import {
  type ProfilesData,
  ProfileSchema,
  ProfilesDataSchema,
  ResourceProfilesSchema,
  SampleSchema,
  ScopeProfilesSchema,
  ValueTypeSchema,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { Interner, resolveKeyValues } from './dict.js';
import { Importer } from './importer.js';

/**
 * Rebuilds the dictionary of `data` from what its profiles reference: no duplicate rows in
 * any table, no rows nothing refers to, index 0 the zero value of every table. Samples are
 * kept one for one (use merge to sum equal ones). Resource and scope attributes that refer
 * to the string table are resolved to plain strings. Returns a new message; `data` is not
 * changed.
 */
export function compact(data: ProfilesData): ProfilesData {
  const it = new Interner();
  const src = data.dictionary;
  const strings = src?.stringTable ?? [];
  const imp = src ? new Importer(src, it) : undefined;
  const out = create(ProfilesDataSchema, { dictionary: it.dict });
  for (const rp of data.resourceProfiles) {
    const orp = create(ResourceProfilesSchema, { schemaUrl: rp.schemaUrl });
    if (rp.resource) orp.resource = { ...rp.resource, attributes: resolveKeyValues(rp.resource.attributes, strings) };
    for (const sp of rp.scopeProfiles) {
      const osp = create(ScopeProfilesSchema, { schemaUrl: sp.schemaUrl });
      if (sp.scope) osp.scope = { ...sp.scope, attributes: resolveKeyValues(sp.scope.attributes, strings) };
      for (const p of sp.profiles) {
        const op = create(ProfileSchema, { ...p, samples: [], attributeIndices: imp?.attributes(p.attributeIndices) ?? [] });
        op.sampleType = create(ValueTypeSchema, { typeStrindex: imp?.string(p.sampleType?.typeStrindex ?? 0) ?? 0, unitStrindex: imp?.string(p.sampleType?.unitStrindex ?? 0) ?? 0 });
        if (p.periodType) op.periodType = create(ValueTypeSchema, { typeStrindex: imp?.string(p.periodType.typeStrindex) ?? 0, unitStrindex: imp?.string(p.periodType.unitStrindex) ?? 0 });
        for (const s of p.samples) {
          op.samples.push(create(SampleSchema, {
            stackIndex: imp?.stack(s.stackIndex) ?? 0,
            attributeIndices: imp?.attributes(s.attributeIndices) ?? [],
            linkIndex: imp?.link(s.linkIndex) ?? 0,
            values: s.values,
            timestampsUnixNano: s.timestampsUnixNano,
          }));
        }
        osp.profiles.push(op);
      }
      orp.scopeProfiles.push(osp);
    }
    out.resourceProfiles.push(orp);
  }
  return out;
}
