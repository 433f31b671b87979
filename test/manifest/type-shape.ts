/**
 * Structural fingerprints of TypeScript types, read with the compiler's type checker: the schema-drift
 * test compares the hand-written manifest types with types generated from schemas/*.json.
 */
import * as ts from 'typescript';

/** Canonical text of a type: keys (sorted, `?` for optional), index signatures, arrays, sorted unions. */
export function canonical(checker: ts.TypeChecker, type: ts.Type, depth = 0): string {
  if (depth > 12) return '…';
  if (type.isUnion()) {
    const parts = type.types
      .filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)))
      .map((t) => canonical(checker, t, depth + 1));
    return [...new Set(parts)].sort().join(' | ');
  }
  if (checker.isArrayType(type)) {
    const [elem] = checker.getTypeArguments(type as ts.TypeReference);
    return `(${canonical(checker, elem, depth + 1)})[]`;
  }
  if (type.flags & ts.TypeFlags.Object) {
    const parts = checker.getPropertiesOfType(type).map((p) => {
      const opt = p.flags & ts.SymbolFlags.Optional ? '?' : '';
      return `${p.name}${opt}: ${canonical(checker, checker.getNonNullableType(checker.getTypeOfSymbol(p)), depth + 1)}`;
    });
    const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
    if (index) parts.push(`[k]: ${canonical(checker, index.type, depth + 1)}`);
    return `{ ${parts.sort().join('; ')} }`;
  }
  return checker.typeToString(type);
}

/** Key tree: object keys and their sub-trees; arrays and unions look through to their object members. */
export interface KeyTree {
  [key: string]: KeyTree;
}

/** Types treated as a single value (a SecretRef is a string in the file, `{ ref }` after loading). */
export function keyTree(checker: ts.TypeChecker, type: ts.Type, leafNames: Set<string>, depth = 0): KeyTree {
  const out: KeyTree = {};
  if (depth > 12) return out;
  const sym = type.aliasSymbol ?? type.getSymbol();
  if (sym && leafNames.has(sym.name)) return out;
  const members = type.isUnion() ? type.types : [type];
  for (const m of members) {
    if (checker.isArrayType(m)) {
      Object.assign(out, keyTree(checker, checker.getTypeArguments(m as ts.TypeReference)[0], leafNames, depth + 1));
      continue;
    }
    if (!(m.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection))) continue;
    const index = checker.getIndexInfoOfType(m, ts.IndexKind.String);
    if (index) {
      // A map of named entries (nets): compare the entry shape under `*`; a map of plain values is a leaf.
      const values = keyTree(checker, index.type, leafNames, depth + 1);
      if (Object.keys(values).length > 0) out['*'] = values;
    }
    for (const p of checker.getPropertiesOfType(m)) {
      out[p.name] = keyTree(checker, checker.getNonNullableType(checker.getTypeOfSymbol(p)), leafNames, depth + 1);
    }
  }
  return out;
}

/** Paths present in one tree but not the other, as `a.b.c`. */
export function treeDiff(a: KeyTree, b: KeyTree, prefix = ''): { onlyA: string[]; onlyB: string[] } {
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (!(k in b)) onlyA.push(p);
    else if (!(k in a)) onlyB.push(p);
    else {
      const sub = treeDiff(a[k], b[k], p);
      onlyA.push(...sub.onlyA);
      onlyB.push(...sub.onlyB);
    }
  }
  return { onlyA: onlyA.sort(), onlyB: onlyB.sort() };
}

/**
 * The value type at every leaf path (`cpu` → `number`, `network.ip` → `string`). Named leaves (SecretRef)
 * read as `string`, as the file holds them. Maps of plain values (`labels`) are leaves of their own.
 */
export function leafTypes(
  checker: ts.TypeChecker,
  type: ts.Type,
  leafNames: Set<string>,
  prefix = '',
  out = new Map<string, string>(),
  depth = 0,
): Map<string, string> {
  if (depth > 12) return out;
  const sym = type.aliasSymbol ?? type.getSymbol();
  if (sym && leafNames.has(sym.name)) return out.set(prefix, 'string');
  const members = (type.isUnion() ? type.types : [type]).filter(
    (t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)),
  );
  const objects = members.filter(
    (m) => checker.isArrayType(m) || m.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection),
  );
  if (objects.length === 0) return out.set(prefix, canonical(checker, type));
  for (const m of objects) {
    if (checker.isArrayType(m)) {
      leafTypes(checker, checker.getTypeArguments(m as ts.TypeReference)[0], leafNames, `${prefix}[]`, out, depth + 1);
      continue;
    }
    const props = checker.getPropertiesOfType(m);
    const index = checker.getIndexInfoOfType(m, ts.IndexKind.String);
    if (props.length === 0 && index) {
      const values = leafTypes(checker, index.type, leafNames, `${prefix}.*`, new Map(), depth + 1);
      if (values.size === 1 && values.has(`${prefix}.*`)) out.set(prefix, `{ [k]: ${values.get(`${prefix}.*`)} }`);
      else values.forEach((v, k) => out.set(k, v));
      continue;
    }
    for (const p of props) {
      leafTypes(
        checker,
        checker.getNonNullableType(checker.getTypeOfSymbol(p)),
        leafNames,
        prefix ? `${prefix}.${p.name}` : p.name,
        out,
        depth + 1,
      );
    }
  }
  return out;
}

/** Leaf paths whose types differ (`path: a ≠ b`), or that exist on one side only (`path: a ≠ (none)`). */
export function leafTypeDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys]
    .filter((k) => a.get(k) !== b.get(k))
    .map((k) => `${k}: ${a.get(k) ?? '(none)'} ≠ ${b.get(k) ?? '(none)'}`)
    .sort();
}
