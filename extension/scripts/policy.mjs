/**
 * Reads the vault's policies (taxonomy.yaml, sensitive.yaml, gestures.yaml) with the `yaml` package
 * and compiles what the extension needs into one object (written as policy.json by the build).
 * The policies directory is the single source: nothing here copies categories by hand.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { GESTURE_TYPES } from '../src/gesture.js';

export class PolicyError extends Error {}

function readYaml(file) {
  const doc = YAML.parseDocument(readFileSync(file, 'utf8'), { prettyErrors: true });
  if (doc.errors.length) throw new PolicyError(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return doc.toJS();
}

const asList = (v) => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** @returns {{version: string|null, categories: object[], sensitive: string[], gestures: string[]}} */
export function loadPolicy(dir) {
  const taxFile = join(dir, 'taxonomy.yaml');
  if (!existsSync(taxFile)) throw new PolicyError(`${taxFile} not found`);
  const tax = readYaml(taxFile);
  const rawCats = Array.isArray(tax) ? tax : tax?.categories;
  if (!Array.isArray(rawCats) || !rawCats.length) throw new PolicyError(`${taxFile}: expected a list of categories`);
  const ids = new Set();
  const categories = rawCats.map((c, i) => {
    if (!c || typeof c.id !== 'string' || !c.id) throw new PolicyError(`${taxFile}: category #${i + 1} has no id`);
    if (ids.has(c.id)) throw new PolicyError(`${taxFile}: duplicate category id ${c.id}`);
    ids.add(c.id);
    const synonyms = {};
    if (Array.isArray(c.synonyms)) synonyms.any = c.synonyms.map(String);
    else for (const [lang, list] of Object.entries(c.synonyms || {})) synonyms[lang] = asList(list).map(String);
    const out = {
      id: c.id,
      parent: c.parent ?? null,
      name: String(c.name ?? c.id),
      keywords: asList(c.keywords).map(String),
      synonyms,
    };
    const gpc = c.google_product_category;
    if (gpc) out.google_product_category = asList(gpc).map(String);
    const hints = [...asList(c.schema_org), ...asList(c.schema_hints)].map(String);
    if (hints.length) out.schema_org = hints;
    if (c.sensitive) out.sensitive = true;
    return out;
  });
  for (const c of categories) {
    if (c.parent !== null && !ids.has(c.parent)) throw new PolicyError(`${taxFile}: ${c.id} has unknown parent ${c.parent}`);
  }
  const sensitive = new Set(categories.filter((c) => c.sensitive).map((c) => c.id));
  const sensFile = join(dir, 'sensitive.yaml');
  if (existsSync(sensFile)) {
    const s = readYaml(sensFile);
    for (const e of asList(Array.isArray(s) ? s : s?.categories)) {
      const id = typeof e === 'string' ? e : e?.id;
      if (!id) continue;
      if (!ids.has(id)) throw new PolicyError(`${sensFile}: unknown category ${id}`);
      sensitive.add(id);
    }
  }
  let gestures = [...GESTURE_TYPES];
  const gFile = join(dir, 'gestures.yaml');
  if (existsSync(gFile)) {
    const g = readYaml(gFile);
    const listed = asList(Array.isArray(g) ? g : g?.gestures).map((x) => (typeof x === 'string' ? x : x?.type)).filter(Boolean);
    const missing = GESTURE_TYPES.filter((t) => !listed.includes(t));
    if (missing.length) throw new PolicyError(`${gFile}: the extension emits gesture types not in the policy: ${missing.join(', ')}`);
    gestures = listed;
  }
  return { version: tax?.version ? String(tax.version) : null, categories, sensitive: [...sensitive], gestures };
}
